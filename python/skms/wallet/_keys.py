"""The private-key argument every wallet signing function takes."""

from skms._native import SecretBytes
from skms._native.bip32 import HDKey

PrivateKey = HDKey | SecretBytes | bytes


def private_key_of(key: PrivateKey) -> SecretBytes | bytes:
    """The raw private key of ``key`` (an :class:`HDKey` gives its own)."""
    if isinstance(key, HDKey):
        return key.private_key
    return key
