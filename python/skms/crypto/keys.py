"""Key objects: one abstract class per purpose, one concrete class per family.

A key object holds prepared material (a native secret buffer or a
``cryptography`` key) so that each operation costs one call into the library
below it. Secret material leaves a key only through ``export``.
"""

import base64
import binascii
import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Literal, NoReturn, TypeVar

from skms._native import SecretBytes
from skms.crypto.memory import take
from skms.errors import InvalidFormat, InvalidType

Format = Literal["raw", "pkcs8-der", "pkcs8-pem", "spki-der", "spki-pem", "jwk"]
FORMATS: tuple[str, ...] = ("raw", "pkcs8-der", "pkcs8-pem", "spki-der", "spki-pem", "jwk")
Jwk = dict[str, Any]
Exported = bytes | Jwk


class Key(ABC):
    """Base of every key object. ``algorithm`` is the registry id."""

    algorithm: str

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.algorithm}>"

    def __reduce__(self) -> NoReturn:
        raise InvalidType(f"{type(self).__name__} cannot be pickled; use export()")

    def _no_format(self, format: str) -> NoReturn:
        if not isinstance(format, str) or format not in FORMATS:
            raise InvalidFormat(f"unknown key format {format!r}; expected one of {', '.join(FORMATS)}")
        raise InvalidFormat(f"{self.algorithm} keys have no {format} form")


class _SecretExport:
    """``export_secret``: the material in a binary format as a SecretBytes, with no Python copy left.

    A key that holds its material as a SecretBytes returns that; the others (keys kept by
    ``cryptography``) export to ``bytes`` and wipe them at once.
    """

    def export_secret(self, format: str = "raw") -> SecretBytes:
        data = self.export(format)  # type: ignore[attr-defined]
        if not isinstance(data, bytes):
            raise InvalidFormat(f"{format} is not a binary key format")
        return take(data)


class PublicKey(Key):
    @abstractmethod
    def export(self, format: str = "raw") -> Exported: ...


class PrivateKey(_SecretExport, Key):
    @abstractmethod
    def export(self, format: str = "raw") -> Exported:
        """The private key: an explicit export of secret material."""

    @abstractmethod
    def public_key(self) -> PublicKey: ...


class SymmetricKey(_SecretExport, Key):
    @abstractmethod
    def export(self, format: str = "raw") -> Exported: ...


class AeadKey(SymmetricKey):
    @abstractmethod
    def encrypt(self, plaintext: bytes | SecretBytes, associated_data: bytes = b"") -> bytes:
        """nonce ‖ ciphertext ‖ tag, with a fresh random nonce (a SecretBytes plaintext stays native)."""

    @abstractmethod
    def decrypt(self, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        """Raises :class:`skms.errors.IntegrityError` for any altered byte or wrong data."""


class MacKey(SymmetricKey):
    @abstractmethod
    def mac(self, data: bytes) -> bytes: ...

    @abstractmethod
    def verify(self, data: bytes, tag: bytes) -> bool:
        """Constant-time comparison with the expected tag."""


class VerifyingKey(PublicKey):
    @abstractmethod
    def verify(self, message: bytes, signature: bytes) -> bool:
        """False for a signature that does not match; malformed ones raise InvalidSignature."""


class SigningKey(PrivateKey):
    @abstractmethod
    def sign(self, message: bytes) -> bytes: ...

    def sign_batch(self, messages: list[bytes]) -> list[bytes]:
        """Signatures of many messages (native keys sign on every core with the GIL released)."""
        return [self.sign(m) for m in messages]

    @abstractmethod
    def public_key(self) -> VerifyingKey: ...


class EncryptingKey(PublicKey):
    @abstractmethod
    def encrypt(self, plaintext: bytes) -> bytes: ...


class DecryptingKey(PrivateKey):
    @abstractmethod
    def decrypt(self, ciphertext: bytes) -> bytes: ...

    @abstractmethod
    def public_key(self) -> EncryptingKey: ...


class KemPublicKey(PublicKey):
    @abstractmethod
    def encapsulate(self) -> tuple[SecretBytes, bytes]:
        """(shared secret, ciphertext)."""


class KemPrivateKey(PrivateKey):
    @abstractmethod
    def decapsulate(self, ciphertext: bytes) -> SecretBytes: ...

    @abstractmethod
    def public_key(self) -> KemPublicKey: ...


class AgreementPublicKey(PublicKey):
    pass


class AgreementPrivateKey(PrivateKey):
    @abstractmethod
    def exchange(self, peer: bytes | AgreementPublicKey) -> SecretBytes: ...

    @abstractmethod
    def public_key(self) -> AgreementPublicKey: ...


F = TypeVar("F", bound=Callable[..., Any])


def typed(fn: F) -> F:
    """Turns the TypeError a library raises for a wrong argument type into InvalidType."""

    @functools.wraps(fn)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TypeError as e:
            raise InvalidType(f"{fn.__name__}: an argument has the wrong type ({e})") from None

    return checked  # type: ignore[return-value]


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2). binascii directly: the audit log calls this per request."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def unb64url(text: object, field: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidFormat(f"JWK field {field!r} must be a base64url string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise InvalidFormat(f"JWK field {field!r} is not base64url") from None


def jwk_field(jwk: object, field: str) -> bytes:
    if not isinstance(jwk, dict):
        raise InvalidFormat("a JWK is a JSON object (dict)")
    if field not in jwk:
        raise InvalidFormat(f"JWK has no {field!r} field")
    return unb64url(jwk[field], field)


def expect_jwk(jwk: object, **members: str) -> Jwk:
    """Checks a JWK's fixed members (kty, crv, …)."""
    if not isinstance(jwk, dict):
        raise InvalidFormat("a JWK is a JSON object (dict)")
    for name, value in members.items():
        if jwk.get(name) != value:
            raise InvalidFormat(f"JWK {name} must be {value!r}, got {jwk.get(name)!r}")
    return jwk


def require_bytes(value: object, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise InvalidType(f"{what} must be bytes, got {type(value).__name__}")
    return value


def secret_bytes(value: bytes | SecretBytes, what: str) -> SecretBytes:
    if isinstance(value, SecretBytes):
        return value
    if isinstance(value, bytes):
        return SecretBytes(value)
    raise InvalidType(f"{what} must be bytes or SecretBytes, got {type(value).__name__}")


__all__ = [
    "FORMATS",
    "AeadKey",
    "AgreementPrivateKey",
    "AgreementPublicKey",
    "DecryptingKey",
    "EncryptingKey",
    "Exported",
    "Format",
    "Jwk",
    "KemPrivateKey",
    "KemPublicKey",
    "Key",
    "MacKey",
    "PrivateKey",
    "PublicKey",
    "SigningKey",
    "SymmetricKey",
    "VerifyingKey",
]
