"""Cryptographic primitives behind one algorithm registry.

- :mod:`skms.crypto.registry`: every algorithm (id, family, purposes, security
  levels, status, FIPS approval), the :class:`CryptoPolicy`, and the key
  factories :func:`generate_key`, :func:`load_private_key`, :func:`load_public_key`.
- :mod:`skms.crypto.keys`: the key interfaces, one per purpose.
- Native curves for wallets: :mod:`skms.crypto.secp256k1`, :mod:`skms.crypto.ed25519`,
  :mod:`skms.crypto.falcon`; zero-knowledge proofs in :mod:`skms.crypto.zkp`.
- :mod:`skms.crypto.hashes`, :mod:`skms.crypto.kdf`, :mod:`skms.crypto.keywrap`,
  :mod:`skms.crypto.random`.
"""

from skms.crypto import ed25519, falcon, secp256k1, zkp
from skms.crypto.registry import (
    ALGORITHMS,
    Algorithm,
    CryptoPolicy,
    Purpose,
    Status,
    generate_key,
    load_private_key,
    load_public_key,
)

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "CryptoPolicy",
    "Purpose",
    "Status",
    "ed25519",
    "falcon",
    "generate_key",
    "load_private_key",
    "load_public_key",
    "secp256k1",
    "zkp",
]
