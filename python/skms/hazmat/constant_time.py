"""Constant-time comparison of secrets (MACs, tokens, key material)."""

from skms._native.constant_time import bytes_eq

__all__ = ["bytes_eq"]
