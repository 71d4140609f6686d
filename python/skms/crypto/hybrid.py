"""Hybrid schemes: ``ed25519+ml-dsa-65`` signatures and the ``x25519+ml-kem-768`` KEM (X-Wing).

The hybrid signature is valid only when both component signatures verify.
Both components sign the same domain-separated message,
``label ‖ SHA-512(hybrid public key) ‖ message``, so a component stripped
from a hybrid signature is not a valid signature of the message on its own,
and a part swapped in from another key or scheme fails.

X-Wing follows draft-connolly-cfrg-xwing-kem-10: a 32-byte seed expanded by
SHAKE-256 into an ML-KEM-768 seed and an X25519 key; the shared secret is
SHA3-256(ss_M ‖ ss_X ‖ ct_X ‖ pk_X ‖ "\\.//^\\"), which binds the X25519
ciphertext and public key (ML-KEM binds its own ciphertext through its
Fujisaki–Okamoto transform).
"""

import hashlib
import os
from typing import Any

from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from skms._native import SecretBytes, ed25519
from skms.crypto.keys import (
    Exported,
    KemPrivateKey,
    KemPublicKey,
    SigningKey,
    VerifyingKey,
    require_bytes,
    secret_bytes,
    typed,
)
from skms.crypto.memory import exposed, wipe
from skms.crypto.pq import MlDsa65Key, MlDsa65PublicKey
from skms.crypto.random import random_secret
from skms.errors import IntegrityError, InvalidFormat, InvalidKey, InvalidSignature

_SIG_LABEL = b"SKMS-HYBRID-SIGNATURE-v1 ed25519+ml-dsa-65\x00"
_ED_PUBLIC, _ED_SIG = 32, 64
_MLDSA65_PUBLIC, _MLDSA65_SIG = 1952, 3309


def _raw_only(algorithm: str, format: str) -> None:
    if format != "raw":
        raise InvalidFormat(f"{algorithm} keys have only a raw form (no standard PKCS#8/SPKI yet)")


class Ed25519MlDsa65PublicKey(VerifyingKey):
    """Raw form: Ed25519 public key (32) ‖ ML-DSA-65 public key (1952)."""

    algorithm = "ed25519+ml-dsa-65"

    def __init__(self, raw: bytes) -> None:
        if len(raw) != _ED_PUBLIC + _MLDSA65_PUBLIC:
            raise InvalidKey(
                f"{self.algorithm} public key must be {_ED_PUBLIC + _MLDSA65_PUBLIC} bytes, got {len(raw)}"
            )
        self._raw = raw
        self._ed = raw[:_ED_PUBLIC]
        self._mldsa = MlDsa65PublicKey.load(raw[_ED_PUBLIC:])
        self._prefix = _SIG_LABEL + hashlib.sha512(raw).digest()

    @typed
    def verify(self, message: bytes, signature: bytes) -> bool:
        signature = require_bytes(signature, "signature")
        if len(signature) != _ED_SIG + _MLDSA65_SIG:
            raise InvalidSignature(
                f"{self.algorithm} signature must be {_ED_SIG + _MLDSA65_SIG} bytes "
                f"(Ed25519 {_ED_SIG} then ML-DSA-65 {_MLDSA65_SIG}), got {len(signature)}"
            )
        bound = self._prefix + require_bytes(message, "message")
        classical = ed25519.verify(self._ed, bound, signature[:_ED_SIG])
        post_quantum = self._mldsa.verify(bound, signature[_ED_SIG:])
        return classical and post_quantum

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._raw
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "Ed25519MlDsa65PublicKey":
        _raw_only(cls.algorithm, format)
        return cls(require_bytes(data, "public key"))


class Ed25519MlDsa65Key(SigningKey):
    """Raw form: Ed25519 seed (32) ‖ ML-DSA-65 seed (32)."""

    algorithm = "ed25519+ml-dsa-65"

    def __init__(self, material: SecretBytes) -> None:
        if len(material) != 64:
            raise InvalidKey(f"{self.algorithm} private key must be 64 bytes (two 32-byte seeds), got {len(material)}")
        self._material = material
        self._ed = material.slice(0, 32)
        self._mldsa = MlDsa65Key(material.slice(32, 64))
        public_raw = ed25519.public_key(self._ed) + self._mldsa.public_key().export("raw")  # type: ignore[operator]
        self._public = Ed25519MlDsa65PublicKey(public_raw)

    @classmethod
    def generate(cls) -> "Ed25519MlDsa65Key":
        return cls(random_secret(64))

    @typed
    def sign(self, message: bytes) -> bytes:
        bound = self._public._prefix + require_bytes(message, "message")
        return ed25519.sign(self._ed, bound) + self._mldsa.sign(bound)

    def public_key(self) -> Ed25519MlDsa65PublicKey:
        return self._public

    def export_secret(self, format: str = "raw") -> SecretBytes:
        return self._material if format == "raw" else super().export_secret(format)

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._material.expose_secret()
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "Ed25519MlDsa65Key":
        _raw_only(cls.algorithm, format)
        return cls(secret_bytes(data, "private key"))


# --- X-Wing --------------------------------------------------------------------------

_XWING_LABEL = b"\\.//^\\"
_PK_M, _CT_M, _X = 1184, 1088, 32


def _combine(ss_m: bytes, ss_x: bytes, ct_x: bytes, pk_x: bytes) -> SecretBytes:
    return SecretBytes(hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + _XWING_LABEL).digest())


class XWingPublicKey(KemPublicKey):
    """Raw form: ML-KEM-768 encapsulation key (1184) ‖ X25519 public key (32)."""

    algorithm = "x25519+ml-kem-768"

    def __init__(self, raw: bytes) -> None:
        if len(raw) != _PK_M + _X:
            raise InvalidKey(f"X-Wing public key must be {_PK_M + _X} bytes, got {len(raw)}")
        try:
            self._mlkem = mlkem.MLKEM768PublicKey.from_public_bytes(raw[:_PK_M])
        except ValueError as e:
            raise InvalidKey(f"X-Wing public key has an invalid ML-KEM-768 part: {e}") from None
        self._pk_x = raw[_PK_M:]
        self._x25519 = x25519.X25519PublicKey.from_public_bytes(self._pk_x)
        self._raw = raw

    @typed
    def encapsulate(self) -> tuple[SecretBytes, bytes]:
        ss_m, ct_m = self._mlkem.encapsulate()
        ephemeral = x25519.X25519PrivateKey.from_private_bytes(os.urandom(32))
        ct_x = ephemeral.public_key().public_bytes_raw()
        try:
            ss_x = ephemeral.exchange(self._x25519)
        except ValueError:
            raise InvalidKey("X-Wing public key has a small-order X25519 part") from None
        return _combine(ss_m, ss_x, ct_x, self._pk_x), ct_m + ct_x

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._raw
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "XWingPublicKey":
        _raw_only(cls.algorithm, format)
        return cls(require_bytes(data, "public key"))


class XWingKey(KemPrivateKey):
    """Raw form: the 32-byte X-Wing decapsulation key (a seed)."""

    algorithm = "x25519+ml-kem-768"

    def __init__(self, seed: SecretBytes) -> None:
        if len(seed) != 32:
            raise InvalidKey(f"X-Wing private key is a 32-byte seed, got {len(seed)} bytes")
        with exposed(seed) as buffer:
            expanded = hashlib.shake_256(buffer).digest(96)
        self._seed = seed
        try:  # the expanded secrets go to OpenSSL through views, then are wiped
            view = memoryview(expanded)
            self._mlkem = mlkem.MLKEM768PrivateKey.from_seed_bytes(view[:64])
            self._x25519 = x25519.X25519PrivateKey.from_private_bytes(view[64:])
            view.release()
        finally:
            wipe(expanded)
        pk_x = self._x25519.public_key().public_bytes_raw()
        self._public = XWingPublicKey(self._mlkem.public_key().public_bytes_raw() + pk_x)

    @classmethod
    def generate(cls) -> "XWingKey":
        return cls(random_secret(32))

    @typed
    def decapsulate(self, ciphertext: bytes) -> SecretBytes:
        ct = require_bytes(ciphertext, "ciphertext")
        if len(ct) != _CT_M + _X:
            raise IntegrityError(f"X-Wing ciphertext must be {_CT_M + _X} bytes, got {len(ct)}")
        ss_m = self._mlkem.decapsulate(ct[:_CT_M])
        ct_x = ct[_CT_M:]
        try:
            ss_x = self._x25519.exchange(x25519.X25519PublicKey.from_public_bytes(ct_x))
        except ValueError:
            raise IntegrityError("X-Wing ciphertext has a small-order X25519 part") from None
        return _combine(ss_m, ss_x, ct_x, self._public._pk_x)

    def public_key(self) -> XWingPublicKey:
        return self._public

    def export_secret(self, format: str = "raw") -> SecretBytes:
        return self._seed if format == "raw" else super().export_secret(format)

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._seed.expose_secret()
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "XWingKey":
        _raw_only(cls.algorithm, format)
        return cls(secret_bytes(data, "private key"))


__all__ = ["Ed25519MlDsa65Key", "Ed25519MlDsa65PublicKey", "XWingKey", "XWingPublicKey"]
