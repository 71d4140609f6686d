"""The CSPRNG behind key generation, pluggable so that an HSM can supply it later.

Nonces for AEAD encryption come from the OS directly (``os.urandom``): they need
uniqueness, not a particular source, and the hot path should not pay for a
lookup. Key material comes from :func:`random_bytes`, which asks the source set
by :func:`set_random_source` (the OS by default).
"""

import os
from typing import Protocol

from skms._native import SecretBytes
from skms.errors import InternalError, InvalidType


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
    if not callable(getattr(source, "random_bytes", None)):
        raise InvalidType("a random source has a random_bytes(n) method")
    _source = source


def get_random_source() -> RandomSource:
    return _source


def random_bytes(n: int) -> bytes:
    """``n`` random bytes from the current source."""
    data = _source.random_bytes(n)
    if not isinstance(data, bytes) or len(data) != n:
        raise InternalError(
            f"the random source returned {len(data) if isinstance(data, bytes) else data!r} bytes instead of {n}"
        )
    return data


def random_secret(n: int) -> SecretBytes:
    """``n`` random bytes from the current source, held in a zeroizing buffer.

    From the OS source they are drawn natively: no copy of a new key is ever a Python object.
    """
    if type(_source) is OsRandom:
        return SecretBytes.random(n)
    return SecretBytes(random_bytes(n))


__all__ = [
    "OsRandom",
    "RandomSource",
    "get_random_source",
    "random_bytes",
    "random_secret",
    "set_random_source",
]
