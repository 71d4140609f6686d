"""Keeping key bytes off the Python heap.

Python never wipes the memory of a freed object: a ``bytes`` copy of a key stays
readable in the process (a core dump, ``/proc/<pid>/mem``) until the allocator
happens to reuse it. So key material lives in :class:`skms.SecretBytes` (native,
zeroized on drop) and keyed operations run natively on it
(:mod:`skms._native.symmetric`). Where a library insists on a buffer of its own,
it gets one only for the call:

- :func:`exposed` lends a secret as a ``bytearray`` that is wiped afterwards;
- :func:`take` moves a ``bytes`` object a library returned into a ``SecretBytes``
  and wipes the original (only for objects nothing else refers to).
"""

from collections.abc import Iterator
from contextlib import contextmanager

from skms._native import SecretBytes, wipe


@contextmanager
def exposed(secret: SecretBytes) -> Iterator[bytearray]:
    """The secret as a ``bytearray`` for the duration of a ``with`` block, zeroed on leaving it."""
    buffer = secret.expose_bytearray()
    try:
        yield buffer
    finally:
        wipe(buffer)


def take(data: bytes | bytearray) -> SecretBytes:
    """``data`` as a :class:`SecretBytes`; ``data`` itself is zeroed (the caller must be its only holder)."""
    try:
        return SecretBytes(data)
    finally:
        wipe(data)


__all__ = ["exposed", "take", "wipe"]
