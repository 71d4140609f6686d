"""Classical asymmetric keys: Ed25519 and secp256k1 (native core), ECDSA P-256/P-384,
RSA-PSS / RSA-OAEP and X25519 (``cryptography``).

Raw forms follow each ecosystem: secp256k1 public keys are 33-byte compressed
points (Bitcoin), BIP340 keys 32-byte x-only, P-256/P-384 public keys uncompressed
X9.62 points (WebCrypto), Ed25519/X25519 the RFC 8032/7748 32-byte strings. RSA
has no raw form: its private keys travel as PKCS#8, public keys as SPKI.
"""

import hashlib
from typing import Any, ClassVar

from cryptography.exceptions import InvalidSignature as _BadSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization as _ser
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric import ed25519 as _ced25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from skms._native import SecretBytes, ed25519, oaep, secp256k1
from skms.crypto import _pkcs
from skms.crypto.keys import (
    AgreementPrivateKey,
    AgreementPublicKey,
    DecryptingKey,
    EncryptingKey,
    Exported,
    Jwk,
    PublicKey,
    SigningKey,
    VerifyingKey,
    b64url,
    expect_jwk,
    jwk_field,
    require_bytes,
    secret_bytes,
    typed,
)
from skms.crypto.memory import exposed, wipe
from skms.crypto.random import random_secret
from skms.errors import IntegrityError, InvalidFormat, InvalidInput, InvalidKey

# --- Ed25519 -------------------------------------------------------------------------


class Ed25519PublicKey(VerifyingKey):
    algorithm = "ed25519"

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise InvalidKey(f"Ed25519 public key must be 32 bytes, got {len(raw)}")
        # Parses the point now (strict: on the curve, canonical, not small-order), not at first use.
        ed25519.verify(raw, b"", bytes(64))
        self._raw = raw

    @typed
    def verify(self, message: bytes, signature: bytes) -> bool:
        return ed25519.verify(self._raw, message, signature)

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._raw
        if format in _pkcs.PUBLIC_FORMATS:
            return _pkcs.dump_public(_ced25519.Ed25519PublicKey.from_public_bytes(self._raw), format)
        if format == "jwk":
            return {"kty": "OKP", "crv": "Ed25519", "x": b64url(self._raw)}
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "Ed25519PublicKey":
        if format == "raw":
            return cls(require_bytes(data, "public key"))
        if format in _pkcs.PUBLIC_FORMATS:
            key = _pkcs.load_public(data, format, _ced25519.Ed25519PublicKey, cls.algorithm)
            return cls(key.public_bytes_raw())
        if format == "jwk":
            expect_jwk(data, kty="OKP", crv="Ed25519")
            return cls(jwk_field(data, "x"))
        raise InvalidFormat(f"{cls.algorithm} public keys import from raw, spki-der, spki-pem or jwk")


class Ed25519Key(SigningKey):
    algorithm = "ed25519"

    def __init__(self, seed: SecretBytes) -> None:
        if len(seed) != 32:
            raise InvalidKey(f"Ed25519 private key must be 32 bytes, got {len(seed)}")
        self._seed = seed
        self._public = Ed25519PublicKey(ed25519.public_key(seed))

    @classmethod
    def generate(cls) -> "Ed25519Key":
        return cls(random_secret(32))

    @typed
    def sign(self, message: bytes) -> bytes:
        return ed25519.sign(self._seed, message)

    def sign_batch(self, messages: list[bytes]) -> list[bytes]:
        return ed25519.sign_batch(self._seed, messages)

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    def export_secret(self, format: str = "raw") -> SecretBytes:
        return self._seed if format == "raw" else super().export_secret(format)

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._seed.expose_secret()
        if format in _pkcs.PRIVATE_FORMATS:
            key = _ced25519.Ed25519PrivateKey.from_private_bytes(self._seed.expose_secret())
            return _pkcs.dump_private(key, format)
        if format == "jwk":
            jwk = self._public.export("jwk")
            assert isinstance(jwk, dict)
            return {**jwk, "d": b64url(self._seed.expose_secret())}
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "Ed25519Key":
        if format == "raw":
            return cls(secret_bytes(data, "private key"))
        if format in _pkcs.PRIVATE_FORMATS:
            key = _pkcs.load_private(data, format, _ced25519.Ed25519PrivateKey, cls.algorithm)
            return cls(SecretBytes(key.private_bytes_raw()))
        if format == "jwk":
            expect_jwk(data, kty="OKP", crv="Ed25519")
            return cls(SecretBytes(jwk_field(data, "d")))
        raise InvalidFormat(f"{cls.algorithm} keys import from raw, pkcs8-der, pkcs8-pem or jwk")


# --- Elliptic curves through cryptography (secp256k1 formats, P-256, P-384) -----------------


def _ec_jwk_public(key: ec.EllipticCurvePublicKey, crv: str, size: int) -> Jwk:
    n = key.public_numbers()
    return {"kty": "EC", "crv": crv, "x": b64url(n.x.to_bytes(size, "big")), "y": b64url(n.y.to_bytes(size, "big"))}


def _ec_public_from_jwk(jwk: Any, curve: ec.EllipticCurve, crv: str) -> ec.EllipticCurvePublicKey:
    expect_jwk(jwk, kty="EC", crv=crv)
    x = int.from_bytes(jwk_field(jwk, "x"), "big")
    y = int.from_bytes(jwk_field(jwk, "y"), "big")
    try:
        return ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
    except ValueError:
        raise InvalidKey(f"JWK point is not on {crv}") from None


def _ec_private_from_scalar(scalar: bytes, curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
    try:
        return ec.derive_private_key(int.from_bytes(scalar, "big"), curve)
    except ValueError:
        raise InvalidKey(f"private scalar is out of range for {curve.name}") from None


#: PKCS#8 of an EC private key without its public key, up to the scalar (RFC 5915 inside RFC 5208).
_EC_PKCS8_PREFIX = {
    "secp256r1": bytes.fromhex("3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420"),
    "secp384r1": bytes.fromhex("304e020100301006072a8648ce3d020106052b81040022043730350201010430"),
}


def _ec_private_from_secret(scalar: SecretBytes, curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
    """The key of a stored scalar, passed to OpenSSL as PKCS#8 in a buffer wiped afterwards: no
    Python ``bytes`` or ``int`` copy of the scalar is made."""
    prefix = _EC_PKCS8_PREFIX.get(curve.name)
    if prefix is None:
        with exposed(scalar) as raw:
            return _ec_private_from_scalar(bytes(raw), curve)
    with exposed(scalar) as raw:
        der = bytearray(prefix)
        try:
            der += raw
            key = _ser.load_der_private_key(der, None)
        except ValueError:
            raise InvalidKey(f"private scalar is out of range for {curve.name}") from None
        finally:
            wipe(der)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _ec_scalar_secret(key: ec.EllipticCurvePrivateKey, size: int) -> SecretBytes:
    """The private scalar of ``key`` as a SecretBytes, cut from its SEC 1 DER (wiped afterwards)."""
    der = key.private_bytes(_ser.Encoding.DER, _ser.PrivateFormat.TraditionalOpenSSL, _ser.NoEncryption())
    try:
        at = der.index(bytes([2, 1, 1, 4, size])) + 5  # version 1, then the scalar's OCTET STRING
        return SecretBytes(memoryview(der)[at : at + size])
    finally:
        wipe(der)


class Secp256k1PublicKey(VerifyingKey):
    """ECDSA over secp256k1: messages hashed with SHA-256, DER signatures, low-S."""

    algorithm = "ecdsa-secp256k1"

    def __init__(self, raw: bytes) -> None:
        self._raw = secp256k1.convert_public_key(raw, compressed=True)

    @typed
    def verify(self, message: bytes, signature: bytes) -> bool:
        return secp256k1.verify(self._raw, hashlib.sha256(message).digest(), signature)

    @typed
    def verify_digest(self, digest: bytes, signature: bytes) -> bool:
        return secp256k1.verify(self._raw, digest, signature)

    def _crypto(self) -> ec.EllipticCurvePublicKey:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), self._raw)

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._raw
        if format in _pkcs.PUBLIC_FORMATS:
            return _pkcs.dump_public(self._crypto(), format)
        if format == "jwk":
            return _ec_jwk_public(self._crypto(), "secp256k1", 32)
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "Secp256k1PublicKey":
        return cls(_load_secp256k1_public(data, format, cls.algorithm))


def _load_secp256k1_public(data: Any, format: str, algorithm: str) -> bytes:
    if format == "raw":
        return require_bytes(data, "public key")
    if format in _pkcs.PUBLIC_FORMATS:
        loaded: ec.EllipticCurvePublicKey = _pkcs.load_public(data, format, ec.EllipticCurvePublicKey, algorithm)
        if not isinstance(loaded.curve, ec.SECP256K1):
            raise InvalidKey(f"the key is on {loaded.curve.name}, not secp256k1")
        return loaded.public_bytes(_ser.Encoding.X962, _ser.PublicFormat.CompressedPoint)
    if format == "jwk":
        key = _ec_public_from_jwk(data, ec.SECP256K1(), "secp256k1")
        return key.public_bytes(_ser.Encoding.X962, _ser.PublicFormat.CompressedPoint)
    raise InvalidFormat(f"{algorithm} public keys import from raw, spki-der, spki-pem or jwk")


def _load_secp256k1_private(data: Any, format: str, algorithm: str) -> SecretBytes:
    if format == "raw":
        return secret_bytes(data, "private key")
    if format in _pkcs.PRIVATE_FORMATS:
        key = _pkcs.load_private(data, format, ec.EllipticCurvePrivateKey, algorithm)
        if not isinstance(key.curve, ec.SECP256K1):
            raise InvalidKey(f"the key is on {key.curve.name}, not secp256k1")
        return SecretBytes(key.private_numbers().private_value.to_bytes(32, "big"))
    if format == "jwk":
        expect_jwk(data, kty="EC", crv="secp256k1")
        return SecretBytes(jwk_field(data, "d"))
    raise InvalidFormat(f"{algorithm} keys import from raw, pkcs8-der, pkcs8-pem or jwk")


def _secp256k1_export_private(scalar: SecretBytes, format: str, public_jwk: Exported) -> Exported | None:
    if format == "raw":
        return scalar.expose_secret()
    if format in _pkcs.PRIVATE_FORMATS:
        return _pkcs.dump_private(_ec_private_from_scalar(scalar.expose_secret(), ec.SECP256K1()), format)
    if format == "jwk":
        assert isinstance(public_jwk, dict)
        return {**public_jwk, "d": b64url(scalar.expose_secret())}
    return None


class Secp256k1Key(SigningKey):
    algorithm = "ecdsa-secp256k1"

    def __init__(self, scalar: SecretBytes) -> None:
        self._scalar = scalar
        self._public = Secp256k1PublicKey(secp256k1.public_key(scalar))

    @classmethod
    def generate(cls) -> "Secp256k1Key":
        while True:
            candidate = random_secret(32)
            try:
                return cls(candidate)
            except InvalidKey:  # 0 or >= n: probability 2^-128
                continue

    @typed
    def sign(self, message: bytes) -> bytes:
        return secp256k1.sign_der(self._scalar, hashlib.sha256(message).digest())

    def sign_batch(self, messages: list[bytes]) -> list[bytes]:
        return secp256k1.sign_der_batch(self._scalar, [hashlib.sha256(m).digest() for m in messages])

    @typed
    def sign_digest(self, digest: bytes) -> bytes:
        return secp256k1.sign_der(self._scalar, digest)

    def public_key(self) -> Secp256k1PublicKey:
        return self._public

    def export_secret(self, format: str = "raw") -> SecretBytes:
        return self._scalar if format == "raw" else super().export_secret(format)

    @typed
    def export(self, format: str = "raw") -> Exported:
        out = _secp256k1_export_private(self._scalar, format, self._public.export("jwk") if format == "jwk" else b"")
        if out is None:
            self._no_format(format)
        return out

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "Secp256k1Key":
        return cls(_load_secp256k1_private(data, format, cls.algorithm))


class SchnorrSecp256k1PublicKey(VerifyingKey):
    """BIP340: 32-byte x-only keys, 64-byte signatures over the message bytes."""

    algorithm = "schnorr-secp256k1"

    def __init__(self, xonly: bytes) -> None:
        if len(xonly) != 32:
            raise InvalidKey(f"BIP340 public key must be 32 bytes (x-only), got {len(xonly)}")
        self._raw = xonly
        self._point = secp256k1.convert_public_key(b"\x02" + xonly)  # checks x is on the curve

    @typed
    def verify(self, message: bytes, signature: bytes) -> bool:
        return secp256k1.schnorr_verify(self._raw, message, signature)

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._raw
        point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), self._point)
        if format in _pkcs.PUBLIC_FORMATS:
            return _pkcs.dump_public(point, format)
        if format == "jwk":
            return _ec_jwk_public(point, "secp256k1", 32)
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "SchnorrSecp256k1PublicKey":
        raw = _load_secp256k1_public(data, format, cls.algorithm)
        return cls(raw if format == "raw" else raw[1:])


class SchnorrSecp256k1Key(SigningKey):
    algorithm = "schnorr-secp256k1"

    def __init__(self, scalar: SecretBytes) -> None:
        self._scalar = scalar
        self._public = SchnorrSecp256k1PublicKey(secp256k1.xonly_public_key(scalar))

    @classmethod
    def generate(cls) -> "SchnorrSecp256k1Key":
        while True:
            try:
                return cls(random_secret(32))
            except InvalidKey:  # 0 or >= n: probability 2^-128
                continue

    @typed
    def sign(self, message: bytes) -> bytes:
        return secp256k1.schnorr_sign(self._scalar, message)

    def public_key(self) -> SchnorrSecp256k1PublicKey:
        return self._public

    def export_secret(self, format: str = "raw") -> SecretBytes:
        return self._scalar if format == "raw" else super().export_secret(format)

    @typed
    def export(self, format: str = "raw") -> Exported:
        # The JWK pairs d with d·G itself (BIP340's even-y key may be its negation).
        public_jwk = Secp256k1PublicKey(secp256k1.public_key(self._scalar)).export("jwk") if format == "jwk" else b""
        out = _secp256k1_export_private(self._scalar, format, public_jwk)
        if out is None:
            self._no_format(format)
        return out

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "SchnorrSecp256k1Key":
        return cls(_load_secp256k1_private(data, format, cls.algorithm))


class _NistEcPublicKey(VerifyingKey):
    curve: ClassVar[ec.EllipticCurve]
    crv: ClassVar[str]
    size: ClassVar[int]
    hash: ClassVar[type[hashes.HashAlgorithm]]

    def __init__(self, key: ec.EllipticCurvePublicKey) -> None:
        self._key = key
        self._ecdsa = ec.ECDSA(self.hash())

    @typed
    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, message, self._ecdsa)
            return True
        except _BadSignature:
            return False

    @typed
    def verify_digest(self, digest: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, digest, ec.ECDSA(Prehashed(self.hash())))
            return True
        except _BadSignature:
            return False
        except ValueError:
            raise InvalidInput(f"the digest must be {self.hash.digest_size} bytes, got {len(digest)}") from None

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._key.public_bytes(_ser.Encoding.X962, _ser.PublicFormat.UncompressedPoint)
        if format in _pkcs.PUBLIC_FORMATS:
            return _pkcs.dump_public(self._key, format)
        if format == "jwk":
            return _ec_jwk_public(self._key, self.crv, self.size)
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "_NistEcPublicKey":
        if format == "raw":
            try:
                return cls(ec.EllipticCurvePublicKey.from_encoded_point(cls.curve, require_bytes(data, "public key")))
            except ValueError:
                raise InvalidKey(f"not a {cls.crv} point (X9.62 encoding)") from None
        if format in _pkcs.PUBLIC_FORMATS:
            key = _pkcs.load_public(data, format, ec.EllipticCurvePublicKey, cls.algorithm)
            if key.curve.name != cls.curve.name:
                raise InvalidKey(f"the key is on {key.curve.name}, not {cls.crv}")
            return cls(key)
        if format == "jwk":
            return cls(_ec_public_from_jwk(data, cls.curve, cls.crv))
        raise InvalidFormat(f"{cls.algorithm} public keys import from raw, spki-der, spki-pem or jwk")


class _NistEcKey(SigningKey):
    public_class: ClassVar[type[_NistEcPublicKey]]

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key
        self._public = self.public_class(key.public_key())
        self._ecdsa = ec.ECDSA(self.public_class.hash())

    @classmethod
    def generate(cls) -> "_NistEcKey":
        size = cls.public_class.size
        while True:
            try:
                return cls(_ec_private_from_secret(random_secret(size), cls.public_class.curve))
            except InvalidKey:
                continue

    @typed
    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message, self._ecdsa)

    @typed
    def sign_digest(self, digest: bytes) -> bytes:
        try:
            return self._key.sign(digest, ec.ECDSA(Prehashed(self.public_class.hash())))
        except ValueError:
            size = self.public_class.hash.digest_size
            raise InvalidInput(f"a {self.algorithm} digest is {size} bytes, got {len(digest)}") from None

    def public_key(self) -> _NistEcPublicKey:
        return self._public

    def export_secret(self, format: str = "raw") -> SecretBytes:
        if format == "raw":
            return _ec_scalar_secret(self._key, self.public_class.size)
        return super().export_secret(format)

    @typed
    def export(self, format: str = "raw") -> Exported:
        size = self.public_class.size
        scalar = self._key.private_numbers().private_value.to_bytes(size, "big")
        if format == "raw":
            return scalar
        if format in _pkcs.PRIVATE_FORMATS:
            return _pkcs.dump_private(self._key, format)
        if format == "jwk":
            jwk = self._public.export("jwk")
            assert isinstance(jwk, dict)
            return {**jwk, "d": b64url(scalar)}
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "_NistEcKey":
        pub = cls.public_class
        if format == "raw":
            scalar = secret_bytes(data, "private key")
            if len(scalar) != pub.size:
                raise InvalidKey(f"{cls.algorithm} private key must be {pub.size} bytes, got {len(scalar)}")
            return cls(_ec_private_from_secret(scalar, pub.curve))
        if format in _pkcs.PRIVATE_FORMATS:
            key = _pkcs.load_private(data, format, ec.EllipticCurvePrivateKey, cls.algorithm)
            if key.curve.name != pub.curve.name:
                raise InvalidKey(f"the key is on {key.curve.name}, not {pub.crv}")
            return cls(key)
        if format == "jwk":
            expect_jwk(data, kty="EC", crv=pub.crv)
            return cls(_ec_private_from_scalar(jwk_field(data, "d"), pub.curve))
        raise InvalidFormat(f"{cls.algorithm} keys import from raw, pkcs8-der, pkcs8-pem or jwk")


class P256PublicKey(_NistEcPublicKey):
    algorithm = "ecdsa-p256"
    curve = ec.SECP256R1()
    crv = "P-256"
    size = 32
    hash = hashes.SHA256


class P256Key(_NistEcKey):
    algorithm = "ecdsa-p256"
    public_class = P256PublicKey


class P384PublicKey(_NistEcPublicKey):
    algorithm = "ecdsa-p384"
    curve = ec.SECP384R1()
    crv = "P-384"
    size = 48
    hash = hashes.SHA384


class P384Key(_NistEcKey):
    algorithm = "ecdsa-p384"
    public_class = P384PublicKey


# --- RSA -----------------------------------------------------------------------------


_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def rsa_oaep_decode(encoded: bytes | SecretBytes, modulus_len: int) -> SecretBytes:
    """The message in ``encoded``, the output of a raw RSA private operation (m = c^d mod n, as
    ``modulus_len`` bytes), under SKMS's RSA-OAEP: SHA-256, MGF1-SHA-256, empty label (``_OAEP``).

    For tokens that do raw RSA but not OAEP with SHA-256. Decoded in constant time in the native
    core; every malformed encoding raises the same IntegrityError as a software key's decryption.
    """
    return oaep.decode_sha256(encoded, modulus_len)


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


def _b64_int(jwk: Any, field: str) -> int:
    return int.from_bytes(jwk_field(jwk, field), "big")


class _RsaPublicKey(VerifyingKey, EncryptingKey):
    """RSA-PSS (SHA-256, MGF1-SHA-256, salt = 32) signatures; RSA-OAEP (SHA-256) encryption."""

    bits: ClassVar[int]

    def __init__(self, key: rsa.RSAPublicKey) -> None:
        if key.key_size != self.bits:
            raise InvalidKey(f"{self.algorithm} needs a {self.bits}-bit modulus, got {key.key_size}")
        self._key = key

    @typed
    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, message, _PSS, hashes.SHA256())
            return True
        except _BadSignature:
            return False

    @typed
    def encrypt(self, plaintext: bytes) -> bytes:
        try:
            return self._key.encrypt(plaintext, _OAEP)
        except ValueError:
            limit = self._key.key_size // 8 - 2 * 32 - 2
            raise InvalidInput(
                f"RSA-OAEP with this key encrypts at most {limit} bytes, got {len(plaintext)}; "
                "encrypt a data key instead"
            ) from None

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format in _pkcs.PUBLIC_FORMATS:
            return _pkcs.dump_public(self._key, format)
        if format == "jwk":
            n = self._key.public_numbers()
            return {"kty": "RSA", "n": _int_b64(n.n), "e": _int_b64(n.e)}
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "spki-der") -> "_RsaPublicKey":
        if format in _pkcs.PUBLIC_FORMATS:
            return cls(_pkcs.load_public(data, format, rsa.RSAPublicKey, cls.algorithm))
        if format == "jwk":
            expect_jwk(data, kty="RSA")
            try:
                return cls(rsa.RSAPublicNumbers(_b64_int(data, "e"), _b64_int(data, "n")).public_key())
            except ValueError as e:
                raise InvalidKey(f"invalid RSA JWK: {e}") from None
        raise InvalidFormat(f"{cls.algorithm} public keys import from spki-der, spki-pem or jwk (RSA has no raw form)")


class _RsaKey(SigningKey, DecryptingKey):
    public_class: ClassVar[type[_RsaPublicKey]]

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self._key = key
        self._public = self.public_class(key.public_key())

    @classmethod
    def generate(cls) -> "_RsaKey":
        return cls(rsa.generate_private_key(65537, cls.public_class.bits))

    @typed
    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message, _PSS, hashes.SHA256())

    @typed
    def decrypt(self, ciphertext: bytes) -> bytes:
        try:
            return self._key.decrypt(ciphertext, _OAEP)
        except ValueError:
            raise IntegrityError("RSA-OAEP decryption failed: wrong key or altered ciphertext") from None

    def public_key(self) -> _RsaPublicKey:
        return self._public

    @typed
    def export(self, format: str = "pkcs8-der") -> Exported:
        if format in _pkcs.PRIVATE_FORMATS:
            return _pkcs.dump_private(self._key, format)
        if format == "jwk":
            p = self._key.private_numbers()
            jwk = self._public.export("jwk")
            assert isinstance(jwk, dict)
            return {**jwk, "d": _int_b64(p.d), "p": _int_b64(p.p), "q": _int_b64(p.q),
                    "dp": _int_b64(p.dmp1), "dq": _int_b64(p.dmq1), "qi": _int_b64(p.iqmp)}  # fmt: skip
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "pkcs8-der") -> "_RsaKey":
        if format in _pkcs.PRIVATE_FORMATS:
            return cls(_pkcs.load_private(data, format, rsa.RSAPrivateKey, cls.algorithm))
        if format == "jwk":
            expect_jwk(data, kty="RSA")
            try:
                public = rsa.RSAPublicNumbers(_b64_int(data, "e"), _b64_int(data, "n"))
                numbers = rsa.RSAPrivateNumbers(
                    _b64_int(data, "p"), _b64_int(data, "q"), _b64_int(data, "d"),
                    _b64_int(data, "dp"), _b64_int(data, "dq"), _b64_int(data, "qi"), public,
                )  # fmt: skip
                return cls(numbers.private_key())
            except ValueError as e:
                raise InvalidKey(f"invalid RSA JWK: {e}") from None
        raise InvalidFormat(f"{cls.algorithm} keys import from pkcs8-der, pkcs8-pem or jwk (RSA has no raw form)")


class Rsa2048PublicKey(_RsaPublicKey):
    algorithm = "rsa-2048"
    bits = 2048


class Rsa2048Key(_RsaKey):
    algorithm = "rsa-2048"
    public_class = Rsa2048PublicKey


class Rsa3072PublicKey(_RsaPublicKey):
    algorithm = "rsa-3072"
    bits = 3072


class Rsa3072Key(_RsaKey):
    algorithm = "rsa-3072"
    public_class = Rsa3072PublicKey


class Rsa4096PublicKey(_RsaPublicKey):
    algorithm = "rsa-4096"
    bits = 4096


class Rsa4096Key(_RsaKey):
    algorithm = "rsa-4096"
    public_class = Rsa4096PublicKey


# --- X25519 --------------------------------------------------------------------------


class X25519PublicKey(AgreementPublicKey):
    algorithm = "x25519"

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise InvalidKey(f"X25519 public key must be 32 bytes, got {len(raw)}")
        self._raw = raw
        self._key = x25519.X25519PublicKey.from_public_bytes(raw)

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._raw
        if format in _pkcs.PUBLIC_FORMATS:
            return _pkcs.dump_public(self._key, format)
        if format == "jwk":
            return {"kty": "OKP", "crv": "X25519", "x": b64url(self._raw)}
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "X25519PublicKey":
        if format == "raw":
            return cls(require_bytes(data, "public key"))
        if format in _pkcs.PUBLIC_FORMATS:
            return cls(_pkcs.load_public(data, format, x25519.X25519PublicKey, cls.algorithm).public_bytes_raw())
        if format == "jwk":
            expect_jwk(data, kty="OKP", crv="X25519")
            return cls(jwk_field(data, "x"))
        raise InvalidFormat(f"{cls.algorithm} public keys import from raw, spki-der, spki-pem or jwk")


class X25519Key(AgreementPrivateKey):
    algorithm = "x25519"

    def __init__(self, key: x25519.X25519PrivateKey) -> None:
        self._key = key
        self._public = X25519PublicKey(key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls) -> "X25519Key":
        with exposed(random_secret(32)) as raw:
            return cls(x25519.X25519PrivateKey.from_private_bytes(raw))

    @typed
    def exchange(self, peer: bytes | AgreementPublicKey) -> SecretBytes:
        """The raw X25519 shared secret; derive keys from it with HKDF."""
        if isinstance(peer, X25519PublicKey):
            peer_key = peer._key
        else:
            raw = peer.export("raw") if isinstance(peer, PublicKey) else require_bytes(peer, "peer public key")
            if not isinstance(raw, bytes) or len(raw) != 32:
                raise InvalidKey("X25519 peer public key must be 32 bytes")
            peer_key = x25519.X25519PublicKey.from_public_bytes(raw)
        try:
            return SecretBytes(self._key.exchange(peer_key))
        except ValueError:
            raise InvalidKey("X25519 peer key is a small-order point (all-zero shared secret)") from None

    def public_key(self) -> X25519PublicKey:
        return self._public

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._key.private_bytes_raw()
        if format in _pkcs.PRIVATE_FORMATS:
            return _pkcs.dump_private(self._key, format)
        if format == "jwk":
            jwk = self._public.export("jwk")
            assert isinstance(jwk, dict)
            return {**jwk, "d": b64url(self._key.private_bytes_raw())}
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "X25519Key":
        if format == "raw":
            raw = secret_bytes(data, "private key")
            if len(raw) != 32:
                raise InvalidKey(f"X25519 private key must be 32 bytes, got {len(raw)}")
            with exposed(raw) as buffer:
                return cls(x25519.X25519PrivateKey.from_private_bytes(buffer))
        if format in _pkcs.PRIVATE_FORMATS:
            return cls(_pkcs.load_private(data, format, x25519.X25519PrivateKey, cls.algorithm))
        if format == "jwk":
            expect_jwk(data, kty="OKP", crv="X25519")
            d = jwk_field(data, "d")
            if len(d) != 32:
                raise InvalidKey(f"X25519 private key must be 32 bytes, got {len(d)}")
            return cls(x25519.X25519PrivateKey.from_private_bytes(d))
        raise InvalidFormat(f"{cls.algorithm} keys import from raw, pkcs8-der, pkcs8-pem or jwk")


__all__ = [
    "Ed25519Key",
    "Ed25519PublicKey",
    "P256Key",
    "P256PublicKey",
    "P384Key",
    "P384PublicKey",
    "Rsa2048Key",
    "Rsa3072Key",
    "Rsa4096Key",
    "SchnorrSecp256k1Key",
    "SchnorrSecp256k1PublicKey",
    "Secp256k1Key",
    "Secp256k1PublicKey",
    "X25519Key",
    "X25519PublicKey",
    "rsa_oaep_decode",
]
