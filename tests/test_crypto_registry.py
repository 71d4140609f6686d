"""Every registry entry: generate → use → verify, export/import in every format,
interoperation with ``cryptography``, JWK field names, and tampering (issue 4).

rsa-2048 is deprecated and the default policy refuses it (see test_crypto_policy.py);
it is exercised here only under a policy that allows it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature as CryptographyInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, mldsa, mlkem, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric import ed25519 as c_ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from skms import errors
from skms.crypto import ALGORITHMS, CryptoPolicy, Purpose, Status, generate_key, load_private_key, load_public_key
from skms.crypto.keys import (
    FORMATS,
    AeadKey,
    AgreementPrivateKey,
    DecryptingKey,
    EncryptingKey,
    KemPrivateKey,
    Key,
    MacKey,
    PrivateKey,
    PublicKey,
    SigningKey,
    SymmetricKey,
    VerifyingKey,
)
from skms.crypto.registry import get

ISSUE_IDS = [
    "aes256-gcm", "chacha20-poly1305", "xchacha20-poly1305", "hmac-sha256", "hmac-sha512", "ed25519",
    "ecdsa-secp256k1", "schnorr-secp256k1", "ecdsa-p256", "ecdsa-p384", "rsa-3072", "rsa-4096", "x25519",
    "ml-dsa-44", "ml-dsa-65", "ml-dsa-87", "ml-kem-768", "ml-kem-1024", "falcon-512", "falcon-1024",
    "ed25519+ml-dsa-65", "x25519+ml-kem-768",
]  # fmt: skip
DEFAULT_ALGORITHMS = [a for a in ALGORITHMS if a != "rsa-2048"]
ALLOW_DEPRECATED = CryptoPolicy(allow_deprecated=True)
MESSAGE = b"skms issue 4: the same message for every algorithm"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# The formats each algorithm exports (private or symmetric key; public key).
_ASYM = ({"raw", "pkcs8-der", "pkcs8-pem", "jwk"}, {"raw", "spki-der", "spki-pem", "jwk"})
_RSA = ({"pkcs8-der", "pkcs8-pem", "jwk"}, {"spki-der", "spki-pem", "jwk"})
_KEM = ({"raw", "pkcs8-der", "pkcs8-pem"}, {"raw", "spki-der", "spki-pem"})
_RAW = ({"raw"}, {"raw"})
_SYM: tuple[set[str], set[str]] = ({"raw", "jwk"}, set())
EXPECTED_FORMATS: dict[str, tuple[set[str], set[str]]] = {
    "aes256-gcm": _SYM, "chacha20-poly1305": _SYM, "xchacha20-poly1305": _SYM, "hmac-sha256": _SYM,
    "hmac-sha512": _SYM, "blake3-keyed": _SYM, "ed25519": _ASYM, "ecdsa-secp256k1": _ASYM,
    "schnorr-secp256k1": _ASYM, "ecdsa-p256": _ASYM, "ecdsa-p384": _ASYM, "rsa-2048": _RSA, "rsa-3072": _RSA,
    "rsa-4096": _RSA, "x25519": _ASYM, "ml-dsa-44": _ASYM, "ml-dsa-65": _ASYM, "ml-dsa-87": _ASYM,
    "ml-kem-768": _KEM, "ml-kem-1024": _KEM, "falcon-512": _RAW, "falcon-1024": _RAW, "ed25519+ml-dsa-65": _RAW,
    "x25519+ml-kem-768": _RAW,
}  # fmt: skip

_KEYS: dict[str, Key] = {}


def key_for(algorithm: str) -> Key:
    """One key per algorithm for the whole run (RSA generation is slow)."""
    if algorithm not in _KEYS:
        _KEYS[algorithm] = generate_key(algorithm, policy=ALLOW_DEPRECATED)
    return _KEYS[algorithm]


def _b64(text: str) -> bytes:
    assert "=" not in text and "+" not in text and "/" not in text, "base64url without padding (RFC 7515 §2)"
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rejects(public: Any, message: bytes, signature: bytes) -> bool:
    """A signature fails: verify returns False or raises InvalidSignature (malformed)."""
    try:
        return public.verify(message, signature) is False
    except errors.InvalidSignature:
        return True


def positions(size: int, limit: int = 160) -> Iterator[int]:
    """Every byte position of a short value; for long ones both ends and a stride between."""
    if size <= limit:
        yield from range(size)
        return
    edge = limit // 4
    stride = max(1, size // (limit - 2 * edge))
    yield from sorted(set(range(edge)) | set(range(size - edge, size)) | set(range(0, size, stride)))


def flip(data: bytes, position: int) -> bytes:
    out = bytearray(data)
    out[position] ^= 0x01
    return bytes(out)


# --- The registry itself ----------------------------------------------------------------------


def test_registry_has_every_issue_algorithm() -> None:
    assert set(ISSUE_IDS) <= set(ALGORITHMS)
    assert set(ALGORITHMS) == set(EXPECTED_FORMATS)


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_registry_entry(algorithm: str) -> None:
    alg = get(algorithm)
    assert alg.id == algorithm
    assert alg.purposes and all(isinstance(p, Purpose) for p in alg.purposes)
    assert isinstance(alg.status, Status)
    assert 0 <= alg.quantum_category <= 5 and alg.classical_bits >= 112
    assert alg.quantum_safe == (alg.quantum_category > 0)
    assert alg.asymmetric == (alg.public_class is not None)
    assert alg.storage_format in EXPECTED_FORMATS[algorithm][0]


def test_unknown_algorithm() -> None:
    for name in ("aes128-gcm", "", "ED25519", "rsa"):
        with pytest.raises(errors.UnknownAlgorithm):
            get(name)
        with pytest.raises(errors.UnknownAlgorithm):
            generate_key(name)


# --- generate → use → verify --------------------------------------------------------------------


def exercise(key: Key, algorithm: str) -> None:
    """Uses a key for each purpose the registry gives its algorithm, and checks the result."""
    purposes = get(algorithm).purposes
    assert key.algorithm == algorithm
    assert isinstance(key, AeadKey) == (Purpose.ENCRYPT in purposes and isinstance(key, SymmetricKey))
    assert isinstance(key, MacKey) == (Purpose.MAC in purposes)
    assert isinstance(key, SigningKey) == (Purpose.SIGN in purposes)
    assert isinstance(key, KemPrivateKey) == (Purpose.KEM in purposes)
    assert isinstance(key, AgreementPrivateKey) == (Purpose.KEY_AGREEMENT in purposes)
    if isinstance(key, AeadKey):
        ciphertext = key.encrypt(MESSAGE, b"context")
        assert key.decrypt(ciphertext, b"context") == MESSAGE
        assert key.encrypt(MESSAGE, b"context") != ciphertext, "fresh random nonce"
        assert key.decrypt(key.encrypt(b""), b"") == b""
    if isinstance(key, MacKey):
        tag = key.mac(MESSAGE)
        assert key.verify(MESSAGE, tag) is True
        assert key.verify(MESSAGE + b".", tag) is False
    if isinstance(key, SigningKey):
        public = key.public_key()
        assert isinstance(public, VerifyingKey) and public.algorithm == algorithm
        signature = key.sign(MESSAGE)
        assert public.verify(MESSAGE, signature) is True
        assert rejects(public, MESSAGE + b".", signature)
        assert public.verify(b"", key.sign(b"")) is True
    if isinstance(key, DecryptingKey):
        encrypting = key.public_key()
        assert isinstance(encrypting, EncryptingKey)
        assert key.decrypt(encrypting.encrypt(b"a data key, 32 bytes long......")) == b"a data key, 32 bytes long......"
    if isinstance(key, KemPrivateKey):
        shared, ciphertext = key.public_key().encapsulate()
        assert len(shared) == 32
        assert key.decapsulate(ciphertext) == shared
    if isinstance(key, AgreementPrivateKey):
        peer = generate_key(algorithm)
        assert isinstance(peer, AgreementPrivateKey)
        assert key.exchange(peer.public_key()) == peer.exchange(key.public_key())
        assert key.exchange(peer.public_key().export("raw")) == peer.exchange(key.public_key())  # type: ignore[arg-type]
    if get(algorithm).asymmetric:
        assert isinstance(key, PrivateKey)
        assert isinstance(key.public_key(), PublicKey) and key.public_key().algorithm == algorithm
    else:
        assert isinstance(key, SymmetricKey) and not hasattr(key, "public_key")


@pytest.mark.parametrize("algorithm", DEFAULT_ALGORITHMS)
def test_round_trip(algorithm: str) -> None:
    exercise(key_for(algorithm), algorithm)


def test_rsa_2048_under_a_policy_that_allows_it() -> None:
    with pytest.raises(errors.AlgorithmNotAllowed, match="deprecated"):
        generate_key("rsa-2048")
    exercise(key_for("rsa-2048"), "rsa-2048")


@pytest.mark.parametrize("algorithm", ["ecdsa-secp256k1", "ecdsa-p256", "ecdsa-p384"])
def test_sign_digest_matches_sign(algorithm: str) -> None:
    key = key_for(algorithm)
    digest_name = "sha384" if algorithm == "ecdsa-p384" else "sha256"
    signature = key.sign_digest(hashlib.new(digest_name, MESSAGE).digest())  # type: ignore[attr-defined]
    assert key.public_key().verify(MESSAGE, signature) is True  # type: ignore[attr-defined]


# --- Export and import ------------------------------------------------------------------------


def _exports(key: Key) -> dict[str, Any]:
    out = {}
    for fmt in FORMATS:
        with contextlib.suppress(errors.InvalidFormat):
            out[fmt] = key.export(fmt)  # type: ignore[attr-defined]
    return out


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_every_export_format_reimports(algorithm: str) -> None:
    key = key_for(algorithm)
    private_formats, public_formats = EXPECTED_FORMATS[algorithm]
    exported = _exports(key)
    assert set(exported) == private_formats
    for fmt, data in exported.items():
        again = load_private_key(algorithm, data, fmt, policy=ALLOW_DEPRECATED)
        assert type(again) is type(key)
        for other, value in exported.items():
            assert again.export(other) == value, (fmt, other)  # type: ignore[attr-defined]
    # The registry's default import format is the storage format.
    stored = exported[get(algorithm).storage_format]
    assert load_private_key(algorithm, stored, policy=ALLOW_DEPRECATED).export(get(algorithm).storage_format) == stored  # type: ignore[attr-defined]
    if not public_formats:
        with pytest.raises(errors.UnsupportedOperation):
            load_public_key(algorithm, b"", policy=ALLOW_DEPRECATED)
        return
    public = key.public_key()  # type: ignore[attr-defined]
    public_exported = _exports(public)
    assert set(public_exported) == public_formats
    for fmt, data in public_exported.items():
        again = load_public_key(algorithm, data, fmt, policy=ALLOW_DEPRECATED)
        for other, value in public_exported.items():
            assert again.export(other) == value, (fmt, other)
    default = "spki-der" if get(algorithm).family == "rsa" else "raw"
    assert (
        load_public_key(algorithm, public_exported[default], policy=ALLOW_DEPRECATED).export(default)
        == (public_exported[default])
    )


@pytest.mark.parametrize("algorithm", DEFAULT_ALGORITHMS)
def test_reimported_key_still_works(algorithm: str) -> None:
    key = key_for(algorithm)
    stored = key.export(get(algorithm).storage_format)  # type: ignore[attr-defined]
    again = load_private_key(algorithm, stored)
    if isinstance(key, AeadKey):
        assert isinstance(again, AeadKey)
        assert again.decrypt(key.encrypt(MESSAGE)) == MESSAGE
    elif isinstance(key, MacKey):
        assert isinstance(again, MacKey)
        assert again.mac(MESSAGE) == key.mac(MESSAGE)
    elif isinstance(key, SigningKey):
        assert isinstance(again, SigningKey)
        assert key.public_key().verify(MESSAGE, again.sign(MESSAGE)) is True
    elif isinstance(key, KemPrivateKey):
        assert isinstance(again, KemPrivateKey)
        shared, ciphertext = key.public_key().encapsulate()
        assert again.decapsulate(ciphertext) == shared
    else:
        assert isinstance(key, AgreementPrivateKey) and isinstance(again, AgreementPrivateKey)
        peer = generate_key(algorithm).public_key()  # type: ignore[attr-defined]
        assert again.exchange(peer) == key.exchange(peer)


@pytest.mark.parametrize("fmt", ["bogus", "PKCS8-DER", "der", "pem", ""])
def test_unknown_export_format(fmt: str) -> None:
    for algorithm in DEFAULT_ALGORITHMS:
        key = key_for(algorithm)
        with pytest.raises(errors.InvalidFormat):
            key.export(fmt)  # type: ignore[attr-defined]
        if fmt:  # an empty format means the algorithm's default, like None
            with pytest.raises(errors.InvalidFormat):
                load_private_key(algorithm, b"\x00" * 32, fmt)


# --- Interoperation with cryptography's loaders ---------------------------------------------------

# skms id: the cryptography private and public key classes its PKCS#8 / SPKI loads as.
CRYPTOGRAPHY_TYPES: dict[str, tuple[type, type]] = {
    "ed25519": (c_ed25519.Ed25519PrivateKey, c_ed25519.Ed25519PublicKey),
    "ecdsa-secp256k1": (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey),
    "schnorr-secp256k1": (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey),
    "ecdsa-p256": (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey),
    "ecdsa-p384": (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey),
    "rsa-3072": (rsa.RSAPrivateKey, rsa.RSAPublicKey),
    "rsa-4096": (rsa.RSAPrivateKey, rsa.RSAPublicKey),
    "x25519": (x25519.X25519PrivateKey, x25519.X25519PublicKey),
    "ml-dsa-44": (mldsa.MLDSA44PrivateKey, mldsa.MLDSA44PublicKey),
    "ml-dsa-65": (mldsa.MLDSA65PrivateKey, mldsa.MLDSA65PublicKey),
    "ml-dsa-87": (mldsa.MLDSA87PrivateKey, mldsa.MLDSA87PublicKey),
    "ml-kem-768": (mlkem.MLKEM768PrivateKey, mlkem.MLKEM768PublicKey),
    "ml-kem-1024": (mlkem.MLKEM1024PrivateKey, mlkem.MLKEM1024PublicKey),
}


def test_pkcs_algorithms_are_all_covered() -> None:
    with_pkcs8 = {a for a in DEFAULT_ALGORITHMS if "pkcs8-der" in EXPECTED_FORMATS[a][0]}
    assert with_pkcs8 == set(CRYPTOGRAPHY_TYPES)


@pytest.mark.parametrize("algorithm", sorted(CRYPTOGRAPHY_TYPES))
def test_cryptography_loads_our_pkcs8_and_spki(algorithm: str) -> None:
    private_type, public_type = CRYPTOGRAPHY_TYPES[algorithm]
    key = key_for(algorithm)
    public = key.public_key()  # type: ignore[attr-defined]
    loaded = [
        ser.load_der_private_key(key.export("pkcs8-der"), None),  # type: ignore[attr-defined]
        ser.load_pem_private_key(key.export("pkcs8-pem"), None),  # type: ignore[attr-defined]
    ]
    for private in loaded:
        assert isinstance(private, private_type)
        # cryptography's own encoding of the key it loaded is byte-identical to ours.
        assert private.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption()) == key.export(  # type: ignore[attr-defined]
            "pkcs8-der"
        )
    for public_loaded in (
        ser.load_der_public_key(public.export("spki-der")),
        ser.load_pem_public_key(public.export("spki-pem")),
    ):
        assert isinstance(public_loaded, public_type)
        assert public_loaded.public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo) == public.export(
            "spki-der"
        )


def _pkcs8(key: Any) -> bytes:
    return key.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption())  # type: ignore[no-any-return]


def _spki(key: Any) -> bytes:
    return key.public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)  # type: ignore[no-any-return]


def test_interop_ed25519() -> None:
    theirs = c_ed25519.Ed25519PrivateKey.generate()
    ours = load_private_key("ed25519", _pkcs8(theirs), "pkcs8-der")
    assert isinstance(ours, SigningKey)
    assert ours.export("raw") == theirs.private_bytes_raw()
    theirs.public_key().verify(ours.sign(MESSAGE), MESSAGE)  # raises if invalid
    assert ours.sign(MESSAGE) == theirs.sign(MESSAGE), "Ed25519 is deterministic"
    public = load_public_key("ed25519", _spki(theirs.public_key()), "spki-pem")
    assert public.verify(MESSAGE, theirs.sign(MESSAGE)) is True  # type: ignore[attr-defined]


def _low_s(signature: bytes) -> bytes:
    r, s = decode_dss_signature(signature)
    return encode_dss_signature(r, min(s, SECP256K1_N - s))


def test_interop_secp256k1() -> None:
    theirs = ec.generate_private_key(ec.SECP256K1())
    ours = load_private_key("ecdsa-secp256k1", _pkcs8(theirs), "pkcs8-der")
    assert isinstance(ours, SigningKey)
    theirs.public_key().verify(ours.sign(MESSAGE), MESSAGE, ec.ECDSA(hashes.SHA256()))
    public = load_public_key("ecdsa-secp256k1", _spki(theirs.public_key()), "spki-pem")
    # cryptography may produce high-S signatures; SKMS accepts their low-S form only.
    for _ in range(8):
        signature = theirs.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))
        assert public.verify(MESSAGE, _low_s(signature)) is True  # type: ignore[attr-defined]
        if _low_s(signature) != signature:
            with pytest.raises(errors.InvalidSignature):
                public.verify(MESSAGE, signature)  # type: ignore[attr-defined]
    # The BIP340 key type reads the same PKCS#8: same scalar, x-only public key.
    schnorr = load_private_key("schnorr-secp256k1", _pkcs8(theirs), "pkcs8-der")
    assert schnorr.export("raw") == ours.export("raw")  # type: ignore[attr-defined]
    x = theirs.public_key().public_numbers().x.to_bytes(32, "big")
    assert schnorr.public_key().export("raw") == x  # type: ignore[attr-defined]


@pytest.mark.parametrize(("algorithm", "curve", "digest"), [
    ("ecdsa-p256", ec.SECP256R1(), hashes.SHA256()),
    ("ecdsa-p384", ec.SECP384R1(), hashes.SHA384()),
])  # fmt: skip
def test_interop_nist_ecdsa(algorithm: str, curve: ec.EllipticCurve, digest: hashes.HashAlgorithm) -> None:
    theirs = ec.generate_private_key(curve)
    ours = load_private_key(algorithm, _pkcs8(theirs), "pkcs8-der")
    assert isinstance(ours, SigningKey)
    theirs.public_key().verify(ours.sign(MESSAGE), MESSAGE, ec.ECDSA(digest))
    assert ours.public_key().verify(MESSAGE, theirs.sign(MESSAGE, ec.ECDSA(digest))) is True
    public = load_public_key(algorithm, _spki(theirs.public_key()), "spki-pem")
    assert public.verify(MESSAGE, theirs.sign(MESSAGE, ec.ECDSA(digest))) is True  # type: ignore[attr-defined]
    # And the other way: a key made by skms, loaded by cryptography.
    made = key_for(algorithm)
    loaded = ser.load_der_private_key(made.export("pkcs8-der"), None)  # type: ignore[attr-defined]
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert made.public_key().verify(MESSAGE, loaded.sign(MESSAGE, ec.ECDSA(digest))) is True  # type: ignore[attr-defined]


_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


@pytest.mark.parametrize("bits", [3072, 4096])
def test_interop_rsa(bits: int) -> None:
    algorithm = f"rsa-{bits}"
    theirs = (
        rsa.generate_private_key(65537, bits)
        if bits == 3072
        else ser.load_der_private_key(
            key_for(algorithm).export("pkcs8-der"),
            None,  # type: ignore[attr-defined]
        )
    )
    assert isinstance(theirs, rsa.RSAPrivateKey)
    ours = load_private_key(algorithm, _pkcs8(theirs), "pkcs8-der")
    assert isinstance(ours, SigningKey) and isinstance(ours, DecryptingKey)
    public = load_public_key(algorithm, _spki(theirs.public_key()), "spki-pem")
    # RSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt) both ways.
    theirs.public_key().verify(ours.sign(MESSAGE), MESSAGE, _PSS, hashes.SHA256())
    assert public.verify(MESSAGE, theirs.sign(MESSAGE, _PSS, hashes.SHA256())) is True  # type: ignore[attr-defined]
    # RSA-OAEP (SHA-256) both ways.
    assert ours.decrypt(theirs.public_key().encrypt(b"data key", _OAEP)) == b"data key"
    assert theirs.decrypt(public.encrypt(b"data key"), _OAEP) == b"data key"  # type: ignore[attr-defined]
    # PKCS#1 v1.5 signatures are not SKMS's RSA scheme.
    assert public.verify(MESSAGE, theirs.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256())) is False  # type: ignore[attr-defined]


def test_interop_x25519() -> None:
    theirs = x25519.X25519PrivateKey.generate()
    ours = generate_key("x25519")
    assert isinstance(ours, AgreementPrivateKey)
    their_public = load_public_key("x25519", _spki(theirs.public_key()), "spki-pem")
    our_public = x25519.X25519PublicKey.from_public_bytes(ours.public_key().export("raw"))  # type: ignore[arg-type]
    assert ours.exchange(their_public).expose_secret() == theirs.exchange(our_public)  # type: ignore[arg-type]
    imported = load_private_key("x25519", _pkcs8(theirs), "pkcs8-der")
    assert imported.export("raw") == theirs.private_bytes_raw()  # type: ignore[attr-defined]


@pytest.mark.parametrize(("algorithm", "impl"), [
    ("ml-dsa-44", mldsa.MLDSA44PrivateKey),
    ("ml-dsa-65", mldsa.MLDSA65PrivateKey),
    ("ml-dsa-87", mldsa.MLDSA87PrivateKey),
])  # fmt: skip
def test_interop_ml_dsa(algorithm: str, impl: Any) -> None:
    theirs = impl.generate()
    ours = load_private_key(algorithm, _pkcs8(theirs), "pkcs8-der")
    assert isinstance(ours, SigningKey)
    assert ours.export("raw") == theirs.private_bytes_raw()
    theirs.public_key().verify(ours.sign(MESSAGE), MESSAGE)
    assert ours.public_key().verify(MESSAGE, theirs.sign(MESSAGE)) is True
    public = load_public_key(algorithm, _spki(theirs.public_key()), "spki-pem")
    assert public.export("raw") == theirs.public_key().public_bytes_raw()
    # The same seed gives the same key in both libraries.
    assert load_private_key(algorithm, theirs.private_bytes_raw()).public_key().export("raw") == public.export("raw")  # type: ignore[attr-defined]


@pytest.mark.parametrize(("algorithm", "impl"), [
    ("ml-kem-768", mlkem.MLKEM768PrivateKey), ("ml-kem-1024", mlkem.MLKEM1024PrivateKey),
])  # fmt: skip
def test_interop_ml_kem(algorithm: str, impl: Any) -> None:
    theirs = impl.generate()
    ours = load_private_key(algorithm, _pkcs8(theirs), "pkcs8-der")
    assert isinstance(ours, KemPrivateKey)
    shared, ciphertext = theirs.public_key().encapsulate()
    assert ours.decapsulate(ciphertext).expose_secret() == shared
    public = load_public_key(algorithm, _spki(theirs.public_key()), "spki-pem")
    shared2, ciphertext2 = public.encapsulate()  # type: ignore[attr-defined]
    assert theirs.decapsulate(ciphertext2) == shared2.expose_secret()


# --- JWK (RFC 7517/7518, RFC 8037 for OKP, RFC 8812 for secp256k1) -----------------------------

JWK_SYMMETRIC_ALG = {
    "aes256-gcm": "A256GCM", "chacha20-poly1305": "C20P", "xchacha20-poly1305": "XC20P",
    "hmac-sha256": "HS256", "hmac-sha512": "HS512", "blake3-keyed": None,
}  # fmt: skip
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "priv"}


@pytest.mark.parametrize("algorithm", sorted(JWK_SYMMETRIC_ALG))
def test_jwk_symmetric(algorithm: str) -> None:
    key = key_for(algorithm)
    jwk = key.export("jwk")  # type: ignore[attr-defined]
    expected = {"kty", "k"} | ({"alg"} if JWK_SYMMETRIC_ALG[algorithm] else set())
    assert set(jwk) == expected and jwk["kty"] == "oct"
    assert jwk.get("alg") == JWK_SYMMETRIC_ALG[algorithm]
    assert _b64(jwk["k"]) == key.export("raw")  # type: ignore[attr-defined]
    with pytest.raises(errors.InvalidFormat):
        load_private_key(algorithm, {**jwk, "kty": "OKP"}, "jwk")


@pytest.mark.parametrize(("algorithm", "crv"), [("ed25519", "Ed25519"), ("x25519", "X25519")])
def test_jwk_okp_rfc8037(algorithm: str, crv: str) -> None:
    key = key_for(algorithm)
    jwk = key.export("jwk")  # type: ignore[attr-defined]
    assert set(jwk) == {"kty", "crv", "x", "d"} and (jwk["kty"], jwk["crv"]) == ("OKP", crv)
    assert _b64(jwk["d"]) == key.export("raw")  # type: ignore[attr-defined]
    public_jwk = key.public_key().export("jwk")  # type: ignore[attr-defined]
    assert public_jwk == {k: v for k, v in jwk.items() if k != "d"}
    assert _b64(public_jwk["x"]) == key.public_key().export("raw")  # type: ignore[attr-defined]
    other = "X25519" if crv == "Ed25519" else "Ed25519"
    with pytest.raises(errors.InvalidFormat):
        load_public_key(algorithm, {**public_jwk, "crv": other}, "jwk")


def _key_with_leading_zero_x(curve: ec.EllipticCurve, size: int) -> int:
    """A small private scalar whose public x coordinate starts with a zero byte."""
    scalar = 1
    while ec.derive_private_key(scalar, curve).public_key().public_numbers().x >> (8 * size - 8):
        scalar += 1
    return scalar


@pytest.mark.parametrize(("algorithm", "crv", "curve", "size"), [
    ("ecdsa-p256", "P-256", ec.SECP256R1(), 32),
    ("ecdsa-p384", "P-384", ec.SECP384R1(), 48),
    ("ecdsa-secp256k1", "secp256k1", ec.SECP256K1(), 32),
])  # fmt: skip
def test_jwk_ec_full_length_coordinates(algorithm: str, crv: str, curve: ec.EllipticCurve, size: int) -> None:
    """RFC 7518 §6.2.1.2-6.2.2.1: x, y and d are always the full coordinate size,
    leading zero bytes included. RFC 8812 names the curve "secp256k1"."""
    for scalar in (1, _key_with_leading_zero_x(curve, size)):
        key = load_private_key(algorithm, scalar.to_bytes(size, "big"))
        jwk = key.export("jwk")  # type: ignore[attr-defined]
        assert set(jwk) == {"kty", "crv", "x", "y", "d"} and (jwk["kty"], jwk["crv"]) == ("EC", crv)
        numbers = ec.derive_private_key(scalar, curve).public_key().public_numbers()
        assert _b64(jwk["x"]) == numbers.x.to_bytes(size, "big")
        assert _b64(jwk["y"]) == numbers.y.to_bytes(size, "big")
        assert _b64(jwk["d"]) == scalar.to_bytes(size, "big")
        assert load_private_key(algorithm, jwk, "jwk").export("raw") == scalar.to_bytes(size, "big")  # type: ignore[attr-defined]
        public_jwk = key.public_key().export("jwk")  # type: ignore[attr-defined]
        assert public_jwk == {k: v for k, v in jwk.items() if k != "d"}


@pytest.mark.parametrize("algorithm", ["rsa-3072", "rsa-4096"])
def test_jwk_rsa_rfc7518(algorithm: str) -> None:
    key = key_for(algorithm)
    jwk = key.export("jwk")  # type: ignore[attr-defined]
    assert set(jwk) == {"kty", "n", "e", "d", "p", "q", "dp", "dq", "qi"} and jwk["kty"] == "RSA"
    assert jwk["e"] == "AQAB"  # 65537
    numbers = ser.load_der_private_key(key.export("pkcs8-der"), None).private_numbers()  # type: ignore[attr-defined,union-attr]
    for member, value in [("n", numbers.public_numbers.n), ("d", numbers.d), ("p", numbers.p), ("q", numbers.q),
                          ("dp", numbers.dmp1), ("dq", numbers.dmq1), ("qi", numbers.iqmp)]:  # fmt: skip
        raw = _b64(jwk[member])
        assert raw[0] != 0, f"{member}: Base64urlUInt has no leading zero octet"
        assert int.from_bytes(raw, "big") == value
    public_jwk = key.public_key().export("jwk")  # type: ignore[attr-defined]
    assert public_jwk == {"kty": "RSA", "n": jwk["n"], "e": "AQAB"}


@pytest.mark.parametrize("algorithm", ["ml-dsa-44", "ml-dsa-65", "ml-dsa-87"])
def test_jwk_ml_dsa_akp(algorithm: str) -> None:
    """draft-ietf-cose-dilithium: kty "AKP", alg "ML-DSA-xx", pub, and priv (the seed)."""
    key = key_for(algorithm)
    jwk = key.export("jwk")  # type: ignore[attr-defined]
    assert jwk["kty"] == "AKP" and jwk["alg"] == algorithm.upper()
    assert set(jwk) == {"kty", "alg", "pub", "priv"}
    assert _b64(jwk["priv"]) == key.export("raw")  # type: ignore[attr-defined]
    assert _b64(jwk["pub"]) == key.public_key().export("raw")  # type: ignore[attr-defined]


@pytest.mark.parametrize("algorithm", DEFAULT_ALGORITHMS)
def test_public_jwk_has_no_private_member(algorithm: str) -> None:
    key = key_for(algorithm)
    if not get(algorithm).asymmetric or "jwk" not in EXPECTED_FORMATS[algorithm][1]:
        return
    assert not PRIVATE_MEMBERS & set(key.public_key().export("jwk"))  # type: ignore[attr-defined]


def test_jwk_schnorr_private_key_is_consistent() -> None:
    # Scalar 6: 6·G has an odd y, so its BIP340 x-only key lifts to -6·G.
    key = load_private_key("schnorr-secp256k1", (6).to_bytes(32, "big"))
    jwk = key.export("jwk")  # type: ignore[attr-defined]
    d, x, y = (int.from_bytes(_b64(jwk[m]), "big") for m in ("d", "x", "y"))
    # cryptography checks that the public point belongs to d.
    ec.EllipticCurvePrivateNumbers(d, ec.EllipticCurvePublicNumbers(x, y, ec.SECP256K1())).private_key()


# --- Tampering -------------------------------------------------------------------------------------

AEADS = ["aes256-gcm", "chacha20-poly1305", "xchacha20-poly1305"]


@pytest.mark.parametrize("algorithm", AEADS)
def test_aead_tampering(algorithm: str) -> None:
    key = key_for(algorithm)
    assert isinstance(key, AeadKey)
    ad = b"tenant=1;key=7;version=3"
    ciphertext = key.encrypt(b"short", ad)
    nonce = 24 if algorithm == "xchacha20-poly1305" else 12
    assert len(ciphertext) == nonce + 5 + 16
    for position in range(len(ciphertext)):  # nonce, body and tag
        with pytest.raises(errors.IntegrityError):
            key.decrypt(flip(ciphertext, position), ad)
    for size in range(len(ciphertext)):
        with pytest.raises(errors.IntegrityError):
            key.decrypt(ciphertext[:size], ad)
    for altered in (ciphertext + b"\x00", ciphertext[:nonce] + ciphertext[nonce + 1 :]):
        with pytest.raises(errors.IntegrityError):
            key.decrypt(altered, ad)
    for wrong_ad in (b"", ad[:-1], ad + b"\x00", flip(ad, 0), b"tenant=2;key=7;version=3"):
        with pytest.raises(errors.IntegrityError):
            key.decrypt(ciphertext, wrong_ad)
    with pytest.raises(errors.IntegrityError):
        generate_key(algorithm).decrypt(ciphertext, ad)  # type: ignore[attr-defined]
    assert key.decrypt(ciphertext, ad) == b"short"


def test_aead_ciphertext_does_not_cross_algorithms() -> None:
    material = bytes(range(32))
    keys = [load_private_key(a, material) for a in AEADS]
    for encrypting in keys:
        ciphertext = encrypting.encrypt(MESSAGE)  # type: ignore[attr-defined]
        for decrypting in keys:
            if decrypting is not encrypting:
                with pytest.raises(errors.IntegrityError):
                    decrypting.decrypt(ciphertext)  # type: ignore[attr-defined]


@pytest.mark.parametrize("algorithm", ["aes256-gcm", "chacha20-poly1305"])
def test_aead_message_bound(algorithm: str) -> None:
    """A key with random 96-bit nonces refuses to encrypt past its message bound."""
    key = generate_key(algorithm)
    assert key.max_messages == 2**32  # type: ignore[attr-defined]
    key.max_messages = 3  # type: ignore[attr-defined]
    for _ in range(3):
        key.encrypt(b"x")  # type: ignore[attr-defined]
    with pytest.raises(errors.InvalidInput):
        key.encrypt(b"x")  # type: ignore[attr-defined]


@pytest.mark.parametrize("algorithm", ["hmac-sha256", "hmac-sha512", "blake3-keyed"])
def test_mac_tampering(algorithm: str) -> None:
    key = key_for(algorithm)
    assert isinstance(key, MacKey)
    tag = key.mac(MESSAGE)
    for position in range(len(tag)):
        assert key.verify(MESSAGE, flip(tag, position)) is False
    for size in range(len(tag)):
        assert key.verify(MESSAGE, tag[:size]) is False
    assert key.verify(MESSAGE, tag + b"\x00") is False
    for position in positions(len(MESSAGE)):
        assert key.verify(flip(MESSAGE, position), tag) is False
    assert key.verify(MESSAGE, generate_key(algorithm).mac(MESSAGE)) is False  # type: ignore[attr-defined]
    assert key.verify(MESSAGE, tag) is True


SIGNERS = [a for a in DEFAULT_ALGORITHMS if Purpose.SIGN in get(a).purposes]


@pytest.mark.parametrize("algorithm", SIGNERS)
def test_signature_tampering(algorithm: str) -> None:
    key = key_for(algorithm)
    assert isinstance(key, SigningKey)
    public = key.public_key()
    signature = key.sign(MESSAGE)
    for position in positions(len(signature)):
        assert rejects(public, MESSAGE, flip(signature, position)), position
    for size in (0, 1, len(signature) // 2, len(signature) - 1):
        assert rejects(public, MESSAGE, signature[:size]), size
    assert rejects(public, MESSAGE, signature + b"\x00")
    for position in positions(len(MESSAGE)):
        assert rejects(public, flip(MESSAGE, position), signature)
    other = generate_key(algorithm)
    assert isinstance(other, SigningKey)
    assert rejects(public, MESSAGE, other.sign(MESSAGE))
    assert rejects(other.public_key(), MESSAGE, signature)
    assert public.verify(MESSAGE, signature) is True


@pytest.mark.parametrize("algorithm", ["rsa-3072", "rsa-4096"])
def test_rsa_oaep_tampering(algorithm: str) -> None:
    key = key_for(algorithm)
    assert isinstance(key, DecryptingKey)
    ciphertext = key.public_key().encrypt(b"a 32-byte data encryption key...")
    for position in positions(len(ciphertext), limit=96):
        with pytest.raises(errors.IntegrityError):
            key.decrypt(flip(ciphertext, position))
    for altered in (ciphertext[:-1], ciphertext + b"\x00", b""):
        with pytest.raises((errors.IntegrityError, errors.InvalidInput)):
            key.decrypt(altered)
    other = rsa.generate_private_key(65537, int(algorithm[4:])).public_key()
    with pytest.raises(errors.IntegrityError):  # a ciphertext for another key of the same size
        key.decrypt(other.encrypt(b"a 32-byte data encryption key...", _OAEP))


@pytest.mark.parametrize("algorithm", ["ml-kem-768", "ml-kem-1024"])
def test_ml_kem_altered_ciphertext(algorithm: str) -> None:
    """ML-KEM rejects implicitly: an altered ciphertext decapsulates to an unrelated secret."""
    key = key_for(algorithm)
    assert isinstance(key, KemPrivateKey)
    shared, ciphertext = key.public_key().encapsulate()
    for position in positions(len(ciphertext), limit=64):
        assert key.decapsulate(flip(ciphertext, position)) != shared
    for altered in (ciphertext[:-1], ciphertext + b"\x00", b""):
        with pytest.raises(errors.IntegrityError):
            key.decapsulate(altered)


# --- Hybrid signature: ed25519+ml-dsa-65 -----------------------------------------------------------

HYBRID = "ed25519+ml-dsa-65"
ED_SIG = 64


def _hybrid() -> tuple[SigningKey, bytes, bytes, bytes]:
    key = generate_key(HYBRID)
    assert isinstance(key, SigningKey)
    public_raw = key.public_key().export("raw")
    private_raw = key.export("raw")
    assert isinstance(public_raw, bytes) and isinstance(private_raw, bytes)
    return key, public_raw, private_raw, key.sign(MESSAGE)


def test_hybrid_stripped_component_fails() -> None:
    key, _, _, signature = _hybrid()
    public = key.public_key()
    ed_part, ml_part = signature[:ED_SIG], signature[ED_SIG:]
    for stripped in (ed_part, ml_part):
        with pytest.raises(errors.InvalidSignature):
            public.verify(MESSAGE, stripped)
    assert public.verify(MESSAGE, bytes(ED_SIG) + ml_part) is False
    assert public.verify(MESSAGE, ed_part + bytes(len(ml_part))) is False
    assert public.verify(MESSAGE, signature) is True


def test_hybrid_swapped_component_fails() -> None:
    key, _, _, signature = _hybrid()
    _, _, _, other_signature = _hybrid()
    public = key.public_key()
    assert public.verify(MESSAGE, other_signature[:ED_SIG] + signature[ED_SIG:]) is False
    assert public.verify(MESSAGE, signature[:ED_SIG] + other_signature[ED_SIG:]) is False
    # A component from another signature of the same key, over another message.
    another = key.sign(b"another message")
    assert public.verify(MESSAGE, another[:ED_SIG] + signature[ED_SIG:]) is False
    assert public.verify(MESSAGE, signature[:ED_SIG] + another[ED_SIG:]) is False


def test_hybrid_component_is_not_a_standalone_signature() -> None:
    """Each component signs a domain-separated message bound to the hybrid public key."""
    key, public_raw, private_raw, signature = _hybrid()
    ed_public = load_public_key("ed25519", public_raw[:32])
    ml_public = load_public_key("ml-dsa-65", public_raw[32:])
    assert ed_public.verify(MESSAGE, signature[:ED_SIG]) is False  # type: ignore[attr-defined]
    assert ml_public.verify(MESSAGE, signature[ED_SIG:]) is False  # type: ignore[attr-defined]
    # And plain signatures by the component keys do not combine into a hybrid one.
    ed_key = load_private_key("ed25519", private_raw[:32])
    ml_key = load_private_key("ml-dsa-65", private_raw[32:])
    assert ed_key.public_key().export("raw") == public_raw[:32]  # type: ignore[attr-defined]
    assert ml_key.public_key().export("raw") == public_raw[32:]  # type: ignore[attr-defined]
    plain_ed, plain_ml = ed_key.sign(MESSAGE), ml_key.sign(MESSAGE)  # type: ignore[attr-defined]
    public = key.public_key()
    assert public.verify(MESSAGE, plain_ed + plain_ml) is False
    assert public.verify(MESSAGE, plain_ed + signature[ED_SIG:]) is False
    assert public.verify(MESSAGE, signature[:ED_SIG] + plain_ml) is False


def test_hybrid_signature_is_bound_to_the_whole_public_key() -> None:
    """Two hybrid keys sharing their Ed25519 half still do not accept each other's signatures."""
    key, _, private_raw, signature = _hybrid()
    twin = load_private_key(HYBRID, private_raw[:32] + bytes(32))
    assert isinstance(twin, SigningKey)
    assert twin.public_key().verify(MESSAGE, signature) is False
    assert key.public_key().verify(MESSAGE, twin.sign(MESSAGE)) is False


# --- Key objects hold secrets carefully ---------------------------------------------------------


@pytest.mark.parametrize("algorithm", DEFAULT_ALGORITHMS)
def test_keys_cannot_be_pickled_and_repr_hides_material(algorithm: str) -> None:
    key = key_for(algorithm)
    with pytest.raises(errors.InvalidType):
        pickle.dumps(key)
    assert repr(key) == f"<{type(key).__name__} {algorithm}>"


def test_cryptography_rejects_a_tampered_skms_signature() -> None:
    """A last cross-check: the P-256 signature cryptography accepts is skms's, byte for byte."""
    key = key_for("ecdsa-p256")
    signature = key.sign(MESSAGE)  # type: ignore[attr-defined]
    theirs = ser.load_der_public_key(key.public_key().export("spki-der"))  # type: ignore[attr-defined]
    assert isinstance(theirs, ec.EllipticCurvePublicKey)
    theirs.verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(CryptographyInvalidSignature):
        theirs.verify(flip(signature, len(signature) - 1), MESSAGE, ec.ECDSA(hashes.SHA256()))
