"""Symmetric keys: AEADs (AES-256-GCM, ChaCha20-Poly1305, XChaCha20-Poly1305) and MACs.

Nonces are random: 96 bits for AES-GCM and ChaCha20-Poly1305, 192 bits for
XChaCha20-Poly1305. With 96-bit random nonces NIST SP 800-38D bounds a key to
2^32 messages; each key object counts its encryptions and refuses past
:data:`MAX_MESSAGES_96BIT_NONCE` (the key service rotates long before).

Every keyed operation runs natively on the key's :class:`SecretBytes`
(:mod:`skms._native.symmetric`): no key is ever a Python ``bytes`` object or a
cached library context, so dropping a key object leaves no copy of it in memory.
"""

from skms._native import SecretBytes
from skms._native import symmetric as native

# The keyed primitives on SecretBytes, for SKMS's own keys (envelope, relay, audit, API-key pepper).
from skms._native.symmetric import aead_decrypt, aead_decrypt_secret, aead_encrypt, mac, mac_secret, mac_verify
from skms.crypto.keys import AeadKey, Exported, MacKey, SymmetricKey, b64url, expect_jwk, jwk_field, secret_bytes
from skms.crypto.memory import take
from skms.crypto.random import random_secret
from skms.errors import InvalidFormat, InvalidInput, InvalidKey

MAX_MESSAGES_96BIT_NONCE = 2**32
TAG_SIZE = 16


def _load_raw(data: bytes | SecretBytes | dict[str, object], format: str, what: str) -> SecretBytes:
    if format == "raw":
        return secret_bytes(data, what)  # type: ignore[arg-type]
    if format == "jwk":
        expect_jwk(data, kty="oct")
        return take(jwk_field(data, "k"))
    raise InvalidFormat(f"symmetric keys import from raw or jwk, not {format!r}")


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

    def export_secret(self, format: str = "raw") -> SecretBytes:
        if format == "raw":
            return self._material
        return super().export_secret(format)

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

    def encrypt(self, plaintext: bytes | SecretBytes, associated_data: bytes = b"") -> bytes:
        if self.max_messages is not None:
            self._messages += 1
            if self._messages > self.max_messages:
                raise InvalidInput(
                    f"{self.algorithm} key has encrypted {self.max_messages} messages with random nonces; "
                    "rotate the key"
                )
        return native.aead_encrypt(self.algorithm, self._material, plaintext, associated_data)

    def decrypt(self, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        """IntegrityError names a short ciphertext or a failed tag; InvalidType a non-bytes argument."""
        return native.aead_decrypt(self.algorithm, self._material, ciphertext, associated_data)


class Aes256GcmKey(_Aead):
    algorithm = "aes256-gcm"
    key_size = 32
    jwk_alg = "A256GCM"


class ChaCha20Poly1305Key(_Aead):
    algorithm = "chacha20-poly1305"
    key_size = 32
    jwk_alg = "C20P"


class XChaCha20Poly1305Key(_Aead):
    """XChaCha20-Poly1305: 192-bit nonces, no practical message bound."""

    algorithm = "xchacha20-poly1305"
    key_size = 32
    jwk_alg = "XC20P"
    nonce_size = 24
    max_messages = None


class _Mac(_Symmetric, MacKey):
    def mac(self, data: bytes) -> bytes:
        return native.mac(self.algorithm, self._material, data)

    def verify(self, data: bytes, tag: bytes) -> bool:
        return native.mac_verify(self.algorithm, self._material, data, tag)


class _Hmac(_Mac):
    min_key_size = 16

    def __init__(self, material: SecretBytes) -> None:
        if not self.min_key_size <= len(material) <= 1024:
            raise InvalidKey(f"{self.algorithm} key must be {self.min_key_size} to 1024 bytes, got {len(material)}")
        self._material = material


class HmacSha256Key(_Hmac):
    algorithm = "hmac-sha256"
    key_size = 32
    jwk_alg = "HS256"


class HmacSha512Key(_Hmac):
    algorithm = "hmac-sha512"
    key_size = 64
    jwk_alg = "HS512"


class Blake3KeyedKey(_Mac):
    """Keyed BLAKE3 as a MAC (32-byte key, 32-byte tag)."""

    algorithm = "blake3-keyed"
    key_size = 32


__all__ = [
    "MAX_MESSAGES_96BIT_NONCE",
    "Aes256GcmKey",
    "Blake3KeyedKey",
    "ChaCha20Poly1305Key",
    "HmacSha256Key",
    "HmacSha512Key",
    "XChaCha20Poly1305Key",
    "aead_decrypt",
    "aead_decrypt_secret",
    "aead_encrypt",
    "mac",
    "mac_secret",
    "mac_verify",
]
