"""Cryptographic primitives. Elliptic curves for wallets come from the native core."""

from skms.crypto import ed25519, secp256k1

__all__ = ["ed25519", "secp256k1"]
