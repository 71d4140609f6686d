"""Zero-knowledge proofs about a private key, on ``"secp256k1"`` and ``"ed25519"``.

They let SKMS show that it holds a key without signing data the verifier
chose. The verifier's ``context`` (its challenge nonce, its identity, the
purpose) is hashed into the Fiat–Shamir challenge, so a proof made for one
context does not verify under another and cannot be replayed.

* ``prove_knowledge(curve, private_key, context)`` -> proof, and
  ``verify_knowledge(curve, public_key, proof, context)``: a Schnorr proof of
  knowledge of the discrete log of the public key (RFC 8235, non-interactive).
  Proof = V ‖ s: 65 bytes on secp256k1 (V compressed), 64 on Ed25519.
* ``independent_base(curve, label)``: a point H whose discrete log to the
  generator nobody knows, hashed from ``label`` (try-and-increment).
* ``prove_dleq(curve, private_key, base, context)`` -> ``(y, proof)`` with
  y = x·base, and ``verify_dleq(curve, public_key, base, y, proof, context)``:
  a Chaum–Pedersen proof that log_G(public_key) = log_base(y). Proof = c ‖ s,
  64 bytes on both curves.

Private keys are those of :mod:`skms.crypto.secp256k1` (32 bytes in [1, n-1])
and :mod:`skms.crypto.ed25519` (the 32-byte RFC 8032 seed, whose secret
scalar clamp(SHA-512(seed)[:32]) mod L the proofs are about), as
:class:`skms.SecretBytes` or ``bytes``. Nonces are hedged: derived from the
key, every public input and fresh OS randomness.

Exact transcripts, encodings and the hash-to-curve construction are
documented in ``rust/skms-core/src/zkp.rs``.

Errors: an unknown curve, or a base or ``y`` that is not a valid point (on
Ed25519, one outside the prime-order subgroup), raises
:class:`skms.errors.InvalidInput`; a malformed private or public key
:class:`skms.errors.InvalidKey`; a proof of the wrong length, with a
commitment that is not a point or a zero or non-canonical scalar,
:class:`skms.errors.InvalidSignature`. A well-formed proof that does not
verify returns ``False``.
"""

from skms._native.zkp import (
    independent_base,
    prove_dleq,
    prove_knowledge,
    verify_dleq,
    verify_knowledge,
)

__all__ = [
    "independent_base",
    "prove_dleq",
    "prove_knowledge",
    "verify_dleq",
    "verify_knowledge",
]
