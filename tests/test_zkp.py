"""Zero-knowledge proofs (Schnorr proof of knowledge, Chaum–Pedersen DLEQ) on
secp256k1 and Ed25519.

Valid proofs verify; proofs for another key, context, base or ``y``, and
proofs with any byte changed, do not. The transcripts and the verification
equations are recomputed here with independent code: hashlib for the
challenges, coincurve (libsecp256k1) and PyNaCl (libsodium) for the curve
arithmetic, so the documented construction is checked, not only
self-consistency.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import re
from collections.abc import Callable

import coincurve
import nacl.bindings as sodium
import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skms import SecretBytes, errors
from skms.crypto import ed25519, secp256k1, zkp

CURVES = ["secp256k1", "ed25519"]
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
L = 2**252 + 27742317777372353535851937790883648493
P25519 = 2**255 - 19
SCHNORR_TAG = b"SKMS-ZKP-SCHNORR-v1"
DLEQ_TAG = b"SKMS-ZKP-DLEQ-v1"
CONTEXT = b"verifier=example.com; nonce=4f1c0a; purpose=proof-of-possession"
ORACLE_CASES = 40

KEYS = {"secp256k1": bytes([7]) * 32, "ed25519": bytes([9]) * 32}
PUBLIC = {
    "secp256k1": secp256k1.public_key(KEYS["secp256k1"]),
    "ed25519": ed25519.public_key(KEYS["ed25519"]),
}
POINT_LEN = {"secp256k1": 33, "ed25519": 32}

# Ed25519 points of small order (RFC 8032 decoding), and one of order 8.
ED_IDENTITY = (1).to_bytes(32, "little")
ED_ORDER_8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
ED_SMALL_ORDER = [
    ED_IDENTITY,
    (P25519 - 1).to_bytes(32, "little"),  # order 2
    bytes(32),  # order 4
    ED_ORDER_8,
]
ED_NON_CANONICAL = (P25519 + 1).to_bytes(32, "little")  # y = p + 1, i.e. 1 unreduced


# --- Independent code: transcripts, scalars, points -------------------------------


def _transcript(hash_name: str, *items: bytes) -> bytes:
    h = hashlib.new(hash_name)
    for item in items:
        h.update(len(item).to_bytes(8, "big"))
        h.update(item)
    return h.digest()


def _challenge(curve: str, *items: bytes) -> int:
    if curve == "secp256k1":
        return int.from_bytes(_transcript("sha256", *items), "big") % N
    return int.from_bytes(_transcript("sha512", *items), "little") % L


def _scalar_bytes(curve: str, value: int) -> bytes:
    return value.to_bytes(32, "big" if curve == "secp256k1" else "little")


def _scalar(curve: str, data: bytes) -> int:
    return int.from_bytes(data, "big" if curve == "secp256k1" else "little")


def _order(curve: str) -> int:
    return N if curve == "secp256k1" else L


def _secret_scalar(curve: str, private_key: bytes) -> int:
    if curve == "secp256k1":
        return int.from_bytes(private_key, "big")
    lower = bytearray(hashlib.sha512(private_key).digest()[:32])
    lower[0] &= 248
    lower[31] &= 127
    lower[31] |= 64
    return int.from_bytes(lower, "little") % L


def _generator(curve: str) -> bytes:
    if curve == "secp256k1":
        return coincurve.PrivateKey.from_int(1).public_key.format()
    return sodium.crypto_scalarmult_ed25519_base_noclamp(_scalar_bytes(curve, 1))


def _mul(curve: str, k: int, point: bytes) -> bytes:
    """k·point, with libsecp256k1 or libsodium."""
    if curve == "secp256k1":
        return coincurve.PublicKey(point).multiply(_scalar_bytes(curve, k)).format()
    return sodium.crypto_scalarmult_ed25519_noclamp(_scalar_bytes(curve, k), point)


def _mul_base(curve: str, k: int) -> bytes:
    if curve == "secp256k1":
        return coincurve.PublicKey.from_secret(_scalar_bytes(curve, k)).format()
    return sodium.crypto_scalarmult_ed25519_base_noclamp(_scalar_bytes(curve, k))


def _add(curve: str, a: bytes, b: bytes) -> bytes:
    if curve == "secp256k1":
        return coincurve.PublicKey.combine_keys([coincurve.PublicKey(a), coincurve.PublicKey(b)]).format()
    return sodium.crypto_core_ed25519_add(a, b)


def _oracle_public_key(curve: str, private_key: bytes) -> bytes:
    if curve == "secp256k1":
        return coincurve.PrivateKey(private_key).public_key.format()
    return bytes(nacl.signing.SigningKey(private_key).verify_key)


def _oracle_base(curve: str, label: bytes) -> bytes:
    """The documented try-and-increment, with libsecp256k1 / libsodium."""
    for counter in range(1000):
        suffix = counter.to_bytes(4, "big")
        if curve == "secp256k1":
            x = hashlib.sha256(label + suffix).digest()
            try:
                return coincurve.PublicKey(b"\x02" + x).format()
            except ValueError:
                continue
        candidate = hashlib.sha512(label + suffix).digest()[:32]
        y = int.from_bytes(candidate, "little") & (2**255 - 1)
        sign = candidate[31] >> 7
        if y >= P25519 or (sign and y in (1, P25519 - 1)):
            continue  # not canonical (y unreduced, or "negative" x = 0)
        try:
            doubled = sodium.crypto_core_ed25519_add(candidate, candidate)
        except Exception:
            continue  # not on the curve
        p4 = sodium.crypto_core_ed25519_add(doubled, doubled)
        p8 = sodium.crypto_core_ed25519_add(p4, p4)
        if p8 != ED_IDENTITY:
            return p8
    raise AssertionError("no base found")


def _random_key(curve: str, rng: random.Random) -> bytes:
    if curve == "secp256k1":
        return rng.randrange(1, N).to_bytes(32, "big")
    return rng.randbytes(32)


def _not_accepted(verify: Callable[..., bool], *args: object) -> bool:
    """True when ``verify(*args)`` returns False or raises InvalidSignature."""
    try:
        return verify(*args) is False
    except errors.InvalidSignature:
        return True


# --- Schnorr proof of knowledge ---------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
def test_knowledge_round_trip(curve: str) -> None:
    generate = secp256k1 if curve == "secp256k1" else ed25519
    key = generate.generate_private_key()
    public = generate.public_key(key)
    proof = zkp.prove_knowledge(curve, key, CONTEXT)
    assert len(proof) == POINT_LEN[curve] + 32
    assert zkp.verify_knowledge(curve, public, proof, CONTEXT) is True
    as_bytes = zkp.prove_knowledge(curve, key.expose_secret(), CONTEXT)
    assert zkp.verify_knowledge(curve, public, as_bytes, CONTEXT)


def test_uncompressed_secp256k1_public_key() -> None:
    proof = zkp.prove_knowledge("secp256k1", KEYS["secp256k1"], CONTEXT)
    full = secp256k1.public_key(KEYS["secp256k1"], compressed=False)
    assert zkp.verify_knowledge("secp256k1", full, proof, CONTEXT)


@pytest.mark.parametrize("curve", CURVES)
def test_knowledge_matches_independent_code(curve: str, rng: random.Random) -> None:
    """s·G + c·A = V, with c from hashlib and the points from libsecp256k1 /
    libsodium; and V = (s + c·x)·G, so s = r − c·x for the nonce r of V."""
    g = _generator(curve)
    for _ in range(ORACLE_CASES):
        key = _random_key(curve, rng)
        public = _oracle_public_key(curve, key)
        context = rng.randbytes(rng.randrange(0, 80))
        proof = zkp.prove_knowledge(curve, key, context)
        assert zkp.verify_knowledge(curve, public, proof, context)
        v, s_bytes = proof[: POINT_LEN[curve]], proof[POINT_LEN[curve] :]
        s = _scalar(curve, s_bytes)
        assert 0 < s < _order(curve)
        c = _challenge(curve, SCHNORR_TAG, curve.encode(), g, public, v, context)
        assert _add(curve, _mul_base(curve, s), _mul(curve, c, public)) == v
        x = _secret_scalar(curve, key)
        assert _mul_base(curve, x) == public
        assert _mul_base(curve, (s + c * x) % _order(curve)) == v


@pytest.mark.parametrize("curve", CURVES)
def test_proofs_are_randomized(curve: str) -> None:
    first = zkp.prove_knowledge(curve, KEYS[curve], CONTEXT)
    second = zkp.prove_knowledge(curve, KEYS[curve], CONTEXT)
    assert first != second
    assert zkp.verify_knowledge(curve, PUBLIC[curve], first, CONTEXT)
    assert zkp.verify_knowledge(curve, PUBLIC[curve], second, CONTEXT)


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize(
    "other_context",
    [b"", CONTEXT + b"\x00", CONTEXT[:-1], b"\x00" + CONTEXT, CONTEXT.upper(), b"x" * 10_000],
    ids=["empty", "suffix", "prefix", "leading", "case", "long"],
)
def test_knowledge_is_bound_to_its_context(curve: str, other_context: bytes) -> None:
    proof = zkp.prove_knowledge(curve, KEYS[curve], CONTEXT)
    assert zkp.verify_knowledge(curve, PUBLIC[curve], proof, other_context) is False


@pytest.mark.parametrize("curve", CURVES)
def test_proof_is_not_reusable_for_a_new_challenge(curve: str) -> None:
    """A verifier that sends a fresh nonce each time never accepts a replay."""
    old = zkp.prove_knowledge(curve, KEYS[curve], b"challenge-1|verifier-A")
    assert zkp.verify_knowledge(curve, PUBLIC[curve], old, b"challenge-1|verifier-A")
    assert not zkp.verify_knowledge(curve, PUBLIC[curve], old, b"challenge-2|verifier-A")
    assert not zkp.verify_knowledge(curve, PUBLIC[curve], old, b"challenge-1|verifier-B")


@pytest.mark.parametrize("curve", CURVES)
def test_proof_for_another_key_fails(curve: str, rng: random.Random) -> None:
    proof = zkp.prove_knowledge(curve, KEYS[curve], CONTEXT)
    other = _oracle_public_key(curve, _random_key(curve, rng))
    assert zkp.verify_knowledge(curve, other, proof, CONTEXT) is False


@pytest.mark.parametrize("curve", CURVES)
def test_knowledge_every_changed_byte_fails(curve: str, rng: random.Random) -> None:
    proof = zkp.prove_knowledge(curve, KEYS[curve], CONTEXT)
    for position in range(len(proof)):
        for mask in (0x01, 0x80, rng.randrange(1, 256)):
            changed = bytearray(proof)
            changed[position] ^= mask
            assert _not_accepted(zkp.verify_knowledge, curve, PUBLIC[curve], bytes(changed), CONTEXT), (position, mask)


# --- Independent bases --------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("label", [b"", b"skms", b"SKMS-DLEQ-base/v1", bytes(range(256)), b"\x00" * 3])
def test_independent_base_matches_independent_code(curve: str, label: bytes) -> None:
    base = zkp.independent_base(curve, label)
    assert base == _oracle_base(curve, label)
    assert len(base) == POINT_LEN[curve]
    assert base == zkp.independent_base(curve, label)
    assert base != _generator(curve)
    if curve == "secp256k1":
        assert base[0] == 0x02
    else:
        # canonical, on the curve, not of small order, in the prime-order subgroup
        assert sodium.crypto_core_ed25519_is_valid_point(base)


@pytest.mark.parametrize("curve", CURVES)
def test_independent_bases_differ_by_label(curve: str) -> None:
    bases = {zkp.independent_base(curve, f"label {i}".encode()) for i in range(50)}
    assert len(bases) == 50


# --- DLEQ -----------------------------------------------------------------------


BASES = {curve: zkp.independent_base(curve, b"skms test base") for curve in CURVES}
OTHER_BASES = {curve: zkp.independent_base(curve, b"another base") for curve in CURVES}


@pytest.mark.parametrize("curve", CURVES)
def test_dleq_round_trip(curve: str) -> None:
    y, proof = zkp.prove_dleq(curve, KEYS[curve], BASES[curve], CONTEXT)
    assert len(y) == POINT_LEN[curve]
    assert len(proof) == 64
    assert zkp.verify_dleq(curve, PUBLIC[curve], BASES[curve], y, proof, CONTEXT) is True
    y2, proof2 = zkp.prove_dleq(curve, SecretBytes(KEYS[curve]), BASES[curve], CONTEXT)
    assert y2 == y, "y = x·H is deterministic"
    assert proof2 != proof, "the proof is randomized"


@pytest.mark.parametrize("curve", CURVES)
def test_dleq_matches_independent_code(curve: str, rng: random.Random) -> None:
    """y = x·H, and c = H(tag, curve, G, H, X, y, s·G + c·X, s·H + c·y, context)."""
    g = _generator(curve)
    for i in range(ORACLE_CASES):
        key = _random_key(curve, rng)
        public = _oracle_public_key(curve, key)
        base = zkp.independent_base(curve, f"base {i}".encode())
        context = rng.randbytes(rng.randrange(0, 80))
        y, proof = zkp.prove_dleq(curve, key, base, context)
        assert zkp.verify_dleq(curve, public, base, y, proof, context)
        x = _secret_scalar(curve, key)
        assert y == _mul(curve, x, base)
        c, s = _scalar(curve, proof[:32]), _scalar(curve, proof[32:])
        assert 0 < c < _order(curve)
        assert 0 < s < _order(curve)
        a = _add(curve, _mul_base(curve, s), _mul(curve, c, public))
        b = _add(curve, _mul(curve, s, base), _mul(curve, c, y))
        assert c == _challenge(curve, DLEQ_TAG, curve.encode(), g, base, public, y, a, b, context)


@pytest.mark.parametrize("curve", CURVES)
def test_dleq_binding(curve: str, rng: random.Random) -> None:
    key, public, base = KEYS[curve], PUBLIC[curve], BASES[curve]
    y, proof = zkp.prove_dleq(curve, key, base, CONTEXT)
    other_key = _random_key(curve, rng)
    other_public = _oracle_public_key(curve, other_key)
    other_y, _ = zkp.prove_dleq(curve, other_key, base, CONTEXT)
    y_other_base, _ = zkp.prove_dleq(curve, key, OTHER_BASES[curve], CONTEXT)
    verify = zkp.verify_dleq
    assert verify(curve, public, base, y, proof, CONTEXT + b"!") is False
    assert verify(curve, public, base, y, proof, b"") is False
    assert verify(curve, public, OTHER_BASES[curve], y, proof, CONTEXT) is False
    assert verify(curve, public, OTHER_BASES[curve], y_other_base, proof, CONTEXT) is False
    assert verify(curve, other_public, base, y, proof, CONTEXT) is False
    assert verify(curve, public, base, other_y, proof, CONTEXT) is False
    # Swapped roles: (H, y) in place of (G, X) is another statement.
    assert verify(curve, y, base, public, proof, CONTEXT) is False


@pytest.mark.parametrize("curve", CURVES)
def test_dleq_every_changed_byte_fails(curve: str, rng: random.Random) -> None:
    y, proof = zkp.prove_dleq(curve, KEYS[curve], BASES[curve], CONTEXT)
    for position in range(len(proof)):
        for mask in (0x01, 0x80, rng.randrange(1, 256)):
            changed = bytearray(proof)
            changed[position] ^= mask
            assert _not_accepted(zkp.verify_dleq, curve, PUBLIC[curve], BASES[curve], y, bytes(changed), CONTEXT), (
                position,
                mask,
            )


@pytest.mark.parametrize("curve", CURVES)
def test_dleq_with_the_generator_as_base(curve: str) -> None:
    g = _generator(curve)
    y, proof = zkp.prove_dleq(curve, KEYS[curve], g, CONTEXT)
    assert y == PUBLIC[curve]
    assert zkp.verify_dleq(curve, PUBLIC[curve], g, y, proof, CONTEXT)


# --- Malformed input ----------------------------------------------------------------


def _mixed_order_key() -> bytes:
    """An Ed25519 public key plus a point of order 8: on the curve, not in the subgroup."""
    return bytes(sodium.crypto_core_ed25519_add(PUBLIC["ed25519"], ED_ORDER_8))


BAD_PUBLIC_KEYS = [
    ("secp256k1", b"", "must be 33 (compressed) or 65 (uncompressed) bytes, got 0"),
    ("secp256k1", PUBLIC["secp256k1"][:32], "got 32"),
    ("secp256k1", b"\x05" + PUBLIC["secp256k1"][1:], "not a point on the curve"),
    ("secp256k1", b"\x02" + (2**256 - 2**32 - 977).to_bytes(32, "big"), "not a point"),
    ("ed25519", b"", "must be 32 bytes, got 0"),
    ("ed25519", PUBLIC["ed25519"] + b"\x00", "must be 32 bytes, got 33"),
    ("ed25519", ED_NON_CANONICAL, "not canonically encoded"),
    *[("ed25519", point, "small-order point") for point in ED_SMALL_ORDER],
    ("ed25519", _mixed_order_key(), "small-order component"),
]


def _bad_point_ids() -> list[str]:
    return [f"{curve}-{i}" for i, (curve, _, _) in enumerate(BAD_PUBLIC_KEYS)]


@pytest.mark.parametrize(("curve", "public_key", "keyword"), BAD_PUBLIC_KEYS, ids=_bad_point_ids())
def test_bad_public_key(curve: str, public_key: bytes, keyword: str) -> None:
    proof = zkp.prove_knowledge(curve, KEYS[curve], CONTEXT)
    with pytest.raises(errors.InvalidKey, match="public key") as info:
        zkp.verify_knowledge(curve, public_key, proof, CONTEXT)
    assert keyword in str(info.value)
    y, dleq = zkp.prove_dleq(curve, KEYS[curve], BASES[curve], CONTEXT)
    with pytest.raises(errors.InvalidKey, match=re.escape(keyword)):
        zkp.verify_dleq(curve, public_key, BASES[curve], y, dleq, CONTEXT)


@pytest.mark.parametrize(("curve", "point", "keyword"), BAD_PUBLIC_KEYS, ids=_bad_point_ids())
def test_bad_base_or_y(curve: str, point: bytes, keyword: str) -> None:
    y, proof = zkp.prove_dleq(curve, KEYS[curve], BASES[curve], CONTEXT)
    with pytest.raises(errors.InvalidInput) as info:
        zkp.prove_dleq(curve, KEYS[curve], point, CONTEXT)
    assert "base" in str(info.value)
    assert keyword in str(info.value)
    assert not isinstance(info.value, errors.InvalidKey)
    with pytest.raises(errors.InvalidInput) as info:
        zkp.verify_dleq(curve, PUBLIC[curve], point, y, proof, CONTEXT)
    assert "base" in str(info.value)
    with pytest.raises(errors.InvalidInput) as info:
        zkp.verify_dleq(curve, PUBLIC[curve], BASES[curve], point, proof, CONTEXT)
    assert f"{curve.replace('ed', 'Ed')} y " in str(info.value)
    assert keyword in str(info.value)


def _with_scalar(proof: bytes, start: int, value: bytes) -> bytes:
    return proof[:start] + value + proof[start + 32 :]


@pytest.mark.parametrize("curve", CURVES)
def test_bad_knowledge_proofs(curve: str) -> None:
    proof = zkp.prove_knowledge(curve, KEYS[curve], CONTEXT)
    size = POINT_LEN[curve] + 32
    start = POINT_LEN[curve]
    order = _scalar_bytes(curve, _order(curve))
    cases = [
        (proof[:-1], f"Schnorr proof must be {size} bytes (V || s), got {size - 1}"),
        (proof + b"\x00", f"got {size + 1}"),
        (b"", "got 0"),
        (_with_scalar(proof, start, bytes(32)), "proof response s"),
        (_with_scalar(proof, start, order), "proof response s"),
        (_with_scalar(proof, start, b"\xff" * 32), "proof response s"),
    ]
    if curve == "secp256k1":
        cases.append((b"\x04" + proof[1:], "proof commitment V is not a point"))
        cases.append((b"\x02" + b"\xff" * 32 + proof[33:], "proof commitment V is not a point"))
    else:
        cases.append((ED_IDENTITY + proof[32:], "proof commitment V is a small-order point"))
        cases.append((ED_NON_CANONICAL + proof[32:], "proof commitment V is not canonically"))
    for bad, keyword in cases:
        with pytest.raises(errors.InvalidSignature) as info:
            zkp.verify_knowledge(curve, PUBLIC[curve], bad, CONTEXT)
        assert keyword in str(info.value), (bad.hex(), str(info.value))


@pytest.mark.parametrize("curve", CURVES)
def test_bad_dleq_proofs(curve: str) -> None:
    y, proof = zkp.prove_dleq(curve, KEYS[curve], BASES[curve], CONTEXT)
    order = _scalar_bytes(curve, _order(curve))
    cases = [
        (proof[:-1], "DLEQ proof must be 64 bytes (c || s), got 63"),
        (proof + b"\x00", "got 65"),
        (_with_scalar(proof, 0, bytes(32)), "proof challenge c"),
        (_with_scalar(proof, 0, order), "proof challenge c"),
        (_with_scalar(proof, 32, bytes(32)), "proof response s"),
        (_with_scalar(proof, 32, order), "proof response s"),
    ]
    for bad, keyword in cases:
        with pytest.raises(errors.InvalidSignature, match=re.escape(keyword)):
            zkp.verify_dleq(curve, PUBLIC[curve], BASES[curve], y, bad, CONTEXT)


@pytest.mark.parametrize(
    ("curve", "private_key", "keyword"),
    [
        ("secp256k1", bytes(32), "[1, n-1]"),
        ("secp256k1", N.to_bytes(32, "big"), "[1, n-1]"),
        ("secp256k1", bytes(31), "32 bytes, got 31"),
        ("ed25519", bytes(31), "Ed25519 private key must be 32 bytes, got 31"),
        ("ed25519", bytes(64), "got 64"),
    ],
)
def test_bad_private_key(curve: str, private_key: bytes, keyword: str) -> None:
    with pytest.raises(errors.InvalidKey) as info:
        zkp.prove_knowledge(curve, private_key, CONTEXT)
    assert keyword in str(info.value)
    with pytest.raises(errors.InvalidKey):
        zkp.prove_dleq(curve, SecretBytes(private_key), BASES[curve], CONTEXT)


@pytest.mark.parametrize("name", ["p256", "Secp256k1", "ED25519", "", "x25519"])
def test_unknown_curve(name: str) -> None:
    message = 'curve must be "secp256k1" or "ed25519"'
    calls: list[Callable[[], object]] = [
        lambda: zkp.prove_knowledge(name, KEYS["ed25519"], CONTEXT),
        lambda: zkp.verify_knowledge(name, PUBLIC["ed25519"], bytes(64), CONTEXT),
        lambda: zkp.independent_base(name, b"x"),
        lambda: zkp.prove_dleq(name, KEYS["ed25519"], BASES["ed25519"], CONTEXT),
        lambda: zkp.verify_dleq(name, PUBLIC["ed25519"], BASES["ed25519"], b"", b"", CONTEXT),
    ]
    for call in calls:
        with pytest.raises(errors.InvalidInput, match=message):
            call()


def test_proof_of_one_curve_is_refused_by_the_other() -> None:
    proof = zkp.prove_knowledge("ed25519", KEYS["ed25519"], CONTEXT)
    with pytest.raises(errors.InvalidSignature, match="must be 65 bytes"):
        zkp.verify_knowledge("secp256k1", PUBLIC["secp256k1"], proof, CONTEXT)
    with pytest.raises(errors.InvalidKey):
        zkp.verify_knowledge("secp256k1", PUBLIC["ed25519"], proof, CONTEXT)


@pytest.mark.parametrize(
    ("fn", "args", "position", "name", "kind"),
    [
        (zkp.prove_knowledge, ("ed25519", KEYS["ed25519"], CONTEXT), 0, "curve", "str"),
        (zkp.prove_knowledge, ("ed25519", KEYS["ed25519"], CONTEXT), 1, "private_key", None),
        (zkp.prove_knowledge, ("ed25519", KEYS["ed25519"], CONTEXT), 2, "context", "bytes"),
        (zkp.verify_knowledge, ("ed25519", PUBLIC["ed25519"], bytes(64), b""), 1, "public_key", "bytes"),
        (zkp.verify_knowledge, ("ed25519", PUBLIC["ed25519"], bytes(64), b""), 2, "proof", "bytes"),
        (zkp.verify_knowledge, ("ed25519", PUBLIC["ed25519"], bytes(64), b""), 3, "context", "bytes"),
        (zkp.independent_base, ("ed25519", b"label"), 0, "curve", "str"),
        (zkp.independent_base, ("ed25519", b"label"), 1, "label", "bytes"),
        (zkp.prove_dleq, ("ed25519", KEYS["ed25519"], BASES["ed25519"], b""), 2, "base", "bytes"),
        (zkp.verify_dleq, ("ed25519", PUBLIC["ed25519"], BASES["ed25519"], b"", b"", b""), 3, "y", "bytes"),
        (zkp.verify_dleq, ("ed25519", PUBLIC["ed25519"], BASES["ed25519"], b"", b"", b""), 4, "proof", "bytes"),
    ],
)
@pytest.mark.parametrize(("bad", "got"), [(bytearray(b"x"), "bytearray"), (None, "NoneType"), (3, "int")])
def test_wrong_argument_type(
    fn: Callable[..., object],
    args: tuple[object, ...],
    position: int,
    name: str,
    kind: str | None,
    bad: object,
    got: str,
) -> None:
    call_args = list(args)
    call_args[position] = bad
    with pytest.raises(errors.InvalidType) as info:
        fn(*call_args)
    kind = kind or "SecretBytes or bytes"
    assert str(info.value) == f"{name} must be {kind}, got {got}"


def test_curve_as_bytes_is_a_type_error() -> None:
    with pytest.raises(errors.InvalidType, match="curve must be str, got bytes"):
        zkp.independent_base(b"ed25519", b"x")  # type: ignore[arg-type]


# --- Random input never crashes ----------------------------------------------------


@settings(max_examples=300)
@given(curve=st.sampled_from(CURVES), proof=st.binary(max_size=100), context=st.binary(max_size=40))
def test_random_knowledge_proofs_never_crash(curve: str, proof: bytes, context: bytes) -> None:
    assert _not_accepted(zkp.verify_knowledge, curve, PUBLIC[curve], proof, context)


@settings(max_examples=300)
@given(curve=st.sampled_from(CURVES), data=st.data())
def test_random_well_sized_knowledge_proofs_fail(curve: str, data: st.DataObject) -> None:
    size = POINT_LEN[curve] + 32
    proof = data.draw(st.binary(min_size=size, max_size=size))
    assert _not_accepted(zkp.verify_knowledge, curve, PUBLIC[curve], proof, CONTEXT)


@settings(max_examples=300)
@given(curve=st.sampled_from(CURVES), proof=st.binary(min_size=60, max_size=68))
def test_random_dleq_proofs_never_crash(curve: str, proof: bytes) -> None:
    y = zkp.prove_dleq(curve, KEYS[curve], BASES[curve], CONTEXT)[0]
    assert _not_accepted(zkp.verify_dleq, curve, PUBLIC[curve], BASES[curve], y, proof, CONTEXT)


@settings(max_examples=300)
@given(curve=st.sampled_from(CURVES), point=st.binary(max_size=70))
def test_random_points_never_crash(curve: str, point: bytes) -> None:
    proof = bytes(POINT_LEN[curve] + 32)
    with contextlib.suppress(errors.InvalidKey, errors.InvalidSignature):
        zkp.verify_knowledge(curve, point, proof, b"")
    with contextlib.suppress(errors.InvalidInput):
        zkp.prove_dleq(curve, KEYS[curve], point, b"")


@settings(max_examples=100)
@given(curve=st.sampled_from(CURVES), label=st.binary(max_size=64))
def test_random_labels_give_valid_bases(curve: str, label: bytes) -> None:
    base = zkp.independent_base(curve, label)
    y, proof = zkp.prove_dleq(curve, KEYS[curve], base, label)
    assert zkp.verify_dleq(curve, PUBLIC[curve], base, y, proof, label)
