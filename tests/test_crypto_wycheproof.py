"""Wycheproof and RFC vectors through the ``skms.crypto`` key objects (issue 4).

Every case of each file is run and counted. SKMS's AEAD profile is a 256-bit
key, a 96-bit nonce and a 128-bit tag, carried as ``nonce ‖ ciphertext ‖ tag``:
cases with another key, nonce or tag size cannot be expressed in it, must be
refused, and are counted apart as "outside the SKMS profile".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from skms import errors
from skms.crypto import load_private_key, load_public_key
from skms.crypto.keys import AeadKey, AgreementPrivateKey, b64url
from skms.crypto.keywrap import unwrap_key, wrap_key

Vectors = Callable[[str], Any]

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _cases(data: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(group, test) for every test of a Wycheproof file."""
    for group in data["testGroups"]:
        for test in group["tests"]:
            yield group, test


def _hex(test: dict[str, Any], field: str) -> bytes:
    return bytes.fromhex(test[field])


# --- AEAD: AES-256-GCM and ChaCha20-Poly1305 -----------------------------------------------------

# file: (algorithm, expected counts). Keys: valid/invalid cases in the profile, and the
# cases outside it by reason (key size; nonce or tag size).
AEAD_FILES = {
    "aes_gcm_test.json": (
        "aes256-gcm",
        {"valid": 39, "invalid": 27, "outside: key size": 211, "outside: nonce/tag size": 39},
    ),
    "chacha20_poly1305_test.json": (
        "chacha20-poly1305",
        {"valid": 256, "invalid": 60, "outside: nonce/tag size": 9},
    ),
}


@pytest.mark.parametrize("name", sorted(AEAD_FILES))
def test_wycheproof_aead(vectors: Vectors, name: str) -> None:
    algorithm, expected = AEAD_FILES[name]
    data = vectors(f"wycheproof/{name}")
    counts: Counter[str] = Counter()
    for group, test in _cases(data):
        tc = test["tcId"]
        try:
            key = load_private_key(algorithm, _hex(test, "key"))
        except errors.InvalidKey:
            # AES-128/192 keys: SKMS has only aes256-gcm.
            assert group["keySize"] != 256, tc
            counts["outside: key size"] += 1
            continue
        assert isinstance(key, AeadKey)
        blob = _hex(test, "iv") + _hex(test, "ct") + _hex(test, "tag")
        aad = _hex(test, "aad")
        if group["ivSize"] != 96 or group["tagSize"] != 128:
            # Not representable as a 12-byte nonce ‖ ct ‖ 16-byte tag: must never decrypt.
            with pytest.raises((errors.IntegrityError, errors.InvalidInput)):
                key.decrypt(blob, aad)
            counts["outside: nonce/tag size"] += 1
        elif test["result"] == "valid":
            assert key.decrypt(blob, aad) == _hex(test, "msg"), tc
            counts["valid"] += 1
        else:
            assert test["result"] == "invalid", tc
            with pytest.raises(errors.IntegrityError):
                key.decrypt(blob, aad)
            counts["invalid"] += 1
    assert dict(counts) == expected
    assert sum(counts.values()) == data["numberOfTests"]


# --- AES key wrap: RFC 3394 (KW) and RFC 5649 (KWP) ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "padding", "expected"),
    [
        # The 3 "acceptable" KW cases wrap 8-byte keys, below RFC 3394's 16-byte minimum: refused.
        ("aes_wrap_test.json", False, {"valid": 36, "invalid": 126, "acceptable (refused)": 3}),
        ("aes_kwp_test.json", True, {"valid": 77, "invalid": 177}),
    ],
)
def test_wycheproof_key_wrap(vectors: Vectors, name: str, padding: bool, expected: dict[str, int]) -> None:
    data = vectors(f"wycheproof/{name}")
    counts: Counter[str] = Counter()
    for _, test in _cases(data):
        kek, msg, ct = _hex(test, "key"), _hex(test, "msg"), _hex(test, "ct")
        if test["result"] == "valid":
            assert unwrap_key(kek, ct, padding=padding).expose_secret() == msg, test["tcId"]
            assert wrap_key(kek, msg, padding=padding) == ct, test["tcId"]
            counts["valid"] += 1
            continue
        with pytest.raises(errors.IntegrityError):
            unwrap_key(kek, ct, padding=padding)
        if test["result"] == "acceptable":
            assert test["flags"] == ["ShortKey"] and len(msg) == 8, test["tcId"]
            with pytest.raises(errors.InvalidInput):
                wrap_key(kek, msg, padding=padding)
            counts["acceptable (refused)"] += 1
        else:
            counts["invalid"] += 1
    assert dict(counts) == expected
    assert sum(counts.values()) == data["numberOfTests"]


def test_rfc3394_vectors(vectors: Vectors) -> None:
    data = vectors("rfc3394_aes_key_wrap_vectors.json")
    for case in data["tests"]:
        kek, key_data, wrapped = (bytes.fromhex(case[f]) for f in ("kek", "key_data", "ciphertext"))
        assert wrap_key(kek, key_data) == wrapped, case["section"]
        assert unwrap_key(kek, wrapped).expose_secret() == key_data, case["section"]
        tampered = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
        with pytest.raises(errors.IntegrityError):
            unwrap_key(kek, tampered)
    assert len(data["tests"]) == 6


def test_rfc5649_vectors(vectors: Vectors) -> None:
    data = vectors("rfc5649_aes_key_wrap_pad_vectors.json")
    for case in data["tests"]:
        kek, key_data, wrapped = (bytes.fromhex(case[f]) for f in ("kek", "key_data", "wrapped"))
        assert len(key_data) == case["key_data_length"]
        assert wrap_key(kek, key_data, padding=True) == wrapped, case["title"]
        assert unwrap_key(kek, wrapped, padding=True).expose_secret() == key_data, case["title"]
        # Neither length is a multiple of 8 bytes: RFC 3394 cannot wrap them.
        with pytest.raises(errors.InvalidInput):
            wrap_key(kek, key_data, padding=False)
        with pytest.raises(errors.IntegrityError):
            unwrap_key(kek, wrapped, padding=False)
    assert len(data["tests"]) == 2


# --- X25519 -------------------------------------------------------------------------------------


def test_wycheproof_x25519(vectors: Vectors) -> None:
    """Valid cases give the expected secret. "Acceptable" cases (twist points,
    non-canonical or small public keys…) are computed as RFC 7748 says and must
    give the expected secret too, except those whose secret is all zero
    (low-order peer keys), which raise InvalidKey."""
    data = vectors("wycheproof/x25519_test.json")
    counts: Counter[str] = Counter()
    for _, test in _cases(data):
        key = load_private_key("x25519", _hex(test, "private"))
        assert isinstance(key, AgreementPrivateKey)
        peer = _hex(test, "public")
        if "ZeroSharedSecret" in test["flags"]:
            assert test["shared"] == "00" * 32
            with pytest.raises(errors.InvalidKey):
                key.exchange(peer)
            with pytest.raises(errors.InvalidKey):
                key.exchange(load_public_key("x25519", peer))  # type: ignore[arg-type]
            counts[f"{test['result']}: zero secret refused"] += 1
            continue
        shared = key.exchange(peer).expose_secret()
        assert shared == _hex(test, "shared"), test["tcId"]
        assert key.exchange(load_public_key("x25519", peer)).expose_secret() == shared  # type: ignore[arg-type]
        counts[f"{test['result']}: computed"] += 1
    assert dict(counts) == {
        "valid: computed": 264,
        "acceptable: computed": 223,
        "acceptable: zero secret refused": 31,
    }
    assert sum(counts.values()) == data["numberOfTests"]


# --- Ed25519 ------------------------------------------------------------------------------------


def test_wycheproof_ed25519(vectors: Vectors) -> None:
    """Through ``load_public_key("ed25519", …).verify``; each group's key also
    loads from its SPKI DER, SPKI PEM and JWK forms to the same raw key."""
    data = vectors("wycheproof/ed25519_test.json")
    counts: Counter[str] = Counter()
    for group in data["testGroups"]:
        raw = bytes.fromhex(group["publicKey"]["pk"])
        public = load_public_key("ed25519", raw)
        assert load_public_key("ed25519", bytes.fromhex(group["publicKeyDer"]), "spki-der").export() == raw
        assert load_public_key("ed25519", group["publicKeyPem"].encode(), "spki-pem").export() == raw
        assert load_public_key("ed25519", group["publicKeyJwk"], "jwk").export() == raw
        for test in group["tests"]:
            message, signature = _hex(test, "msg"), _hex(test, "sig")
            if test["result"] == "valid":
                assert public.verify(message, signature) is True, test["tcId"]  # type: ignore[attr-defined]
                counts["valid"] += 1
                continue
            try:
                assert public.verify(message, signature) is False, test["tcId"]  # type: ignore[attr-defined]
                counts["invalid: False"] += 1
            except errors.InvalidSignature:
                counts["invalid: InvalidSignature"] += 1
    assert dict(counts) == {"valid": 88, "invalid: False": 34, "invalid: InvalidSignature": 29}
    assert sum(counts.values()) == data["numberOfTests"]


# --- ECDSA secp256k1 ----------------------------------------------------------------------------


def _secp256k1_public(group: dict[str, Any]) -> Any:
    """The group's key from its raw point; SPKI DER/PEM and an RFC 8812 JWK load to the same key."""
    raw = bytes.fromhex(group["publicKey"]["uncompressed"])
    public = load_public_key("ecdsa-secp256k1", raw)
    compressed = public.export()
    assert load_public_key("ecdsa-secp256k1", bytes.fromhex(group["publicKeyDer"]), "spki-der").export() == compressed
    assert load_public_key("ecdsa-secp256k1", group["publicKeyPem"].encode(), "spki-pem").export() == compressed
    x, y = (int(group["publicKey"][c], 16).to_bytes(32, "big") for c in ("wx", "wy"))
    jwk = {"kty": "EC", "crv": "secp256k1", "x": b64url(x), "y": b64url(y)}
    assert load_public_key("ecdsa-secp256k1", jwk, "jwk").export() == compressed
    return public


def _verify_counted(public: Any, test: dict[str, Any], counts: Counter[str]) -> None:
    message, signature = _hex(test, "msg"), _hex(test, "sig")
    if test["result"] == "valid":
        assert public.verify(message, signature) is True, test["tcId"]
        counts["valid"] += 1
        return
    try:
        assert public.verify(message, signature) is False, test["tcId"]
        counts["invalid: False"] += 1
    except errors.InvalidSignature:
        counts["invalid: InvalidSignature"] += 1


def test_wycheproof_ecdsa_secp256k1_bitcoin(vectors: Vectors) -> None:
    """The Bitcoin variant (low-S only) is exactly SKMS's ecdsa-secp256k1 profile."""
    data = vectors("wycheproof/ecdsa_secp256k1_sha256_bitcoin_test.json")
    counts: Counter[str] = Counter()
    for group in data["testGroups"]:
        public = _secp256k1_public(group)
        for test in group["tests"]:
            _verify_counted(public, test, counts)
    assert dict(counts) == {"valid": 162, "invalid: False": 101, "invalid: InvalidSignature": 200}
    assert sum(counts.values()) == data["numberOfTests"]


def test_wycheproof_ecdsa_secp256k1_plain(vectors: Vectors) -> None:
    """The plain file also calls high-S signatures valid. SKMS verifies low-S only
    (Bitcoin/Ethereum malleability rule), so those are outside its profile: each
    must raise InvalidSignature, and its low-S twin (r, n - s) must verify."""
    data = vectors("wycheproof/ecdsa_secp256k1_sha256_test.json")
    counts: Counter[str] = Counter()
    for group in data["testGroups"]:
        public = _secp256k1_public(group)
        for test in group["tests"]:
            message, signature = _hex(test, "msg"), _hex(test, "sig")
            if test["result"] == "valid":
                r, s = decode_dss_signature(signature)
                if s > SECP256K1_N // 2:
                    with pytest.raises(errors.InvalidSignature):
                        public.verify(message, signature)
                    assert public.verify(message, encode_dss_signature(r, SECP256K1_N - s)) is True
                    counts["outside: high S"] += 1
                    continue
            _verify_counted(public, test, counts)
    assert dict(counts) == {
        "valid": 96,
        "outside: high S": 72,
        "invalid: False": 99,
        "invalid: InvalidSignature": 209,
    }
    assert sum(counts.values()) == data["numberOfTests"]
