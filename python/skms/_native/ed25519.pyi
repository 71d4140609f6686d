"""Ed25519 (RFC 8032) on ed25519-dalek, with strict verification and batches."""

from collections.abc import Iterable

from skms._native import SecretBytes

__all__ = [
    "generate_private_key",
    "public_key",
    "sign",
    "sign_batch",
    "verify",
    "verify_batch",
]

def generate_private_key() -> SecretBytes: ...
def public_key(private_key: SecretBytes | bytes) -> bytes: ...
def sign(private_key: SecretBytes | bytes, message: bytes) -> bytes: ...
def verify(public_key: bytes, message: bytes, signature: bytes) -> bool: ...
def sign_batch(private_key: SecretBytes | bytes, messages: Iterable[bytes]) -> list[bytes]: ...
def verify_batch(
    public_keys: bytes | Iterable[bytes],
    messages: Iterable[bytes],
    signatures: Iterable[bytes],
) -> list[bool]: ...
