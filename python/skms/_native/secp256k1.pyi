"""secp256k1 on libsecp256k1: ECDSA (RFC 6979, low-S), recovery, BIP340, ECDH, batches."""

from collections.abc import Iterable

from skms._native import SecretBytes

__all__ = [
    "convert_public_key",
    "ecdh",
    "generate_private_key",
    "public_key",
    "recover",
    "schnorr_sign",
    "schnorr_verify",
    "sign",
    "sign_batch",
    "sign_der",
    "sign_many",
    "sign_recoverable",
    "verify",
    "verify_batch",
    "xonly_public_key",
]

def generate_private_key() -> SecretBytes: ...
def public_key(private_key: SecretBytes | bytes, compressed: bool = True) -> bytes: ...
def convert_public_key(public_key: bytes, compressed: bool = True) -> bytes: ...
def xonly_public_key(private_key: SecretBytes | bytes) -> bytes: ...
def sign(private_key: SecretBytes | bytes, digest: bytes) -> bytes: ...
def sign_der(private_key: SecretBytes | bytes, digest: bytes) -> bytes: ...
def sign_recoverable(private_key: SecretBytes | bytes, digest: bytes) -> bytes: ...
def recover(digest: bytes, signature: bytes, compressed: bool = True) -> bytes: ...
def verify(
    public_key: bytes, digest: bytes, signature: bytes, allow_high_s: bool = False
) -> bool: ...
def schnorr_sign(
    private_key: SecretBytes | bytes, message: bytes, aux_rand: bytes | None = None
) -> bytes: ...
def schnorr_verify(public_key: bytes, message: bytes, signature: bytes) -> bool: ...
def ecdh(private_key: SecretBytes | bytes, public_key: bytes) -> SecretBytes: ...
def sign_batch(private_key: SecretBytes | bytes, digests: Iterable[bytes]) -> list[bytes]: ...
def sign_many(
    private_keys: Iterable[SecretBytes | bytes], digests: Iterable[bytes]
) -> list[bytes]: ...
def verify_batch(
    public_keys: bytes | Iterable[bytes],
    digests: Iterable[bytes],
    signatures: Iterable[bytes],
    allow_high_s: bool = False,
) -> list[bool]: ...
