"""The key kinds SKMS makes in a token, how each is generated, and its public key as SubjectPublicKeyInfo."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import MGF, Attribute, KeyType, Mechanism, MechanismFlag
from pkcs11.util.ec import encode_named_curve_parameters

from skms.errors import HsmOperationRefused, InvalidInput


class KeyKind(enum.StrEnum):
    """A key SKMS can generate in a token (the names of the key types of the API)."""

    AES_256 = "aes-256"
    ECDSA_P256 = "ecdsa-p256"
    ECDSA_P384 = "ecdsa-p384"
    ECDSA_SECP256K1 = "ecdsa-secp256k1"
    ED25519 = "ed25519"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"

    @property
    def is_secret(self) -> bool:
        return self is KeyKind.AES_256


_CURVE_OIDS = {
    KeyKind.ECDSA_P256: "1.2.840.10045.3.1.7",
    KeyKind.ECDSA_P384: "1.3.132.0.34",
    KeyKind.ECDSA_SECP256K1: "1.3.132.0.10",  # SoftHSM2 takes it by OID like the NIST curves
    KeyKind.ED25519: "1.3.101.112",
}
_CURVES: dict[KeyKind, ec.EllipticCurve] = {
    KeyKind.ECDSA_P256: ec.SECP256R1(),
    KeyKind.ECDSA_P384: ec.SECP384R1(),
    KeyKind.ECDSA_SECP256K1: ec.SECP256K1(),
}
#: The hash of the default ECDSA scheme: tokens such as SoftHSM2 offer only raw CKM_ECDSA, so SKMS hashes.
ECDSA_HASHES = {
    KeyKind.ECDSA_P256: "sha256",
    KeyKind.ECDSA_P384: "sha384",
    KeyKind.ECDSA_SECP256K1: "sha256",
}
#: RSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt: the default RSA scheme.
RSA_PSS_SHA256 = (Mechanism.SHA256_RSA_PKCS_PSS, (Mechanism.SHA256, MGF.SHA256, 32))
#: RSA-OAEP with SHA-256 and MGF1-SHA-256, no label.
RSA_OAEP_SHA256 = (Mechanism.RSA_PKCS_OAEP, (Mechanism.SHA256, MGF.SHA256, None))


@dataclass(frozen=True, slots=True)
class KeyRef:
    """A key in the token: its kind, label and id (``CKA_LABEL``, ``CKA_ID``). A key pair's two
    objects share label and id; operations pick the private or public one as they need."""

    kind: KeyKind
    label: str
    id: bytes


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A generated key pair: where it is, and its public key (DER SubjectPublicKeyInfo)."""

    ref: KeyRef
    public_key_der: bytes


def check_label_id(label: str, key_id: bytes) -> None:
    if not isinstance(label, str) or not 0 < len(label.encode()) <= 128 or not label.isprintable():
        raise InvalidInput("an HSM key label is 1 to 128 bytes of printable text", field="label")
    if not isinstance(key_id, bytes) or not 0 < len(key_id) <= 64:
        raise InvalidInput("an HSM key id is 1 to 64 bytes", field="id")


def keypair_templates(kind: KeyKind) -> tuple[KeyType, int | None, dict[Attribute, Any], dict[Attribute, Any]]:
    """(key type, key length, public template, private template) of a key pair of ``kind``.

    The private key is CKA_SENSITIVE, never extractable, private (login needed) and stored on the token.
    """
    private: dict[Attribute, Any] = {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
    }
    public: dict[Attribute, Any] = {Attribute.TOKEN: True, Attribute.PRIVATE: False}
    if kind in (KeyKind.RSA_3072, KeyKind.RSA_4096):
        public[Attribute.PUBLIC_EXPONENT] = b"\x01\x00\x01"
        return KeyType.RSA, 3072 if kind is KeyKind.RSA_3072 else 4096, public, private
    if kind in _CURVE_OIDS:
        public[Attribute.EC_PARAMS] = encode_named_curve_parameters(_CURVE_OIDS[kind])
        return (KeyType.EC_EDWARDS if kind is KeyKind.ED25519 else KeyType.EC), None, public, private
    raise InvalidInput(f"{kind} is not a key pair kind", field="kind")


def keypair_capabilities(kind: KeyKind) -> MechanismFlag:
    if kind in (KeyKind.RSA_3072, KeyKind.RSA_4096):
        return MechanismFlag.SIGN | MechanismFlag.VERIFY | MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT
    return MechanismFlag.SIGN | MechanismFlag.VERIFY


def kind_of(key_type: KeyType, read: Any) -> KeyKind:
    """The kind of a token object of ``key_type``; ``read(attribute)`` reads its attributes."""
    if key_type == KeyType.AES and read(Attribute.VALUE_LEN) == 32:
        return KeyKind.AES_256
    if key_type == KeyType.RSA:
        bits = len(bytes(read(Attribute.MODULUS)).lstrip(b"\0")) * 8
        for kind, size in ((KeyKind.RSA_3072, 3072), (KeyKind.RSA_4096, 4096)):
            if bits == size:
                return kind
    if key_type in (KeyType.EC, KeyType.EC_EDWARDS):
        params = bytes(read(Attribute.EC_PARAMS))
        for kind, oid in _CURVE_OIDS.items():
            if params == encode_named_curve_parameters(oid):
                return kind
    name = getattr(key_type, "name", key_type)
    raise HsmOperationRefused(f"HSM: the object is a key of a type or size SKMS does not make ({name})")


def _der_octets(value: bytes) -> bytes:
    """The content of a DER OCTET STRING (as CKA_EC_POINT holds a point), or ``value`` if it is raw."""
    if len(value) >= 2 and value[0] == 0x04:
        length, offset = value[1], 2
        if length & 0x80:
            count = length & 0x7F
            length, offset = int.from_bytes(value[2 : 2 + count], "big"), 2 + count
        if offset + length == len(value):
            return value[offset:]
    return value


def public_key_der(kind: KeyKind, read: Any) -> bytes:
    """The DER SubjectPublicKeyInfo of a public key object; ``read(attribute)`` reads its attributes."""
    public: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
    if kind in _CURVES:
        public = ec.EllipticCurvePublicKey.from_encoded_point(
            _CURVES[kind], _der_octets(bytes(read(Attribute.EC_POINT)))
        )
    elif kind is KeyKind.ED25519:
        public = ed25519.Ed25519PublicKey.from_public_bytes(_der_octets(bytes(read(Attribute.EC_POINT))))
    elif kind in (KeyKind.RSA_3072, KeyKind.RSA_4096):
        n = int.from_bytes(bytes(read(Attribute.MODULUS)), "big")
        e = int.from_bytes(bytes(read(Attribute.PUBLIC_EXPONENT)), "big")
        public = rsa.RSAPublicNumbers(e, n).public_key()
    else:
        raise InvalidInput(f"{kind} has no public key", field="kind")
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def default_signing(kind: KeyKind, data: bytes) -> tuple[Mechanism, Any, bytes]:
    """(mechanism, parameter, what the token signs) of the default scheme of ``kind``:
    ECDSA over SHA-256 (P-256, secp256k1) or SHA-384 (P-384), hashed here (secp256k1 signatures
    then get a low s: :func:`low_s`); pure Ed25519; RSA-PSS SHA-256."""
    if kind in ECDSA_HASHES:
        return Mechanism.ECDSA, None, hashlib.new(ECDSA_HASHES[kind], data).digest()
    if kind is KeyKind.ED25519:
        return Mechanism.EDDSA, None, data
    if kind in (KeyKind.RSA_3072, KeyKind.RSA_4096):
        return RSA_PSS_SHA256[0], RSA_PSS_SHA256[1], data
    raise HsmOperationRefused(f"HSM: a {kind} key does not sign")


#: The order of secp256k1's group.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def low_s(kind: KeyKind, raw: bytes) -> bytes:
    """A secp256k1 signature r ‖ s with s in the lower half of the order (BIP 62, as Bitcoin,
    Ethereum and libsecp256k1 require): a token signs with either half, and both verify as ECDSA."""
    if kind is not KeyKind.ECDSA_SECP256K1 or len(raw) != 64:
        return raw
    s = int.from_bytes(raw[32:], "big")
    return raw if s <= SECP256K1_N // 2 else raw[:32] + (SECP256K1_N - s).to_bytes(32, "big")


def ecdsa_der(raw: bytes) -> bytes:
    """A PKCS#11 ECDSA signature (r ‖ s, each the size of the order) as DER, as X.509 and most verifiers want."""
    if len(raw) % 2 or not raw:
        raise InvalidInput("a PKCS#11 ECDSA signature is r and s of equal length", field="signature")
    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


__all__ = [
    "ECDSA_HASHES",
    "RSA_OAEP_SHA256",
    "RSA_PSS_SHA256",
    "KeyKind",
    "KeyPair",
    "KeyRef",
    "check_label_id",
    "default_signing",
    "ecdsa_der",
    "keypair_capabilities",
    "keypair_templates",
    "kind_of",
    "low_s",
    "public_key_der",
]
