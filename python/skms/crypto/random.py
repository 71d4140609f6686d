"""The CSPRNG behind key generation, pluggable so that an HSM can supply it later.

Nonces for AEAD encryption come from the OS directly (``os.urandom``): they need
uniqueness, not a particular source, and the hot path should not pay for a
lookup. Key material comes from :func:`random_bytes`, which asks the source set
by :func:`set_random_source` (the OS by default).
"""

import os
from typing import Protocol

from skms._native import SecretBytes


class RandomSource(Protocol):
    """Anything that returns ``n`` uniformly random bytes."""

    def random_bytes(self, n: int) -> bytes: ...


class OsRandom:
    """The operating system's CSPRNG (getrandom(2) on Linux)."""

    def random_bytes(self, n: int) -> bytes:
        return os.urandom(n)


_source: RandomSource = OsRandom()


def set_random_source(source: RandomSource) -> None:
    """Use ``source`` for every later key generation in this process."""
    global _source
    _source = source


def get_random_source() -> RandomSource:
    return _source


def random_bytes(n: int) -> bytes:
    """``n`` random bytes from the current source."""
    data = _source.random_bytes(n)
    if len(data) != n:
        raise RuntimeError(f"random source returned {len(data)} bytes instead of {n}")
    return data


def random_secret(n: int) -> SecretBytes:
    """``n`` random bytes from the current source, held in a zeroizing buffer."""
    return SecretBytes(random_bytes(n))


__all__ = [
    "OsRandom",
    "RandomSource",
    "get_random_source",
    "random_bytes",
    "random_secret",
    "set_random_source",
]
