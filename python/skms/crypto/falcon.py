"""Falcon signatures as FN-DSA (the FIPS 206 draft), degrees 512 and 1024.

Native, from the ``fn-dsa`` Rust crates by Thomas Pornin (a designer of
Falcon): pure Rust, constant-time by design, AVX2 picked at run time. Every
call runs with the GIL released.

* ``generate_private_key(degree=512)`` returns the encoded private key as
  :class:`skms.SecretBytes` (1345 bytes for degree 512, 2369 for 1024);
  ``public_key`` recomputes the encoded public key (897 or 1793 bytes).
* ``sign`` is "pure" FN-DSA: the message itself is signed (no pre-hash), with
  an empty domain context. Signatures (666 or 1280 bytes) are randomized and
  hedged: two signatures of one message differ.
* ``verify`` returns ``False`` for a signature that does not match (another
  key, another message, any altered byte of its body) and raises
  :class:`skms.errors.InvalidKey` for a malformed key or
  :class:`skms.errors.InvalidSignature` for a signature of the wrong length
  or header byte.

The crate follows the FIPS 206 *draft*: until its 1.0 a new version may change
the encodings, and keys made now may have to be generated again then.
"""

from skms._native.falcon import generate_private_key, public_key, sign, verify

__all__ = ["generate_private_key", "public_key", "sign", "verify"]
