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
from . import secp256k1 as secp256k1
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
    "secp256k1",
    "zkp",
]

@final
class SecretBytes:
    """Secret bytes held in Rust memory: zeroized on drop, locked in RAM where
    the OS allows, compared in constant time, never shown by ``repr``."""

    def __new__(cls, data: bytes) -> Self: ...
    @staticmethod
    def random(length: int) -> SecretBytes:
        """``length`` bytes from the operating system's CSPRNG."""

    def expose_secret(self) -> bytes:
        """The secret as ``bytes`` (a copy on the Python heap, not zeroized)."""

    @property
    def locked(self) -> bool:
        """True when the buffer is locked in RAM (mlock succeeded)."""

    def __len__(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]  # unhashable: raises InvalidType
    def __reduce__(self) -> NoReturn:
        """Always raises :class:`skms.errors.InvalidType`: secrets are not pickled."""
