"""AES key wrap: RFC 3394 (KW) and RFC 5649 (KWP, with padding).

Native (``aes-kw``) on SecretBytes: neither the wrapping key nor an unwrapped key is ever a
Python object, whose freed memory would keep it after a seal (see :mod:`skms.crypto.memory`).
"""

from skms._native import SecretBytes
from skms._native.symmetric import key_unwrap_secret
from skms._native.symmetric import key_wrap as _key_wrap
from skms.crypto.keys import require_bytes
from skms.errors import IntegrityError, InvalidInput, InvalidType


def _kek(wrapping_key: bytes | SecretBytes) -> bytes | SecretBytes:
    if not isinstance(wrapping_key, bytes | SecretBytes):
        raise InvalidType(f"the wrapping key must be bytes or SecretBytes, got {type(wrapping_key).__name__}")
    if len(wrapping_key) not in (16, 24, 32):
        raise InvalidInput(f"wrapping key must be 16, 24 or 32 bytes, got {len(wrapping_key)}")
    return wrapping_key


def _plain(key: bytes | SecretBytes) -> bytes | SecretBytes:
    if not isinstance(key, bytes | SecretBytes):
        raise InvalidType(f"the key to wrap must be bytes or SecretBytes, got {type(key).__name__}")
    return key


def wrap_key(wrapping_key: bytes | SecretBytes, key: bytes | SecretBytes, padding: bool = False) -> bytes:
    """Wraps ``key``: RFC 3394 (a multiple of 8 bytes, at least 16) or RFC 5649 with ``padding``."""
    kek, plain = _kek(wrapping_key), _plain(key)
    if padding:
        if not plain:
            raise InvalidInput("the key to wrap is empty")
        return _key_wrap(kek, plain, True)
    if len(plain) < 16 or len(plain) % 8:
        raise InvalidInput(
            f"RFC 3394 wraps keys of at least 16 bytes in 8-byte steps, got {len(plain)}; use padding=True (RFC 5649)"
        )
    return _key_wrap(kek, plain, False)


def unwrap_key(wrapping_key: bytes | SecretBytes, wrapped: bytes, padding: bool = False) -> SecretBytes:
    """Unwraps; a wrong key or any changed byte raises :class:`IntegrityError`."""
    kek = _kek(wrapping_key)
    require_bytes(wrapped, "the wrapped key")
    if padding:
        return key_unwrap_secret(kek, wrapped, True)
    if len(wrapped) < 24 or len(wrapped) % 8:
        raise IntegrityError(f"an RFC 3394 wrapped key is 24+ bytes in 8-byte steps, got {len(wrapped)}")
    return key_unwrap_secret(kek, wrapped, False)


__all__ = ["unwrap_key", "wrap_key"]
