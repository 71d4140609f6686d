"""X-Wing (``x25519+ml-kem-768``): the draft-connolly-cfrg-xwing-kem-10 known answers,
and the hybrid KEM's behaviour on altered or foreign ciphertexts.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from skms import errors
from skms.crypto import generate_key, load_private_key, load_public_key
from skms.crypto.keys import KemPrivateKey, KemPublicKey

Vectors = Callable[[str], Any]

ALGORITHM = "x25519+ml-kem-768"
LABEL = b"\\.//^\\"  # the draft's X-Wing label, 5c2e2f2f5e5c
PK_M, CT_M = 1184, 1088


def _vectors(vectors: Vectors) -> list[dict[str, bytes]]:
    data = vectors("xwing_draft10_vectors.json")
    return [{k: bytes.fromhex(v) for k, v in case.items()} for case in data["vectors"]]


def test_draft10_known_answers(vectors: Vectors) -> None:
    cases = _vectors(vectors)
    for case in cases:
        assert case["seed"] == case["sk"]
        key = load_private_key(ALGORITHM, case["seed"])
        assert isinstance(key, KemPrivateKey)
        assert key.public_key().export() == case["pk"]
        assert key.export() == case["seed"]
        assert key.decapsulate(case["ct"]).expose_secret() == case["ss"]
        assert load_public_key(ALGORITHM, case["pk"]).export() == case["pk"]
    assert len(cases) == 3


def test_draft10_vector_parts(vectors: Vectors) -> None:
    """The vectors are draft-10's construction (SHAKE-256 expansion, label last),
    recomputed from their parts with cryptography's ML-KEM-768 and X25519."""
    cases = _vectors(vectors)
    for case in cases:
        expanded = hashlib.shake_256(case["seed"]).digest(96)
        ml_kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
        x_key = x25519.X25519PrivateKey.from_private_bytes(expanded[64:])
        pk_x = x_key.public_key().public_bytes_raw()
        assert ml_kem.public_key().public_bytes_raw() + pk_x == case["pk"]
        ephemeral = x25519.X25519PrivateKey.from_private_bytes(case["eseed"][32:])
        ct_x = ephemeral.public_key().public_bytes_raw()
        assert case["ct"][CT_M:] == ct_x
        ss_m = ml_kem.decapsulate(case["ct"][:CT_M])
        ss_x = ephemeral.exchange(x25519.X25519PublicKey.from_public_bytes(pk_x))
        assert hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + LABEL).digest() == case["ss"]
        # The older SHAKE-128 expansion (spec/test-vectors.json) gives other keys.
        old = hashlib.shake_128(case["seed"]).digest(96)
        assert mlkem.MLKEM768PrivateKey.from_seed_bytes(old[:64]).public_key().public_bytes_raw() != case["pk"][:PK_M]
    assert len(cases) == 3


def test_round_trip_and_sizes() -> None:
    key = generate_key(ALGORITHM)
    assert isinstance(key, KemPrivateKey)
    public = key.public_key()
    shared, ciphertext = public.encapsulate()
    assert (len(shared), len(ciphertext), len(public.export())) == (32, 1120, 1216)  # type: ignore[arg-type]
    assert key.decapsulate(ciphertext) == shared
    # Encapsulation is randomized.
    again, other = public.encapsulate()
    assert other != ciphertext and again != shared


@pytest.mark.parametrize(
    "position", [0, CT_M - 1, CT_M, CT_M + 31], ids=["ml-kem first", "ml-kem last", "x25519 first", "x25519 last"]
)
def test_altered_ciphertext_gives_another_secret(position: int) -> None:
    """ML-KEM rejects implicitly (a pseudorandom secret, no error); an altered X25519
    half changes ss_X and ct_X in the combiner. Either way the secret differs."""
    key = generate_key(ALGORITHM)
    assert isinstance(key, KemPrivateKey)
    shared, ciphertext = key.public_key().encapsulate()
    altered = bytearray(ciphertext)
    altered[position] ^= 0x01
    with contextlib.suppress(errors.IntegrityError):  # an X25519 half that became a low-order point
        assert key.decapsulate(bytes(altered)) != shared


def test_ciphertext_for_another_key() -> None:
    mine, theirs = generate_key(ALGORITHM), generate_key(ALGORITHM)
    assert isinstance(mine, KemPrivateKey) and isinstance(theirs, KemPrivateKey)
    shared, ciphertext = theirs.public_key().encapsulate()
    assert mine.decapsulate(ciphertext) != shared


def test_low_order_x25519_half_is_refused() -> None:
    key = generate_key(ALGORITHM)
    assert isinstance(key, KemPrivateKey)
    _, ciphertext = key.public_key().encapsulate()
    with pytest.raises(errors.IntegrityError):
        key.decapsulate(ciphertext[:CT_M] + bytes(32))
    public_raw = key.public_key().export()
    assert isinstance(public_raw, bytes)
    public = load_public_key(ALGORITHM, public_raw[:PK_M] + bytes(32))
    assert isinstance(public, KemPublicKey)
    with pytest.raises(errors.InvalidKey):
        public.encapsulate()


@pytest.mark.parametrize("size", [0, 32, 1119, 1121, CT_M])
def test_wrong_ciphertext_length(size: int) -> None:
    key = generate_key(ALGORITHM)
    assert isinstance(key, KemPrivateKey)
    with pytest.raises(errors.IntegrityError):
        key.decapsulate(bytes(size))


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_wrong_seed_length(size: int) -> None:
    with pytest.raises(errors.InvalidKey):
        load_private_key(ALGORITHM, bytes(size))


@pytest.mark.parametrize("size", [0, PK_M, 1215, 1217])
def test_wrong_public_key_length(size: int) -> None:
    with pytest.raises(errors.InvalidKey):
        load_public_key(ALGORITHM, bytes(size))
