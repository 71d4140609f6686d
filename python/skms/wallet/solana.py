"""Solana: base58 addresses and Ed25519 signatures over message bytes."""

from skms._native import ed25519
from skms._native.address import parse_solana_address, solana_address
from skms.wallet._keys import PrivateKey, private_key_of


def address(public_key: bytes) -> str:
    """The base58 address of a 32-byte Ed25519 public key."""
    return solana_address(public_key)


def parse_address(address: str) -> bytes:
    """The 32-byte public key of an address; :class:`skms.errors.InvalidAddress` otherwise."""
    return parse_solana_address(address)


def sign(key: PrivateKey, message: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``message`` (a serialized transaction message)."""
    return ed25519.sign(private_key_of(key), message)


def verify(address_or_public_key: str | bytes, message: bytes, signature: bytes) -> bool:
    public_key = (
        parse_solana_address(address_or_public_key) if isinstance(address_or_public_key, str) else address_or_public_key
    )
    return ed25519.verify(public_key, message, signature)


__all__ = ["address", "parse_address", "sign", "verify"]
