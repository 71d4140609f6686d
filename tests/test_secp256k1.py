"""secp256k1: published vectors, 10,000 random cases against coincurve, bad input.

Vectors: BIP340 (every row), RFC 6979 (bitcoinjs-lib fixtures), Wycheproof
ECDSA secp256k1/SHA-256 (plain and Bitcoin low-S). Every vector test counts
the cases it checked, so a loop that silently ran over nothing fails.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import coincurve
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from skms import SecretBytes, errors
from skms.crypto import secp256k1

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
P = 2**256 - 2**32 - 977
RANDOM_CASES = 10_000

KEY = (0x2A).to_bytes(32, "big")
DIGEST = hashlib.sha256(b"skms").digest()


def _b32(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _high_s(compact: bytes) -> bytes:
    """The same signature with S replaced by n - S (valid, but malleated)."""
    return compact[:32] + _b32(N - int.from_bytes(compact[32:], "big"))


def _non_residue_x() -> int:
    """An x for which x^3 + 7 has no square root mod p: no point has it."""
    x = 1
    while pow(x**3 + 7, (P - 1) // 2, P) != P - 1:
        x += 1
    return x


OFF_CURVE_X = _non_residue_x()


# --- BIP340 -------------------------------------------------------------------


def test_bip340_vectors(vectors: Callable[[str], Any]) -> None:
    rows = vectors("bip340_test_vectors.csv")
    tally: Counter[str] = Counter()
    for row in rows:
        public_key = bytes.fromhex(row["public key"])
        message = bytes.fromhex(row["message"])
        signature = bytes.fromhex(row["signature"])
        expected = row["verification result"] == "TRUE"
        where = f"BIP340 row {row['index']} ({row['comment']})"
        if row["secret key"]:
            secret = bytes.fromhex(row["secret key"])
            aux = bytes.fromhex(row["aux_rand"])
            assert secp256k1.xonly_public_key(secret) == public_key, where
            assert secp256k1.schnorr_sign(secret, message, aux) == signature, where
            # SecretBytes and bytes give the same signature.
            assert secp256k1.schnorr_sign(SecretBytes(secret), message, aux) == signature, where
            tally["signed"] += 1
        try:
            result = secp256k1.schnorr_verify(public_key, message, signature)
        except errors.InvalidKey:
            # Rows whose public key is not on the curve: rejecting the key is
            # as good as returning False.
            assert not expected, where
            tally["rejected"] += 1
            continue
        assert result is expected, where
        tally["accepted" if expected else "rejected"] += 1
    assert len(rows) == 19
    assert tally == {"signed": 8, "accepted": 9, "rejected": 10}


# --- RFC 6979 -------------------------------------------------------------------


def test_rfc6979_vectors(vectors: Callable[[str], Any]) -> None:
    data = vectors("rfc6979_secp256k1_vectors.json")
    checked = 0
    for case in data["tests"]:
        secret = bytes.fromhex(case["private_key"])
        digest = hashlib.sha256(case["message"].encode()).digest()
        der = bytes.fromhex(case["signature"])
        r, s = decode_dss_signature(der)
        assert secp256k1.sign_der(secret, digest) == der
        assert secp256k1.sign(secret, digest) == _b32(r) + _b32(s)
        recoverable = secp256k1.sign_recoverable(secret, digest)
        assert recoverable == _b32(r) + _b32(s) + bytes([case["recovery_id"]])
        # r is the x coordinate of k*G: the nonce itself is RFC 6979's.
        nonce_point = coincurve.PublicKey.from_secret(bytes.fromhex(case["k"])).format()
        assert nonce_point[1:] == _b32(r)
        public_key = secp256k1.public_key(secret)
        assert secp256k1.verify(public_key, digest, der)
        assert secp256k1.recover(digest, recoverable) == public_key
        checked += 1
    assert checked == 7


# --- Wycheproof ---------------------------------------------------------------


@dataclass(frozen=True)
class WycheproofCase:
    tc_id: int
    public_key: bytes
    digest: bytes
    signature: bytes
    result: str
    flags: tuple[str, ...]


def _ecdsa_cases(data: dict[str, Any]) -> list[WycheproofCase]:
    cases = []
    for group in data["testGroups"]:
        assert group["sha"] == "SHA-256"
        public_key = bytes.fromhex(group["publicKey"]["uncompressed"])
        for test in group["tests"]:
            cases.append(
                WycheproofCase(
                    tc_id=test["tcId"],
                    public_key=public_key,
                    digest=hashlib.sha256(bytes.fromhex(test["msg"])).digest(),
                    signature=bytes.fromhex(test["sig"]),
                    result=test["result"],
                    flags=tuple(test["flags"]),
                )
            )
    assert len(cases) == data["numberOfTests"]
    return cases


def _verify_outcome(case: WycheproofCase, allow_high_s: bool) -> bool | str:
    """True/False from verify, or the name of the skms error it raised."""
    try:
        return secp256k1.verify(case.public_key, case.digest, case.signature, allow_high_s=allow_high_s)
    except (errors.InvalidSignature, errors.InvalidKey) as e:
        return type(e).__name__


# "acceptable" cases (legacy encodings a strict verifier may refuse) may go
# either way; neither file has any today, but new upstream copies might.
WYCHEPROOF_ECDSA = [
    pytest.param("ecdsa_secp256k1_sha256_test.json", True, 476, id="plain-allow-high-s"),
    pytest.param("ecdsa_secp256k1_sha256_bitcoin_test.json", False, 463, id="bitcoin-low-s"),
]


@pytest.mark.parametrize(("name", "allow_high_s", "total"), WYCHEPROOF_ECDSA)
def test_wycheproof_ecdsa(vectors: Callable[[str], Any], name: str, allow_high_s: bool, total: int) -> None:
    cases = _ecdsa_cases(vectors(f"wycheproof/{name}"))
    tally: Counter[str] = Counter()
    for case in cases:
        outcome = _verify_outcome(case, allow_high_s)
        where = f"{name} tcId {case.tc_id} {case.flags}: got {outcome!r}"
        if case.result == "valid":
            assert outcome is True, where
        elif case.result == "invalid":
            assert outcome is not True, where
        else:
            assert case.result == "acceptable", where
        tally[case.result] += 1
    assert sum(tally.values()) == total


@pytest.mark.parametrize(("name", "allow_high_s", "total"), WYCHEPROOF_ECDSA)
def test_wycheproof_ecdsa_batch_agrees(
    vectors: Callable[[str], Any], name: str, allow_high_s: bool, total: int
) -> None:
    """verify_batch over every case at once gives verify's answers (errors are False)."""
    cases = _ecdsa_cases(vectors(f"wycheproof/{name}"))
    batch = secp256k1.verify_batch(
        [c.public_key for c in cases],
        [c.digest for c in cases],
        [c.signature for c in cases],
        allow_high_s=allow_high_s,
    )
    single = [_verify_outcome(c, allow_high_s) is True for c in cases]
    assert len(batch) == total
    assert batch == single
    assert batch == [c.result == "valid" for c in cases]


def test_wycheproof_plain_file_high_s_needs_opt_in(vectors: Callable[[str], Any]) -> None:
    """Without allow_high_s, exactly the high-S valid cases are refused, by name."""
    cases = _ecdsa_cases(vectors("wycheproof/ecdsa_secp256k1_sha256_test.json"))
    high = low = 0
    for case in (c for c in cases if c.result == "valid"):
        _, s = decode_dss_signature(case.signature)
        if s > N // 2:
            with pytest.raises(errors.InvalidSignature, match="high S"):
                secp256k1.verify(case.public_key, case.digest, case.signature)
            high += 1
        else:
            assert secp256k1.verify(case.public_key, case.digest, case.signature) is True
            low += 1
    assert high + low == 168
    assert high > 0
    assert low > 0


# --- 10,000 random cases against coincurve -----------------------------------


@dataclass(frozen=True)
class RandomCases:
    keys: list[bytes]
    digests: list[bytes]
    aux: list[bytes]
    peers: list[coincurve.PrivateKey]


@pytest.fixture(scope="module")
def random_cases(seed: int) -> RandomCases:
    rnd = random.Random(seed ^ 0x5EC9256)
    # Edge keys and digests first (1, n-1, digests >= n), then random ones.
    keys = [_b32(1), _b32(2), _b32(N - 1), _b32(N - 2), _b32(2**128)]
    while len(keys) < RANDOM_CASES:
        candidate = rnd.randbytes(32)
        if 0 < int.from_bytes(candidate, "big") < N:
            keys.append(candidate)
    digests = [bytes(32), b"\xff" * 32, _b32(N), _b32(N - 1), _b32(1)]
    digests += [rnd.randbytes(32) for _ in range(RANDOM_CASES - len(digests))]
    aux = [rnd.randbytes(32) for _ in range(RANDOM_CASES)]
    return RandomCases(keys, digests, aux, [coincurve.PrivateKey(k) for k in keys])


@pytest.mark.slow
def test_random_public_keys_match_coincurve(random_cases: RandomCases) -> None:
    checked = 0
    for key, peer in zip(random_cases.keys, random_cases.peers, strict=True):
        compressed = peer.public_key.format(compressed=True)
        uncompressed = peer.public_key.format(compressed=False)
        assert secp256k1.public_key(key) == compressed
        assert secp256k1.public_key(key, compressed=False) == uncompressed
        assert secp256k1.convert_public_key(uncompressed) == compressed
        assert secp256k1.convert_public_key(compressed, compressed=False) == uncompressed
        assert secp256k1.xonly_public_key(key) == compressed[1:]
        checked += 1
    assert checked == RANDOM_CASES


@pytest.mark.slow
def test_random_sign_many_matches_coincurve(random_cases: RandomCases) -> None:
    ours = secp256k1.sign_many(random_cases.keys, random_cases.digests)
    theirs = [
        peer.sign_recoverable(d, hasher=None)[:64]
        for peer, d in zip(random_cases.peers, random_cases.digests, strict=True)
    ]
    assert len(ours) == RANDOM_CASES
    assert ours == theirs


@pytest.mark.slow
def test_random_sign_batch_matches_coincurve(random_cases: RandomCases) -> None:
    key, peer = random_cases.keys[7], random_cases.peers[7]
    ours = secp256k1.sign_batch(SecretBytes(key), random_cases.digests)
    theirs = [peer.sign_recoverable(d, hasher=None)[:64] for d in random_cases.digests]
    assert len(ours) == RANDOM_CASES
    assert ours == theirs


@pytest.mark.slow
def test_random_sign_single_der_and_recoverable_match_coincurve(
    random_cases: RandomCases,
) -> None:
    checked = 0
    for key, peer, digest in zip(random_cases.keys, random_cases.peers, random_cases.digests, strict=True):
        recoverable = peer.sign_recoverable(digest, hasher=None)
        assert secp256k1.sign(key, digest) == recoverable[:64]
        assert secp256k1.sign_der(key, digest) == peer.sign(digest, hasher=None)
        assert secp256k1.sign_recoverable(key, digest) == recoverable
        checked += 1
    assert checked == RANDOM_CASES


@pytest.mark.slow
def test_random_recover_matches_coincurve(random_cases: RandomCases) -> None:
    checked = 0
    for peer, digest in zip(random_cases.peers, random_cases.digests, strict=True):
        recoverable = peer.sign_recoverable(digest, hasher=None)
        expected = coincurve.PublicKey.from_signature_and_message(recoverable, digest, hasher=None)
        assert expected.format() == peer.public_key.format()
        assert secp256k1.recover(digest, recoverable) == expected.format()
        assert secp256k1.recover(digest, recoverable, compressed=False) == expected.format(compressed=False)
        # Ethereum's legacy v = 27/28 recovers the same key.
        legacy = recoverable[:64] + bytes([recoverable[64] + 27])
        assert secp256k1.recover(digest, legacy) == expected.format()
        checked += 1
    assert checked == RANDOM_CASES


@pytest.mark.slow
def test_random_verify_both_ways(random_cases: RandomCases) -> None:
    public_keys = [p.public_key.format() for p in random_cases.peers]
    digests = random_cases.digests
    their_der = [p.sign(d, hasher=None) for p, d in zip(random_cases.peers, digests, strict=True)]
    our_compact = secp256k1.sign_many(random_cases.keys, digests)

    # coincurve's signatures verify here, DER and compact, batch and single.
    assert secp256k1.verify_batch(public_keys, digests, their_der) == [True] * RANDOM_CASES
    assert secp256k1.verify_batch(public_keys, digests, our_compact) == [True] * RANDOM_CASES
    for pk, d, der in zip(public_keys[:1000], digests, their_der, strict=False):
        assert secp256k1.verify(pk, d, der) is True

    # Ours verify in coincurve (which takes DER).
    checked = 0
    for peer, key, digest in zip(random_cases.peers, random_cases.keys, digests, strict=True):
        assert peer.public_key.verify(secp256k1.sign_der(key, digest), digest, hasher=None)
        checked += 1
    assert checked == RANDOM_CASES

    # A signature over another digest is False on both sides.
    shifted = digests[1:] + digests[:1]
    assert secp256k1.verify_batch(public_keys, shifted, their_der) == [False] * RANDOM_CASES
    for peer, d, der in zip(random_cases.peers[:1000], shifted, their_der, strict=False):
        assert not peer.public_key.verify(der, d, hasher=None)
        assert secp256k1.verify(peer.public_key.format(), d, der) is False


@pytest.mark.slow
def test_random_schnorr_matches_coincurve(random_cases: RandomCases) -> None:
    checked = 0
    for key, peer, digest, aux in zip(
        random_cases.keys, random_cases.peers, random_cases.digests, random_cases.aux, strict=True
    ):
        xonly = coincurve.PublicKeyXOnly.from_secret(key)
        theirs = peer.sign_schnorr(digest, aux)
        ours = secp256k1.schnorr_sign(key, digest, aux)
        assert ours == theirs
        assert secp256k1.xonly_public_key(key) == xonly.format()
        assert secp256k1.schnorr_verify(xonly.format(), digest, theirs) is True
        # Fresh randomness: a different signature that still verifies in coincurve.
        fresh = secp256k1.schnorr_sign(key, digest)
        assert xonly.verify(fresh, digest)
        assert secp256k1.schnorr_verify(xonly.format(), digest[::-1], theirs) is (digest == digest[::-1])
        checked += 1
    assert checked == RANDOM_CASES


@pytest.mark.slow
def test_random_ecdh_matches_coincurve(random_cases: RandomCases) -> None:
    peers = random_cases.peers
    checked = 0
    for i, (key, peer) in enumerate(zip(random_cases.keys, peers, strict=True)):
        other = peers[(i + 1) % RANDOM_CASES].public_key
        # Alternate compressed and uncompressed encodings of the other key.
        encoded = other.format(compressed=i % 2 == 0)
        shared = secp256k1.ecdh(key, encoded)
        assert isinstance(shared, SecretBytes)
        assert shared.expose_secret() == peer.ecdh(encoded)
        checked += 1
    assert checked == RANDOM_CASES


def test_generate_private_key() -> None:
    a = secp256k1.generate_private_key()
    b = secp256k1.generate_private_key()
    assert isinstance(a, SecretBytes)
    assert len(a) == 32
    assert a != b
    assert 0 < int.from_bytes(a.expose_secret(), "big") < N
    pk = secp256k1.public_key(a)
    assert pk == coincurve.PrivateKey(a.expose_secret()).public_key.format()
    assert secp256k1.verify(pk, DIGEST, secp256k1.sign(a, DIGEST))


def test_ecdsa_sign_verify_roundtrip_with_secret_bytes() -> None:
    secret = SecretBytes(KEY)
    pk = secp256k1.public_key(secret)
    compact = secp256k1.sign(secret, DIGEST)
    assert compact == secp256k1.sign(KEY, DIGEST)
    assert secp256k1.verify(pk, DIGEST, compact) is True
    assert secp256k1.verify(pk, DIGEST, secp256k1.sign_der(secret, DIGEST)) is True
    assert secp256k1.verify(pk, bytes(32), compact) is False
    unc = secp256k1.public_key(secret, compressed=False)
    assert secp256k1.verify(unc, DIGEST, compact) is True


def test_high_s_refused_unless_allowed() -> None:
    pk = secp256k1.public_key(KEY)
    high = _high_s(secp256k1.sign(KEY, DIGEST))
    with pytest.raises(errors.InvalidSignature, match="high S"):
        secp256k1.verify(pk, DIGEST, high)
    assert secp256k1.verify(pk, DIGEST, high, allow_high_s=True) is True
    high_der = encode_dss_signature(int.from_bytes(high[:32]), int.from_bytes(high[32:]))
    with pytest.raises(errors.InvalidSignature, match="high S"):
        secp256k1.verify(pk, DIGEST, high_der)
    assert secp256k1.verify(pk, DIGEST, high_der, allow_high_s=True) is True
    # In a batch a high-S item is just False, unless allowed.
    assert secp256k1.verify_batch(pk, [DIGEST], [high]) == [False]
    assert secp256k1.verify_batch(pk, [DIGEST], [high], allow_high_s=True) == [True]


# --- Bad input ------------------------------------------------------------------

VALID_PK = secp256k1.public_key(KEY)
VALID_SIG = secp256k1.sign(KEY, DIGEST)


@pytest.mark.parametrize(
    ("private_key", "keyword"),
    [
        (b"", "32 bytes, got 0"),
        (bytes(31), "32 bytes, got 31"),
        (bytes(33), "32 bytes, got 33"),
        (bytes(32), "[1, n-1]"),
        (_b32(N), "[1, n-1]"),
        (_b32(N + 1), "[1, n-1]"),
        (b"\xff" * 32, "[1, n-1]"),
    ],
    ids=["empty", "short", "long", "zero", "n", "n+1", "max"],
)
@pytest.mark.parametrize(
    "call",
    [
        lambda k: secp256k1.public_key(k),
        lambda k: secp256k1.xonly_public_key(k),
        lambda k: secp256k1.sign(k, DIGEST),
        lambda k: secp256k1.sign_der(k, DIGEST),
        lambda k: secp256k1.sign_recoverable(k, DIGEST),
        lambda k: secp256k1.schnorr_sign(k, DIGEST, bytes(32)),
        lambda k: secp256k1.ecdh(k, VALID_PK),
        lambda k: secp256k1.sign_batch(k, [DIGEST]),
        lambda k: secp256k1.sign(SecretBytes(k), DIGEST),
    ],
    ids=[
        "public_key",
        "xonly_public_key",
        "sign",
        "sign_der",
        "sign_recoverable",
        "schnorr_sign",
        "ecdh",
        "sign_batch",
        "sign-SecretBytes",
    ],
)
def test_bad_private_key(call: Callable[[bytes], object], private_key: bytes, keyword: str) -> None:
    with pytest.raises(errors.InvalidKey) as info:
        call(private_key)
    assert keyword in str(info.value)
    assert "private key" in str(info.value)


def test_sign_many_names_the_bad_key() -> None:
    with pytest.raises(errors.InvalidKey, match=r"private_keys\[1\] must be in \[1, n-1\]"):
        secp256k1.sign_many([KEY, bytes(32)], [DIGEST, DIGEST])
    with pytest.raises(errors.InvalidKey, match=r"private_keys\[2\]"):
        secp256k1.sign_many([KEY, KEY, _b32(N)], [DIGEST] * 3)


def test_sign_many_wrong_length_key_is_invalid_key() -> None:
    with pytest.raises(errors.InvalidKey, match=r"private_keys\[1\] must be 32 bytes"):
        secp256k1.sign_many([KEY, bytes(31)], [DIGEST, DIGEST])


@pytest.mark.parametrize(
    ("public_key", "keyword"),
    [
        (b"", "33 (compressed) or 65 (uncompressed) bytes, got 0"),
        (VALID_PK[:32], "33 (compressed) or 65 (uncompressed) bytes, got 32"),
        (VALID_PK + b"\x00", "got 34"),
        (b"\x05" + VALID_PK[1:], "not a point on the curve"),
        (b"\x00" * 33, "not a point on the curve"),
        (b"\x02" + _b32(OFF_CURVE_X), "not a point on the curve"),
        (b"\x02" + _b32(P), "not a point on the curve"),
        (b"\x03" + b"\xff" * 32, "not a point on the curve"),
        (
            secp256k1.convert_public_key(VALID_PK, compressed=False)[:-1] + b"\x00",
            "not a point on the curve",
        ),
        (b"\x04" + _b32(OFF_CURVE_X) + _b32(1), "not a point on the curve"),
    ],
    ids=[
        "empty",
        "32-bytes",
        "34-bytes",
        "prefix-05",
        "all-zero",
        "x-not-on-curve",
        "x-equals-p",
        "x-above-p",
        "uncompressed-y-changed",
        "uncompressed-off-curve",
    ],
)
@pytest.mark.parametrize(
    "call",
    [
        lambda pk: secp256k1.verify(pk, DIGEST, VALID_SIG),
        lambda pk: secp256k1.convert_public_key(pk),
        lambda pk: secp256k1.ecdh(KEY, pk),
        lambda pk: secp256k1.verify_batch(pk, [DIGEST], [VALID_SIG]),
    ],
    ids=["verify", "convert_public_key", "ecdh", "verify_batch-shared-key"],
)
def test_bad_public_key(call: Callable[[bytes], object], public_key: bytes, keyword: str) -> None:
    with pytest.raises(errors.InvalidKey) as info:
        call(public_key)
    assert keyword in str(info.value)


@pytest.mark.parametrize(
    ("xonly", "keyword"),
    [
        (VALID_PK, "32 bytes (x-only), got 33"),
        (VALID_PK[1:31], "32 bytes (x-only), got 30"),
        (_b32(OFF_CURVE_X), "not the x coordinate of a curve point"),
        (_b32(P), "not the x coordinate of a curve point"),
    ],
    ids=["33-bytes", "30-bytes", "not-on-curve", "x-equals-p"],
)
def test_bad_xonly_public_key(xonly: bytes, keyword: str) -> None:
    with pytest.raises(errors.InvalidKey) as info:
        secp256k1.schnorr_verify(xonly, DIGEST, bytes(64))
    assert keyword in str(info.value)


_GOOD_DER = secp256k1.sign_der(KEY, DIGEST)


@pytest.mark.parametrize(
    ("signature", "keyword"),
    [
        (b"", "64 bytes (compact r||s) or DER, got 0 bytes"),
        (VALID_SIG[:63], "64 bytes (compact r||s) or DER, got 63 bytes"),
        (VALID_SIG + b"\x00", "64 bytes (compact r||s) or DER, got 65 bytes"),
        (_b32(N) + VALID_SIG[32:], "not below the curve order"),
        (VALID_SIG[:32] + _b32(N), "not below the curve order"),
        (_GOOD_DER[:-1], "malformed DER"),
        (_GOOD_DER + b"\x00", "malformed DER"),
        (b"\x31" + _GOOD_DER[1:] + b"\x00", "64 bytes (compact r||s) or DER"),
        (_GOOD_DER[:2] + b"\x03" + _GOOD_DER[3:], "malformed DER"),
        (b"\x30\x81" + bytes([len(_GOOD_DER) - 2]) + _GOOD_DER[2:], "malformed DER"),
        (b"\x30\x06\x02\x01\x01\x02\x01", "malformed DER"),
        (_high_s(VALID_SIG), "high S"),
    ],
    ids=[
        "empty",
        "63-bytes",
        "65-bytes",
        "r-equals-n",
        "s-equals-n",
        "der-truncated",
        "der-trailing-byte",
        "der-wrong-sequence-tag",
        "der-wrong-integer-tag",
        "der-long-form-length",
        "der-short",
        "high-s",
    ],
)
def test_bad_signature(signature: bytes, keyword: str) -> None:
    with pytest.raises(errors.InvalidSignature) as info:
        secp256k1.verify(VALID_PK, DIGEST, signature)
    assert keyword in str(info.value)
    # A batch reports the same malformed item as False instead of raising.
    assert secp256k1.verify_batch(VALID_PK, [DIGEST], [signature]) == [False]


@pytest.mark.parametrize(
    ("signature", "keyword"),
    [
        (VALID_SIG, "65 bytes, got 64"),
        (VALID_SIG + b"\x00\x00", "65 bytes, got 66"),
        (VALID_SIG + b"\x04", "recovery id must be 0-3 (or 27-30), got 4"),
        (VALID_SIG + b"\x1a", "got 26"),
        (VALID_SIG + b"\x1f", "got 31"),
        (_b32(N) + VALID_SIG[32:] + b"\x00", "not below the curve order"),
        (bytes(32) + VALID_SIG[32:] + b"\x00", "no public key recovers"),
    ],
    ids=["64-bytes", "66-bytes", "v=4", "v=26", "v=31", "r-equals-n", "r-zero"],
)
def test_bad_recoverable_signature(signature: bytes, keyword: str) -> None:
    with pytest.raises(errors.InvalidSignature) as info:
        secp256k1.recover(DIGEST, signature)
    assert keyword in str(info.value)


@pytest.mark.parametrize("length", [0, 31, 33, 64])
@pytest.mark.parametrize(
    "call",
    [
        lambda d: secp256k1.sign(KEY, d),
        lambda d: secp256k1.sign_der(KEY, d),
        lambda d: secp256k1.sign_recoverable(KEY, d),
        lambda d: secp256k1.verify(VALID_PK, d, VALID_SIG),
        lambda d: secp256k1.recover(d, secp256k1.sign_recoverable(KEY, DIGEST)),
    ],
    ids=["sign", "sign_der", "sign_recoverable", "verify", "recover"],
)
def test_bad_digest_length(call: Callable[[bytes], object], length: int) -> None:
    with pytest.raises(errors.InvalidInput, match=f"digest must be 32 bytes, got {length}"):
        call(bytes(length))


def test_bad_batch_shapes() -> None:
    with pytest.raises(errors.InvalidInput, match=r"digests\[1\] must be 32 bytes, got 31"):
        secp256k1.sign_batch(KEY, [DIGEST, bytes(31)])
    with pytest.raises(errors.InvalidInput, match=r"digests\[0\] must be 32 bytes"):
        secp256k1.sign_many([KEY], [bytes(33)])
    with pytest.raises(errors.InvalidInput, match="got 2 private keys for 1 digests"):
        secp256k1.sign_many([KEY, KEY], [DIGEST])
    with pytest.raises(errors.InvalidInput, match="got 1 digests for 2 signatures"):
        secp256k1.verify_batch(VALID_PK, [DIGEST], [VALID_SIG, VALID_SIG])
    with pytest.raises(errors.InvalidInput, match="got 1 public keys for 2 signatures"):
        secp256k1.verify_batch([VALID_PK], [DIGEST, DIGEST], [VALID_SIG, VALID_SIG])
    with pytest.raises(errors.InvalidInput, match=r"digests\[0\] must be 32 bytes"):
        secp256k1.verify_batch(VALID_PK, [bytes(31)], [VALID_SIG])
    # Empty batches are fine.
    assert secp256k1.sign_batch(KEY, []) == []
    assert secp256k1.sign_many([], []) == []
    assert secp256k1.verify_batch([], [], []) == []


def test_batch_reports_malformed_items_as_false() -> None:
    other = secp256k1.public_key(_b32(7))
    assert secp256k1.verify_batch(
        [VALID_PK, b"\x05" * 33, VALID_PK, other, VALID_PK],
        [DIGEST] * 5,
        [VALID_SIG, VALID_SIG, b"junk", VALID_SIG, _high_s(VALID_SIG)],
    ) == [True, False, False, False, False]


def test_bad_schnorr_arguments() -> None:
    xonly = secp256k1.xonly_public_key(KEY)
    with pytest.raises(errors.InvalidInput, match="aux_rand must be 32 bytes, got 31"):
        secp256k1.schnorr_sign(KEY, DIGEST, bytes(31))
    with pytest.raises(errors.InvalidSignature, match="BIP340 signature must be 64 bytes, got 63"):
        secp256k1.schnorr_verify(xonly, DIGEST, bytes(63))
    # aux_rand=None draws fresh randomness: two signatures differ, both verify.
    a = secp256k1.schnorr_sign(KEY, DIGEST, None)
    b = secp256k1.schnorr_sign(KEY, DIGEST)
    assert a != b
    assert secp256k1.schnorr_verify(xonly, DIGEST, a)
    assert secp256k1.schnorr_verify(xonly, DIGEST, b)


BAD_TYPES: list[object] = ["00" * 32, 42, None, [1, 2, 3]]
BAD_TYPE_IDS = ["str", "int", "None", "list"]

# (function, valid arguments, argument names); names ending in "s" are sequences.
TYPED_CALLS: list[tuple[Callable[..., object], tuple[object, ...], tuple[str, ...]]] = [
    (secp256k1.public_key, (KEY,), ("private_key",)),
    (secp256k1.xonly_public_key, (KEY,), ("private_key",)),
    (secp256k1.convert_public_key, (VALID_PK,), ("public_key",)),
    (secp256k1.sign, (KEY, DIGEST), ("private_key", "digest")),
    (secp256k1.sign_der, (KEY, DIGEST), ("private_key", "digest")),
    (secp256k1.sign_recoverable, (KEY, DIGEST), ("private_key", "digest")),
    (secp256k1.recover, (DIGEST, VALID_SIG + b"\x00"), ("digest", "signature")),
    (secp256k1.verify, (VALID_PK, DIGEST, VALID_SIG), ("public_key", "digest", "signature")),
    (secp256k1.schnorr_sign, (KEY, DIGEST), ("private_key", "message")),
    (
        secp256k1.schnorr_verify,
        (VALID_PK[1:], DIGEST, bytes(64)),
        ("public_key", "message", "signature"),
    ),
    (secp256k1.ecdh, (KEY, VALID_PK), ("private_key", "public_key")),
    (secp256k1.sign_batch, (KEY, [DIGEST]), ("private_key", "digests")),
    (secp256k1.sign_many, ([KEY], [DIGEST]), ("private_keys", "digests")),
    (
        secp256k1.verify_batch,
        ([VALID_PK], [DIGEST], [VALID_SIG]),
        ("public_keys", "digests", "signatures"),
    ),
]


def _type_cases() -> list[Any]:
    cases = []
    for fn, args, names in TYPED_CALLS:
        for position, name in enumerate(names):
            for bad, bad_id in zip(BAD_TYPES, BAD_TYPE_IDS, strict=True):
                got = type(bad).__name__
                if name.endswith("s") and isinstance(bad, list):
                    bad, got = ["not bytes"], "str"  # a list is a sequence: make its item wrong
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
    # The message names the argument, what it must be, and what it got.
    assert message.startswith(name)
    assert "must be" in message
    assert message.endswith(f"got {got}") or f"got a single {got}" in message
    # InvalidType is also a TypeError, for callers that catch the builtin.
    assert isinstance(info.value, TypeError)


def test_schnorr_aux_rand_wrong_type() -> None:
    with pytest.raises(errors.InvalidType, match="aux_rand must be bytes, got str"):
        secp256k1.schnorr_sign(KEY, DIGEST, "x" * 32)  # type: ignore[arg-type]


def test_single_bytes_is_not_a_batch() -> None:
    with pytest.raises(errors.InvalidType, match="sequence of bytes, got a single bytes"):
        secp256k1.sign_batch(KEY, DIGEST)  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidType, match="sequence of bytes, got a single str"):
        secp256k1.verify_batch(VALID_PK, "digests", [VALID_SIG])  # type: ignore[arg-type]


# --- Property tests on the parsers --------------------------------------------


def _mutate(data: bytes, position: int, value: int, op: int) -> bytes:
    """One edit of ``data``: replace, insert or delete a byte, or truncate."""
    if not data:
        return bytes([value])
    i = position % len(data)
    if op == 0:
        return data[:i] + bytes([value]) + data[i + 1 :]
    if op == 1:
        return data[:i] + bytes([value]) + data[i:]
    if op == 2:
        return data[:i] + data[i + 1 :]
    return data[:i]


_der_like = st.builds(
    _mutate,
    st.sampled_from([_GOOD_DER, encode_dss_signature(N - 1, 1), encode_dss_signature(1, N)]),
    st.integers(0, 80),
    st.integers(0, 255),
    st.integers(0, 3),
)
_signature_bytes = st.one_of(st.binary(max_size=80), st.binary(min_size=64, max_size=64), _der_like)
_point_like = st.one_of(
    st.binary(max_size=70),
    st.builds(lambda p, x: bytes([p]) + x, st.sampled_from([2, 3, 4]), st.binary(min_size=32, max_size=32)),
    st.builds(
        lambda x, y: b"\x04" + x + y,
        st.binary(min_size=32, max_size=32),
        st.binary(min_size=32, max_size=32),
    ),
)


@settings(max_examples=400)
@given(signature=_signature_bytes, allow_high_s=st.booleans())
def test_property_signature_parser(signature: bytes, allow_high_s: bool) -> None:
    try:
        result = secp256k1.verify(VALID_PK, DIGEST, signature, allow_high_s=allow_high_s)
    except errors.InvalidSignature:
        result = None
    else:
        assert isinstance(result, bool)
    batch = secp256k1.verify_batch(VALID_PK, [DIGEST], [signature], allow_high_s=allow_high_s)
    assert batch == [result is True]


@settings(max_examples=400)
@given(public_key=_point_like)
def test_property_public_key_parser(public_key: bytes) -> None:
    try:
        compressed = secp256k1.convert_public_key(public_key)
    except errors.InvalidKey:
        with pytest.raises(errors.InvalidKey):
            secp256k1.verify(public_key, DIGEST, VALID_SIG)
        with pytest.raises(errors.InvalidKey):
            secp256k1.ecdh(KEY, public_key)
        assert secp256k1.verify_batch([public_key], [DIGEST], [VALID_SIG]) == [False]
        return
    # A key that parses round-trips and agrees with coincurve.
    assert len(compressed) == 33
    assert coincurve.PublicKey(public_key).format() == compressed
    uncompressed = secp256k1.convert_public_key(compressed, compressed=False)
    assert secp256k1.convert_public_key(uncompressed) == compressed
    assert secp256k1.verify(public_key, DIGEST, VALID_SIG) is (compressed == VALID_PK)
    assert secp256k1.ecdh(KEY, public_key).expose_secret() == coincurve.PrivateKey(KEY).ecdh(public_key)


@settings(max_examples=300)
@given(private_key=st.one_of(st.binary(max_size=40), st.binary(min_size=32, max_size=32)))
def test_property_private_key_parser(private_key: bytes) -> None:
    valid = len(private_key) == 32 and 0 < int.from_bytes(private_key, "big") < N
    try:
        public_key = secp256k1.public_key(private_key)
    except errors.InvalidKey:
        assert not valid
        return
    assert valid
    assert public_key == coincurve.PrivateKey(private_key).public_key.format()


@settings(max_examples=300)
@given(signature=st.binary(min_size=60, max_size=70), digest=st.binary(min_size=32, max_size=32))
def test_property_recover_parser(signature: bytes, digest: bytes) -> None:
    try:
        public_key = secp256k1.recover(digest, signature)
    except errors.InvalidSignature:
        return
    assert len(signature) == 65
    assert len(public_key) == 33
    v = signature[64] - 27 if signature[64] >= 27 else signature[64]
    assert v in range(4)


@settings(max_examples=300)
@given(xonly=st.binary(min_size=30, max_size=34), signature=st.binary(min_size=62, max_size=66))
def test_property_schnorr_parsers(xonly: bytes, signature: bytes) -> None:
    try:
        result = secp256k1.schnorr_verify(xonly, DIGEST, signature)
    except (errors.InvalidKey, errors.InvalidSignature):
        return
    assert result is False  # random bytes never make a valid signature
