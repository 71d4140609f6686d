"""secp256k1: ECDSA (RFC 6979, low-S), recoverable signatures, BIP340 Schnorr, ECDH.

Every function is native (libsecp256k1) and runs with the GIL released; the
``*_batch`` and ``sign_many`` forms use every core. Private keys may be given
as :class:`skms.SecretBytes` or ``bytes``.

Verification returns ``False`` for a well-formed signature that does not
match and raises :class:`skms.errors.InvalidSignature` for one that cannot be
parsed or has a high S (unless ``allow_high_s=True``). Batch verification
reports malformed items as ``False``.
"""

from skms._native.secp256k1 import (
    convert_public_key,
    ecdh,
    generate_private_key,
    public_key,
    recover,
    schnorr_sign,
    schnorr_verify,
    sign,
    sign_batch,
    sign_der,
    sign_der_batch,
    sign_many,
    sign_recoverable,
    verify,
    verify_batch,
    xonly_public_key,
)

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
    "sign_der_batch",
    "sign_many",
    "sign_recoverable",
    "verify",
    "verify_batch",
    "xonly_public_key",
]
