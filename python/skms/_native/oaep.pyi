"""Constant-time EME-OAEP decoding, SHA-256 and MGF1-SHA-256 (``oaep.rs``), for tokens that do
the raw RSA private operation but not OAEP with SHA-256."""

from . import SecretBytes

__all__ = [
    "decode_sha256",
]

def decode_sha256(encoded: SecretBytes | bytes, modulus_len: int, label: bytes | None = None) -> SecretBytes:
    """The message of ``encoded`` (the output of m = c^d mod n, ``modulus_len`` bytes or fewer);
    :class:`skms.errors.IntegrityError` with one message for every malformed encoding."""
