"""Type stubs of ``skms._native``, the private PyO3 module built from ``rust/skms-py``.

Only :mod:`skms.crypto`, :mod:`skms.wallet` and :mod:`skms.hazmat` import it;
everything else uses those public modules.
"""

from typing import NoReturn, Self, final

from . import address as address
from . import bip32 as bip32
from . import bip39 as bip39
from . import bitcoin as bitcoin
from . import constant_time as constant_time
from . import ed25519 as ed25519
from . import ethereum as ethereum
from . import falcon as falcon
from . import hashes as hashes
from . import oaep as oaep
from . import secp256k1 as secp256k1
from . import symmetric as symmetric
from . import zkp as zkp

__all__ = [
    "SecretBytes",
    "address",
    "bip32",
    "bip39",
    "bitcoin",
    "constant_time",
    "ed25519",
    "ethereum",
    "falcon",
    "hashes",
    "oaep",
    "secp256k1",
    "symmetric",
    "wipe",
    "zkp",
]

@final
class SecretBytes:
    """Secret bytes held in Rust memory: zeroized on drop, locked in RAM where
    the OS allows, compared in constant time, never shown by ``repr``."""

    def __new__(cls, data: bytes | bytearray | memoryview) -> Self:
        """A copy of ``data``; a ``bytearray`` (or a view of one) is then the caller's to ``wipe``."""
    @staticmethod
    def random(length: int) -> SecretBytes:
        """``length`` bytes from the operating system's CSPRNG."""

    def expose_secret(self) -> bytes:
        """The secret as ``bytes`` (a copy on the Python heap, not zeroized)."""

    def expose_bytearray(self) -> bytearray:
        """The secret as a ``bytearray``, for a library that wants a buffer: ``wipe`` it after the call."""

    def slice(self, start: int, end: int) -> SecretBytes:
        """The bytes ``[start, end)`` as a new secret."""

    @property
    def locked(self) -> bool:
        """True when the buffer is locked in RAM (mlock succeeded)."""

    def __len__(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]  # unhashable: raises InvalidType
    def __reduce__(self) -> NoReturn:
        """Always raises :class:`skms.errors.InvalidType`: secrets are not pickled."""

def wipe(buffer: bytes | bytearray) -> None:
    """Overwrites ``buffer`` with zeros in place (a ``bytes`` object only its caller holds)."""
