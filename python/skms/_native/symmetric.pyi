"""AEADs and MACs keyed by a ``SecretBytes`` (``symmetric.rs``): no key is ever a Python object.

``algorithm`` is a registry id: ``aes256-gcm``, ``chacha20-poly1305``, ``xchacha20-poly1305``
for the AEADs (``nonce ‖ ciphertext ‖ tag``, fresh random nonce), ``hmac-sha256``,
``hmac-sha512``, ``blake3-keyed`` for the MACs.
"""

from . import SecretBytes

__all__ = [
    "aead_decrypt",
    "aead_decrypt_secret",
    "aead_encrypt",
    "key_unwrap_secret",
    "key_wrap",
    "mac",
    "mac_secret",
    "mac_verify",
]

def aead_encrypt(
    algorithm: str, key: SecretBytes | bytes, plaintext: bytes | SecretBytes, associated_data: bytes
) -> bytes: ...
def aead_decrypt(algorithm: str, key: SecretBytes | bytes, ciphertext: bytes, associated_data: bytes) -> bytes:
    """Raises :class:`skms.errors.IntegrityError` for a short or altered ciphertext."""

def aead_decrypt_secret(
    algorithm: str, key: SecretBytes | bytes, ciphertext: bytes, associated_data: bytes
) -> SecretBytes: ...
def mac(algorithm: str, key: SecretBytes | bytes, data: bytes) -> bytes: ...
def mac_verify(algorithm: str, key: SecretBytes | bytes, data: bytes, tag: bytes) -> bool:
    """Constant-time comparison with the expected tag."""

def mac_secret(algorithm: str, key: SecretBytes | bytes, data: bytes) -> SecretBytes:
    """The tag as a secret (a key derived with a MAC)."""

def key_wrap(wrapping_key: SecretBytes | bytes, key: SecretBytes | bytes, padding: bool) -> bytes:
    """AES key wrap: RFC 3394, or RFC 5649 with ``padding``."""

def key_unwrap_secret(wrapping_key: SecretBytes | bytes, wrapped: bytes, padding: bool) -> SecretBytes:
    """Raises :class:`skms.errors.IntegrityError` for a wrong key or altered data."""
