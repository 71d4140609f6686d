"""Ed25519: RFC 8032 and Wycheproof vectors, 10,000 random cases against
cryptography and PyNaCl, strict-verification edge cases, bad input.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.signing
import pytest
from cryptography.exceptions import InvalidSignature as CryptographyInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from skms import SecretBytes, errors
from skms.crypto import ed25519

RANDOM_CASES = 10_000
SEED_BYTES = bytes(range(32))
MESSAGE = b"skms ed25519"

# --- A few curve facts, from RFC 8032 section 5.1 and its reference code ----
#
# Only the tests use this arithmetic: to build points that are off the curve,
# of small order, or signatures with a torsion component.

P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P
L = 2**252 + 27742317777372353535851937790883648493
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T)


def _add(a: Point, b: Point) -> Point:
    x = (a[1] - a[0]) * (b[1] - b[0]) % P
    y = (a[1] + a[0]) * (b[1] + b[0]) % P
    c = 2 * a[3] * b[3] * D % P
    d = 2 * a[2] * b[2] % P
    e, f, g, h = y - x, d - c, d + c, y + x
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(scalar: int, point: Point) -> Point:
    result: Point = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _encode(point: Point) -> bytes:
    z_inv = pow(point[2], P - 2, P)
    x, y = point[0] * z_inv % P, point[1] * z_inv % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _x_for(y: int) -> int | None:
    """An x with (x, y) on the curve, or None when there is none."""
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    return None if (x * x - x2) % P else x


def _base_point() -> Point:
    y = 4 * pow(5, P - 2, P) % P
    x = _x_for(y)
    assert x is not None
    x = x if x % 2 == 0 else P - x  # B has an even ("positive") x
    return (x, y, 1, x * y % P)


BASE = _base_point()
ORDER_2: Point = (0, P - 1, 1, 0)  # (0, -1)


def _off_curve_encoding() -> bytes:
    y = 2
    while _x_for(y) is not None:
        y += 1
    return y.to_bytes(32, "little")


OFF_CURVE = _off_curve_encoding()
SMALL_ORDER = [
    (1).to_bytes(32, "little"),  # identity
    (P - 1).to_bytes(32, "little"),  # (0, -1), order 2
    bytes(32),  # y = 0: order 4
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),  # order 8
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),  # order 8
]


def _secret_scalar(seed: bytes) -> int:
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    return (a & ((1 << 254) - 8)) | (1 << 254)


def _hash_scalar(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little") % L


# --- RFC 8032 -----------------------------------------------------------------


def test_rfc8032_vectors(vectors: Callable[[str], Any]) -> None:
    checked = 0
    for case in vectors("rfc8032_ed25519_vectors.json")["tests"]:
        secret = bytes.fromhex(case["secret_key"])
        public = bytes.fromhex(case["public_key"])
        message = bytes.fromhex(case["message"])
        signature = bytes.fromhex(case["signature"])
        assert len(message) == case["message_length"]
        assert ed25519.public_key(secret) == public, case["name"]
        assert ed25519.public_key(SecretBytes(secret)) == public, case["name"]
        assert ed25519.sign(secret, message) == signature, case["name"]
        assert ed25519.sign_batch(secret, [message]) == [signature], case["name"]
        assert ed25519.verify(public, message, signature) is True
        assert ed25519.verify(public, message + b"\x00", signature) is False
        checked += 1
    assert checked == 5


# --- Wycheproof ---------------------------------------------------------------


@dataclass(frozen=True)
class EdCase:
    tc_id: int
    public_key: bytes
    message: bytes
    signature: bytes
    result: str
    flags: tuple[str, ...]


def _ed_cases(vectors: Callable[[str], Any]) -> list[EdCase]:
    data = vectors("wycheproof/ed25519_test.json")
    cases = [
        EdCase(
            tc_id=test["tcId"],
            public_key=bytes.fromhex(group["publicKey"]["pk"]),
            message=bytes.fromhex(test["msg"]),
            signature=bytes.fromhex(test["sig"]),
            result=test["result"],
            flags=tuple(test["flags"]),
        )
        for group in data["testGroups"]
        for test in group["tests"]
    ]
    assert len(cases) == data["numberOfTests"] == 151
    return cases


def _ed_outcome(case: EdCase) -> bool | str:
    try:
        return ed25519.verify(case.public_key, case.message, case.signature)
    except (errors.InvalidSignature, errors.InvalidKey) as e:
        return type(e).__name__


def test_wycheproof_ed25519(vectors: Callable[[str], Any]) -> None:
    tally: Counter[str] = Counter()
    for case in _ed_cases(vectors):
        outcome = _ed_outcome(case)
        where = f"tcId {case.tc_id} {case.flags}: got {outcome!r}"
        if case.result == "valid":
            assert outcome is True, where
        elif case.result == "invalid":
            assert outcome is not True, where
        else:
            # "acceptable" may go either way (none in this file today).
            assert case.result == "acceptable", where
        tally[case.result] += 1
    assert tally == {"valid": 88, "invalid": 63}


def test_wycheproof_ed25519_verify_batch_agrees(vectors: Callable[[str], Any]) -> None:
    cases = _ed_cases(vectors)
    batch = ed25519.verify_batch(
        [c.public_key for c in cases],
        [c.message for c in cases],
        [c.signature for c in cases],
    )
    assert len(batch) == 151
    assert batch == [_ed_outcome(c) is True for c in cases]
    assert batch == [c.result == "valid" for c in cases]
    # Grouped by key, with one shared key per call: the same answers.
    by_key: dict[bytes, list[int]] = {}
    for i, case in enumerate(cases):
        by_key.setdefault(case.public_key, []).append(i)
    regrouped = [False] * len(cases)
    for key, indices in by_key.items():
        answers = ed25519.verify_batch(key, [cases[i].message for i in indices], [cases[i].signature for i in indices])
        for i, answer in zip(indices, answers, strict=True):
            regrouped[i] = answer
    assert regrouped == batch


# --- 10,000 random cases against cryptography and PyNaCl -----------------------


@dataclass(frozen=True)
class RandomCases:
    seeds: list[bytes]
    messages: list[bytes]


@pytest.fixture(scope="module")
def random_cases(seed: int) -> RandomCases:
    rnd = random.Random(seed ^ 0xED25519)
    seeds = [bytes(32), b"\xff" * 32] + [rnd.randbytes(32) for _ in range(RANDOM_CASES - 2)]
    messages = [b"", b"\x00" * 1000] + [rnd.randbytes(rnd.randrange(0, 300)) for _ in range(RANDOM_CASES - 2)]
    return RandomCases(seeds, messages)


@pytest.mark.slow
def test_random_keys_and_signatures_match_peers(random_cases: RandomCases) -> None:
    checked = 0
    for seed, message in zip(random_cases.seeds, random_cases.messages, strict=True):
        peer = Ed25519PrivateKey.from_private_bytes(seed)
        public = peer.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        signature = peer.sign(message)
        assert ed25519.public_key(seed) == public
        assert ed25519.sign(seed, message) == signature
        checked += 1
    assert checked == RANDOM_CASES


@pytest.mark.slow
def test_random_sign_batch_matches_pynacl(random_cases: RandomCases) -> None:
    seed = random_cases.seeds[3]
    key = nacl.signing.SigningKey(seed)
    theirs = [key.sign(m).signature for m in random_cases.messages]
    assert ed25519.sign_batch(SecretBytes(seed), random_cases.messages) == theirs
    assert len(theirs) == RANDOM_CASES


@pytest.mark.slow
def test_random_cross_verification(random_cases: RandomCases) -> None:
    seeds, messages = random_cases.seeds, random_cases.messages
    nacl_keys = [nacl.signing.SigningKey(s) for s in seeds]
    public_keys = [bytes(k.verify_key) for k in nacl_keys]
    theirs = [k.sign(m).signature for k, m in zip(nacl_keys, messages, strict=True)]
    ours = [ed25519.sign(s, m) for s, m in zip(seeds, messages, strict=True)]
    assert ours == theirs

    # PyNaCl's signatures verify here: batch (one key per item) and single.
    assert ed25519.verify_batch(public_keys, messages, theirs) == [True] * RANDOM_CASES
    checked = 0
    for pk, m, sig in zip(public_keys, messages, theirs, strict=True):
        assert ed25519.verify(pk, m, sig) is True
        checked += 1
    assert checked == RANDOM_CASES

    # Ours verify in cryptography and PyNaCl.
    checked = 0
    for pk, m, sig in zip(public_keys, messages, ours, strict=True):
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, m)
        nacl.signing.VerifyKey(pk).verify(m, sig)
        checked += 1
    assert checked == RANDOM_CASES

    # Another message is False here and refused by both peers.
    shifted = messages[1:] + messages[:1]
    expected = [a == b for a, b in zip(messages, shifted, strict=True)]
    assert ed25519.verify_batch(public_keys, shifted, ours) == expected
    for pk, m, sig, same in list(zip(public_keys, shifted, ours, expected, strict=True))[:1000]:
        if same:
            continue
        with pytest.raises(CryptographyInvalidSignature):
            Ed25519PublicKey.from_public_bytes(pk).verify(sig, m)
        with pytest.raises(nacl.exceptions.BadSignatureError):
            nacl.signing.VerifyKey(pk).verify(m, sig)


def test_verify_batch_finds_each_bad_item() -> None:
    public = ed25519.public_key(SEED_BYTES)
    messages = [bytes([i % 256]) * (i % 50) for i in range(300)]
    signatures = ed25519.sign_batch(SEED_BYTES, messages)
    bad = {0, 63, 64, 150, 299}
    for i in bad:
        tampered = bytearray(signatures[i])
        tampered[5] ^= 0x40
        signatures[i] = bytes(tampered)
    assert ed25519.verify_batch(public, messages, signatures) == [i not in bad for i in range(300)]


def test_generate_private_key() -> None:
    a = ed25519.generate_private_key()
    b = ed25519.generate_private_key()
    assert isinstance(a, SecretBytes)
    assert len(a) == 32
    assert a != b
    public = ed25519.public_key(a)
    signature = ed25519.sign(a, MESSAGE)
    nacl.signing.VerifyKey(public).verify(MESSAGE, signature)
    assert public == bytes(nacl.signing.SigningKey(a.expose_secret()).verify_key)


# --- Strict verification ------------------------------------------------------

PUBLIC = ed25519.public_key(SEED_BYTES)
SIGNATURE = ed25519.sign(SEED_BYTES, MESSAGE)


@pytest.mark.parametrize("point", SMALL_ORDER, ids=["identity", "order2", "order4", "o8a", "o8b"])
def test_small_order_public_keys_are_refused(point: bytes) -> None:
    with pytest.raises(errors.InvalidKey, match="small-order"):
        ed25519.verify(point, MESSAGE, SIGNATURE)
    assert ed25519.verify_batch([point], [MESSAGE], [SIGNATURE]) == [False]


@pytest.mark.parametrize("point", SMALL_ORDER, ids=["identity", "order2", "order4", "o8a", "o8b"])
def test_small_order_r_is_refused(point: bytes) -> None:
    # A signature whose R is a small-order point never verifies.
    forged = point + SIGNATURE[32:]
    assert ed25519.verify(PUBLIC, MESSAGE, forged) is False
    assert ed25519.verify_batch(PUBLIC, [MESSAGE], [forged]) == [False]


def test_non_canonical_s_is_refused() -> None:
    s = int.from_bytes(SIGNATURE[32:], "little")
    malleated = SIGNATURE[:32] + (s + L).to_bytes(32, "little")
    with pytest.raises(errors.InvalidSignature, match=r"non-canonical S \(S >= L\)"):
        ed25519.verify(PUBLIC, MESSAGE, malleated)
    assert ed25519.verify_batch(PUBLIC, [MESSAGE], [malleated]) == [False]


def _torsion_signatures(count: int) -> list[tuple[bytes, bytes, bytes]]:
    """Signatures made with the secret key whose R carries an order-2 component.

    R' = r*B + T2 and S = r + H(R' || A || M) * a. The cofactorless equation fails for
    them ([S]B - [k]A = r*B != R'); the cofactored one of RFC 8032 section 5.1.7, which
    SKMS uses so that batch and single verification agree, holds.
    """
    a = _secret_scalar(SEED_BYTES)
    public = _encode(_mul(a, BASE))
    assert public == PUBLIC
    out = []
    for i in range(count):
        message = b"torsion %d" % i
        r = _hash_scalar(b"nonce", message)
        r_point = _encode(_add(_mul(r, BASE), ORDER_2))
        k = _hash_scalar(r_point, public, message)
        s = (r + k * a) % L
        out.append((public, message, r_point + s.to_bytes(32, "little")))
    return out


def test_torsion_in_r_follows_the_cofactored_equation() -> None:
    for public, message, signature in _torsion_signatures(32):
        assert ed25519.verify(public, message, signature) is True
        # The torsion component does not let anyone forge: another message still fails.
        assert ed25519.verify(public, message + b"!", signature) is False


def test_verify_batch_agrees_with_verify_on_torsion_in_r() -> None:
    cases = _torsion_signatures(32)
    single = [ed25519.verify(pk, m, sig) for pk, m, sig in cases]
    batch = ed25519.verify_batch([pk for pk, _, _ in cases], [m for _, m, _ in cases], [sig for _, _, sig in cases])
    one_by_one = [ed25519.verify_batch(pk, [m], [sig])[0] for pk, m, sig in cases]
    assert single == [True] * len(cases)
    assert one_by_one == single
    assert batch == single


# --- Bad input ------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 31, 33, 64])
@pytest.mark.parametrize(
    "call",
    [
        lambda k: ed25519.public_key(k),
        lambda k: ed25519.sign(k, MESSAGE),
        lambda k: ed25519.sign_batch(k, [MESSAGE]),
        lambda k: ed25519.sign(SecretBytes(k), MESSAGE),
    ],
    ids=["public_key", "sign", "sign_batch", "sign-SecretBytes"],
)
def test_bad_private_key_length(call: Callable[[bytes], object], length: int) -> None:
    with pytest.raises(errors.InvalidKey, match=f"private key must be 32 bytes, got {length}"):
        call(bytes(length))


@pytest.mark.parametrize(
    ("public_key", "keyword"),
    [
        (b"", "must be 32 bytes, got 0"),
        (PUBLIC[:31], "must be 32 bytes, got 31"),
        (PUBLIC + b"\x00", "must be 32 bytes, got 33"),
        (OFF_CURVE, "not a point on the curve"),
        (SMALL_ORDER[0], "small-order point"),
    ],
    ids=["empty", "31-bytes", "33-bytes", "off-curve", "small-order"],
)
def test_bad_public_key(public_key: bytes, keyword: str) -> None:
    with pytest.raises(errors.InvalidKey) as info:
        ed25519.verify(public_key, MESSAGE, SIGNATURE)
    assert keyword in str(info.value)
    assert "public key" in str(info.value)
    # A shared batch key is checked up front; per-item keys are just False.
    with pytest.raises(errors.InvalidKey):
        ed25519.verify_batch(public_key, [MESSAGE], [SIGNATURE])
    assert ed25519.verify_batch([public_key], [MESSAGE], [SIGNATURE]) == [False]


@pytest.mark.parametrize("length", [0, 32, 63, 65, 128])
def test_bad_signature_length(length: int) -> None:
    signature = (SIGNATURE * 3)[:length]
    with pytest.raises(errors.InvalidSignature, match=f"signature must be 64 bytes, got {length}"):
        ed25519.verify(PUBLIC, MESSAGE, signature)
    assert ed25519.verify_batch(PUBLIC, [MESSAGE], [signature]) == [False]


def test_bad_batch_shapes() -> None:
    with pytest.raises(errors.InvalidInput, match="got 2 messages for 1 signatures"):
        ed25519.verify_batch(PUBLIC, [MESSAGE, MESSAGE], [SIGNATURE])
    with pytest.raises(errors.InvalidInput, match="got 1 public keys for 2 signatures"):
        ed25519.verify_batch([PUBLIC], [MESSAGE, MESSAGE], [SIGNATURE, SIGNATURE])
    assert ed25519.sign_batch(SEED_BYTES, []) == []
    assert ed25519.verify_batch([], [], []) == []
    assert ed25519.verify_batch(PUBLIC, [], []) == []


BAD_TYPES: list[object] = ["text", 42, None, [1, 2, 3]]
BAD_TYPE_IDS = ["str", "int", "None", "list"]
TYPED_CALLS: list[tuple[Callable[..., object], tuple[object, ...], tuple[str, ...]]] = [
    (ed25519.public_key, (SEED_BYTES,), ("private_key",)),
    (ed25519.sign, (SEED_BYTES, MESSAGE), ("private_key", "message")),
    (ed25519.verify, (PUBLIC, MESSAGE, SIGNATURE), ("public_key", "message", "signature")),
    (ed25519.sign_batch, (SEED_BYTES, [MESSAGE]), ("private_key", "messages")),
    (
        ed25519.verify_batch,
        ([PUBLIC], [MESSAGE], [SIGNATURE]),
        ("public_keys", "messages", "signatures"),
    ),
]


def _type_cases() -> list[Any]:
    cases = []
    for fn, args, names in TYPED_CALLS:
        for position, name in enumerate(names):
            for bad, bad_id in zip(BAD_TYPES, BAD_TYPE_IDS, strict=True):
                got = type(bad).__name__
                if name.endswith("s") and isinstance(bad, list):
                    bad, got = [b"ok", "not bytes"], "str"  # a sequence with a wrong item
                fn_name = getattr(fn, "__name__", "?")
                cases.append(pytest.param(fn, args, position, name, bad, got, id=f"{fn_name}-{name}-{bad_id}"))
    return cases


@pytest.mark.parametrize(("fn", "args", "position", "name", "bad", "got"), _type_cases())
def test_non_bytes_arguments_raise_invalid_type(
    fn: Callable[..., object],
    args: tuple[object, ...],
    position: int,
    name: str,
    bad: object,
    got: str,
) -> None:
    call_args = list(args)
    call_args[position] = bad
    with pytest.raises(errors.InvalidType) as info:
        fn(*call_args)
    message = str(info.value)
    assert message.startswith(name)
    assert "must be" in message
    assert message.endswith(f"got {got}") or f"got a single {got}" in message


# --- Property tests on the parsers --------------------------------------------

_key_bytes = st.one_of(
    st.binary(min_size=32, max_size=32),
    st.binary(max_size=40),
    st.sampled_from([*SMALL_ORDER, OFF_CURVE, PUBLIC]),
)
_signature_bytes = st.one_of(
    st.binary(min_size=64, max_size=64),
    st.binary(max_size=80),
    st.builds(lambda r, s: r + s, st.sampled_from(SMALL_ORDER), st.binary(min_size=32, max_size=32)),
    st.builds(lambda s: SIGNATURE[:32] + s, st.binary(min_size=32, max_size=32)),
)


@settings(max_examples=400)
@given(public_key=_key_bytes, message=st.binary(max_size=40), signature=_signature_bytes)
def test_property_parsers_never_crash(public_key: bytes, message: bytes, signature: bytes) -> None:
    try:
        result: bool | None = ed25519.verify(public_key, message, signature)
    except (errors.InvalidKey, errors.InvalidSignature):
        result = None
    else:
        assert isinstance(result, bool)
    assert ed25519.verify_batch([public_key], [message], [signature]) == [result is True]


@settings(max_examples=200)
@given(items=st.lists(st.tuples(st.booleans(), st.binary(max_size=20), _signature_bytes), min_size=1, max_size=80))
def test_property_verify_batch_matches_verify(items: list[tuple[bool, bytes, bytes]]) -> None:
    """Mixed good and junk items: the batch answers exactly as verify, item by item."""
    messages = [m for _, m, _ in items]
    signatures = [ed25519.sign(SEED_BYTES, m) if good else sig for good, m, sig in items]
    expected = []
    for m, sig in zip(messages, signatures, strict=True):
        try:
            expected.append(ed25519.verify(PUBLIC, m, sig))
        except errors.InvalidSignature:
            expected.append(False)
    assert ed25519.verify_batch(PUBLIC, messages, signatures) == expected


@settings(max_examples=200)
@given(private_key=st.binary(max_size=40))
def test_property_private_key_parser(private_key: bytes) -> None:
    try:
        public = ed25519.public_key(private_key)
    except errors.InvalidKey:
        assert len(private_key) != 32
        return
    assert public == bytes(nacl.signing.SigningKey(private_key).verify_key)
