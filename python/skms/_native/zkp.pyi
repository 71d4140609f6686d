"""Schnorr proofs of knowledge (RFC 8235) and Chaum–Pedersen DLEQ proofs on secp256k1 and Ed25519."""

from skms._native import SecretBytes

__all__ = [
    "independent_base",
    "prove_dleq",
    "prove_knowledge",
    "verify_dleq",
    "verify_knowledge",
]

def prove_knowledge(curve: str, private_key: SecretBytes | bytes, context: bytes) -> bytes: ...
def verify_knowledge(curve: str, public_key: bytes, proof: bytes, context: bytes) -> bool: ...
def independent_base(curve: str, label: bytes) -> bytes: ...
def prove_dleq(curve: str, private_key: SecretBytes | bytes, base: bytes, context: bytes) -> tuple[bytes, bytes]: ...
def verify_dleq(curve: str, public_key: bytes, base: bytes, y: bytes, proof: bytes, context: bytes) -> bool: ...
