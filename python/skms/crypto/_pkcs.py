"""PKCS#8 / SPKI (DER and PEM) conversion through ``cryptography``'s loaders."""

from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization as ser

from skms._native import SecretBytes
from skms.crypto.memory import exposed
from skms.errors import InvalidFormat, InvalidKey

PRIVATE_FORMATS = {"pkcs8-der": ser.Encoding.DER, "pkcs8-pem": ser.Encoding.PEM}
PUBLIC_FORMATS = {"spki-der": ser.Encoding.DER, "spki-pem": ser.Encoding.PEM}


def dump_private(key: Any, format: str) -> bytes:
    return key.private_bytes(PRIVATE_FORMATS[format], ser.PrivateFormat.PKCS8, ser.NoEncryption())  # type: ignore[no-any-return]


def dump_public(key: Any, format: str) -> bytes:
    return key.public_bytes(PUBLIC_FORMATS[format], ser.PublicFormat.SubjectPublicKeyInfo)  # type: ignore[no-any-return]


def load_private(data: object, format: str, expected: type | tuple[type, ...], algorithm: str) -> Any:
    if isinstance(data, SecretBytes):  # stored material: lent to the loader in a buffer wiped afterwards
        with exposed(data) as buffer:
            return _load_private(buffer, format, expected, algorithm)
    return _load_private(data, format, expected, algorithm)


def _load_private(data: object, format: str, expected: type | tuple[type, ...], algorithm: str) -> Any:
    if not isinstance(data, bytes | bytearray):
        raise InvalidFormat(f"{format} data must be bytes")
    try:
        if format == "pkcs8-der":
            key = ser.load_der_private_key(data, None)
        elif format == "pkcs8-pem":
            key = ser.load_pem_private_key(data, None)
        else:
            raise InvalidFormat(f"{format!r} is not a private key format")
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise InvalidKey(f"not a valid unencrypted {format} private key: {e}") from None
    if not isinstance(key, expected):
        raise InvalidKey(f"the {format} key is a {type(key).__name__}, not a {algorithm} key")
    return key


def load_public(data: object, format: str, expected: type | tuple[type, ...], algorithm: str) -> Any:
    if not isinstance(data, bytes):
        raise InvalidFormat(f"{format} data must be bytes")
    try:
        if format == "spki-der":
            key = ser.load_der_public_key(data)
        elif format == "spki-pem":
            key = ser.load_pem_public_key(data)
        else:
            raise InvalidFormat(f"{format!r} is not a public key format")
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise InvalidKey(f"not a valid {format} public key: {e}") from None
    if not isinstance(key, expected):
        raise InvalidKey(f"the {format} key is a {type(key).__name__}, not a {algorithm} key")
    return key
