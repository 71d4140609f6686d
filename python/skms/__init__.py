"""SKMS: a Secure Key Management System and a fast, standards-exact crypto library.

The library side lives in :mod:`skms.crypto` (primitives), :mod:`skms.wallet`
(HD wallets) and :mod:`skms.hazmat` (raw building blocks); errors in
:mod:`skms.errors`.
"""

from skms._native import SecretBytes
from skms.errors import (
    InternalError,
    InvalidAddress,
    InvalidExtendedKey,
    InvalidInput,
    InvalidKey,
    InvalidMnemonic,
    InvalidPath,
    InvalidSignature,
    InvalidType,
    SKMSError,
    UnsupportedOperation,
)

__version__ = "0.1.0"

__all__ = [
    "InternalError",
    "InvalidAddress",
    "InvalidExtendedKey",
    "InvalidInput",
    "InvalidKey",
    "InvalidMnemonic",
    "InvalidPath",
    "InvalidSignature",
    "InvalidType",
    "SKMSError",
    "SecretBytes",
    "UnsupportedOperation",
    "__version__",
]
