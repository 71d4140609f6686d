"""Constant-time comparison (``skms.hazmat.constant_time``)."""

from skms._native import SecretBytes

__all__ = [
    "bytes_eq",
]

def bytes_eq(a: SecretBytes | bytes, b: SecretBytes | bytes) -> bool:
    """True when ``a`` and ``b`` are equal; the time depends only on the lengths."""
