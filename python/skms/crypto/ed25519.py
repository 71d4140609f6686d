"""Ed25519 (RFC 8032) with strict verification.

Non-canonical S, non-canonical R, and small-order public keys or R are
refused. ``verify`` raises :class:`skms.errors.InvalidKey` or
:class:`skms.errors.InvalidSignature` for malformed input and returns
``False`` for a signature that does not match; ``verify_batch`` checks
chunks with one batch equation each, on every core, and gives the same
answer as ``verify`` item by item (malformed items are ``False``).
"""

from skms._native.ed25519 import (
    generate_private_key,
    public_key,
    sign,
    sign_batch,
    verify,
    verify_batch,
)

__all__ = [
    "generate_private_key",
    "public_key",
    "sign",
    "sign_batch",
    "verify",
    "verify_batch",
]
