"""Symmetric keys: AEADs (AES-256-GCM, ChaCha20-Poly1305, XChaCha20-Poly1305) and MACs.

Nonces are random: 96 bits for AES-GCM and ChaCha20-Poly1305, 192 bits for
XChaCha20-Poly1305. With 96-bit random nonces NIST SP 800-38D bounds a key to
2^32 messages; each key object counts its encryptions and refuses past
:data:`MAX_MESSAGES_96BIT_NONCE` (the key service rotates long before).
"""

import hmac
import os

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from nacl import bindings as nacl
from nacl.exceptions import CryptoError

from skms._native import SecretBytes
from skms.crypto.keys import AeadKey, Exported, MacKey, SymmetricKey, b64url, expect_jwk, jwk_field, secret_bytes
from skms.crypto.random import random_secret
from skms.errors import IntegrityError, InvalidFormat, InvalidInput, InvalidKey, InvalidType

MAX_MESSAGES_96BIT_NONCE = 2**32
TAG_SIZE = 16


def _load_raw(data: bytes | SecretBytes | dict[str, object], format: str, what: str) -> SecretBytes:
    if format == "raw":
        return secret_bytes(data, what)  # type: ignore[arg-type]
    if format == "jwk":
        expect_jwk(data, kty="oct")
        return SecretBytes(jwk_field(data, "k"))
    raise InvalidFormat(f"symmetric keys import from raw or jwk, not {format!r}")


def _types_error() -> InvalidType:
    return InvalidType("plaintext, ciphertext, associated data, data and tags must be bytes")


class _Symmetric(SymmetricKey):
    algorithm: str
    key_size: int
    jwk_alg: str | None = None

    def __init__(self, material: SecretBytes) -> None:
        if len(material) != self.key_size:
            raise InvalidKey(f"{self.algorithm} key must be {self.key_size} bytes, got {len(material)}")
        self._material = material

    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._material.expose_secret()
        if format == "jwk":
            jwk: dict[str, object] = {"kty": "oct", "k": b64url(self._material.expose_secret())}
            if self.jwk_alg:
                jwk["alg"] = self.jwk_alg
            return jwk
        self._no_format(format)

    @classmethod
    def generate(cls) -> "_Symmetric":
        return cls(random_secret(cls.key_size))

    @classmethod
    def load(cls, data: bytes | SecretBytes | dict[str, object], format: str = "raw") -> "_Symmetric":
        return cls(_load_raw(data, format, f"{cls.algorithm} key"))


class _Aead(_Symmetric, AeadKey):
    nonce_size = 12
    max_messages: int | None = MAX_MESSAGES_96BIT_NONCE

    def __init__(self, material: SecretBytes) -> None:
        super().__init__(material)
        self._messages = 0

    def _count(self) -> None:
        self._messages += 1
        if self.max_messages is not None and self._messages > self.max_messages:
            raise InvalidInput(
                f"{self.algorithm} key has encrypted {self.max_messages} messages with random nonces; rotate the key"
            )

    def _short(self, ciphertext: bytes) -> IntegrityError:
        return IntegrityError(
            f"{self.algorithm} ciphertext is at least {self.nonce_size + TAG_SIZE} bytes, got {len(ciphertext)}"
        )

    def _split(self, ciphertext: bytes) -> tuple[bytes, bytes]:
        if not isinstance(ciphertext, bytes):
            raise InvalidType(f"ciphertext must be bytes, got {type(ciphertext).__name__}")
        if len(ciphertext) < self.nonce_size + TAG_SIZE:
            raise IntegrityError(
                f"{self.algorithm} ciphertext is at least {self.nonce_size + TAG_SIZE} bytes, got {len(ciphertext)}"
            )
        return ciphertext[: self.nonce_size], ciphertext[self.nonce_size :]


class _OpenSslAead(_Aead):
    cipher: type[AESGCM] | type[ChaCha20Poly1305]

    def __init__(self, material: SecretBytes) -> None:
        super().__init__(material)
        self._aead = self.cipher(material.expose_secret())
        self._decrypt = self._aead.decrypt

    def encrypt(self, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        self._count()
        nonce = os.urandom(12)
        try:
            return nonce + self._aead.encrypt(nonce, plaintext, associated_data)
        except TypeError:
            raise _types_error() from None

    def decrypt(self, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        # The hot path: no check before the call; a short input fails inside it (too short a nonce, or
        # no room for the tag) and is named afterwards.
        try:
            return self._decrypt(ciphertext[:12], ciphertext[12:], associated_data)
        except (InvalidTag, ValueError):
            if len(ciphertext) < 28:
                raise self._short(ciphertext) from None
            raise IntegrityError(
                f"{self.algorithm} decryption failed: wrong key, altered ciphertext or associated data"
            ) from None
        except TypeError:
            raise _types_error() from None


class Aes256GcmKey(_OpenSslAead):
    algorithm = "aes256-gcm"
    key_size = 32
    jwk_alg = "A256GCM"
    cipher = AESGCM


class ChaCha20Poly1305Key(_OpenSslAead):
    algorithm = "chacha20-poly1305"
    key_size = 32
    jwk_alg = "C20P"
    cipher = ChaCha20Poly1305


class XChaCha20Poly1305Key(_Aead):
    """XChaCha20-Poly1305 (libsodium via pynacl): 192-bit nonces, no practical message bound."""

    algorithm = "xchacha20-poly1305"
    key_size = 32
    jwk_alg = "XC20P"
    nonce_size = 24
    max_messages = None

    def __init__(self, material: SecretBytes) -> None:
        super().__init__(material)
        self._key = material.expose_secret()

    def encrypt(self, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        nonce = os.urandom(24)
        try:
            return nonce + nacl.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, associated_data, nonce, self._key)
        except TypeError:
            raise _types_error() from None

    def decrypt(self, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        nonce, body = self._split(ciphertext)
        try:
            return nacl.crypto_aead_xchacha20poly1305_ietf_decrypt(body, associated_data, nonce, self._key)
        except TypeError:
            raise _types_error() from None
        except CryptoError:
            raise IntegrityError(
                f"{self.algorithm} decryption failed: wrong key, altered ciphertext or associated data"
            ) from None


class _Hmac(_Symmetric, MacKey):
    digest_name: str
    min_key_size = 16

    def __init__(self, material: SecretBytes) -> None:
        if not self.min_key_size <= len(material) <= 1024:
            raise InvalidKey(f"{self.algorithm} key must be {self.min_key_size} to 1024 bytes, got {len(material)}")
        self._material = material
        self._key = material.expose_secret()

    def mac(self, data: bytes) -> bytes:
        try:
            return hmac.digest(self._key, data, self.digest_name)
        except TypeError:
            raise _types_error() from None

    def verify(self, data: bytes, tag: bytes) -> bool:
        try:
            return hmac.compare_digest(hmac.digest(self._key, data, self.digest_name), tag)
        except TypeError:
            raise _types_error() from None


class HmacSha256Key(_Hmac):
    algorithm = "hmac-sha256"
    key_size = 32
    jwk_alg = "HS256"
    digest_name = "sha256"


class HmacSha512Key(_Hmac):
    algorithm = "hmac-sha512"
    key_size = 64
    jwk_alg = "HS512"
    digest_name = "sha512"


class Blake3KeyedKey(_Symmetric, MacKey):
    """Keyed BLAKE3 as a MAC (32-byte key, 32-byte tag)."""

    algorithm = "blake3-keyed"
    key_size = 32

    def __init__(self, material: SecretBytes) -> None:
        super().__init__(material)
        self._key = material.expose_secret()

    def mac(self, data: bytes) -> bytes:
        if not isinstance(data, bytes):
            raise InvalidType(f"data must be bytes, got {type(data).__name__}")
        return blake3.blake3(data, key=self._key).digest()

    def verify(self, data: bytes, tag: bytes) -> bool:
        if not isinstance(tag, bytes):
            raise InvalidType(f"tag must be bytes, got {type(tag).__name__}")
        return hmac.compare_digest(self.mac(data), tag)


__all__ = [
    "MAX_MESSAGES_96BIT_NONCE",
    "Aes256GcmKey",
    "Blake3KeyedKey",
    "ChaCha20Poly1305Key",
    "HmacSha256Key",
    "HmacSha512Key",
    "XChaCha20Poly1305Key",
]
