"""Post-quantum keys: ML-DSA (FIPS 204) and ML-KEM (FIPS 203) from ``cryptography``,
Falcon / FN-DSA (draft FIPS 206) from the native core.

Raw private forms are the FIPS seeds: 32 bytes (ξ) for ML-DSA, 64 bytes (d ‖ z)
for ML-KEM. ML-DSA signs in pure mode with an empty context string.
"""

from typing import Any, ClassVar

from cryptography.exceptions import InvalidSignature as _BadSignature
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem

from skms._native import SecretBytes
from skms.crypto import _pkcs
from skms.crypto.keys import (
    Exported,
    KemPrivateKey,
    KemPublicKey,
    SigningKey,
    VerifyingKey,
    b64url,
    expect_jwk,
    jwk_field,
    require_bytes,
    secret_bytes,
    typed,
)
from skms.crypto.memory import exposed, take
from skms.crypto.random import random_secret
from skms.errors import IntegrityError, InvalidFormat, InvalidKey

# --- ML-DSA --------------------------------------------------------------------------


class _MlDsaPublicKey(VerifyingKey):
    impl: ClassVar[Any]
    jwk_alg: ClassVar[str]

    def __init__(self, key: Any) -> None:
        self._key = key

    @typed
    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, message)
            return True
        except _BadSignature:
            return False

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._key.public_bytes_raw()  # type: ignore[no-any-return]
        if format in _pkcs.PUBLIC_FORMATS:
            return _pkcs.dump_public(self._key, format)
        if format == "jwk":
            return {"kty": "AKP", "alg": self.jwk_alg, "pub": b64url(self._key.public_bytes_raw())}
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "_MlDsaPublicKey":
        if format == "raw":
            try:
                return cls(cls.impl.from_public_bytes(require_bytes(data, "public key")))
            except ValueError as e:
                raise InvalidKey(f"not a {cls.algorithm} public key: {e}") from None
        if format in _pkcs.PUBLIC_FORMATS:
            return cls(_pkcs.load_public(data, format, cls.impl, cls.algorithm))
        if format == "jwk":
            expect_jwk(data, kty="AKP", alg=cls.jwk_alg)
            return cls.load(jwk_field(data, "pub"))
        raise InvalidFormat(f"{cls.algorithm} public keys import from raw, spki-der, spki-pem or jwk")


class _MlDsaKey(SigningKey):
    impl: ClassVar[Any]
    public_class: ClassVar[type[_MlDsaPublicKey]]

    def __init__(self, seed: SecretBytes) -> None:
        if len(seed) != 32:
            raise InvalidKey(f"{self.algorithm} private key is a 32-byte seed, got {len(seed)} bytes")
        self._seed = seed
        with exposed(seed) as buffer:  # OpenSSL keeps its own copy (wiped when the key is freed)
            self._key = self.impl.from_seed_bytes(buffer)
        self._public = self.public_class(self._key.public_key())

    @classmethod
    def generate(cls) -> "_MlDsaKey":
        return cls(random_secret(32))

    @typed
    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)  # type: ignore[no-any-return]

    def public_key(self) -> _MlDsaPublicKey:
        return self._public

    def export_secret(self, format: str = "raw") -> SecretBytes:
        return self._seed if format == "raw" else super().export_secret(format)

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._seed.expose_secret()
        if format in _pkcs.PRIVATE_FORMATS:
            return _pkcs.dump_private(self._key, format)
        if format == "jwk":
            jwk = self._public.export("jwk")
            assert isinstance(jwk, dict)
            return {**jwk, "priv": b64url(self._seed.expose_secret())}
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "_MlDsaKey":
        if format == "raw":
            return cls(secret_bytes(data, "private key"))
        if format in _pkcs.PRIVATE_FORMATS:
            key = _pkcs.load_private(data, format, cls.impl, cls.algorithm)
            return cls(take(key.private_bytes_raw()))
        if format == "jwk":
            expect_jwk(data, kty="AKP", alg=cls.public_class.jwk_alg)
            return cls(take(jwk_field(data, "priv")))
        raise InvalidFormat(f"{cls.algorithm} keys import from raw, pkcs8-der, pkcs8-pem or jwk")


class MlDsa44PublicKey(_MlDsaPublicKey):
    algorithm = "ml-dsa-44"
    impl = mldsa.MLDSA44PublicKey
    jwk_alg = "ML-DSA-44"


class MlDsa44Key(_MlDsaKey):
    algorithm = "ml-dsa-44"
    impl = mldsa.MLDSA44PrivateKey
    public_class = MlDsa44PublicKey


class MlDsa65PublicKey(_MlDsaPublicKey):
    algorithm = "ml-dsa-65"
    impl = mldsa.MLDSA65PublicKey
    jwk_alg = "ML-DSA-65"


class MlDsa65Key(_MlDsaKey):
    algorithm = "ml-dsa-65"
    impl = mldsa.MLDSA65PrivateKey
    public_class = MlDsa65PublicKey


class MlDsa87PublicKey(_MlDsaPublicKey):
    algorithm = "ml-dsa-87"
    impl = mldsa.MLDSA87PublicKey
    jwk_alg = "ML-DSA-87"


class MlDsa87Key(_MlDsaKey):
    algorithm = "ml-dsa-87"
    impl = mldsa.MLDSA87PrivateKey
    public_class = MlDsa87PublicKey


# --- ML-KEM --------------------------------------------------------------------------


class _MlKemPublicKey(KemPublicKey):
    impl: ClassVar[Any]

    def __init__(self, key: Any) -> None:
        self._key = key

    @typed
    def encapsulate(self) -> tuple[SecretBytes, bytes]:
        shared, ciphertext = self._key.encapsulate()
        return take(shared), ciphertext

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._key.public_bytes_raw()  # type: ignore[no-any-return]
        if format in _pkcs.PUBLIC_FORMATS:
            return _pkcs.dump_public(self._key, format)
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "_MlKemPublicKey":
        if format == "raw":
            try:
                return cls(cls.impl.from_public_bytes(require_bytes(data, "public key")))
            except ValueError as e:
                raise InvalidKey(f"not a {cls.algorithm} public key: {e}") from None
        if format in _pkcs.PUBLIC_FORMATS:
            return cls(_pkcs.load_public(data, format, cls.impl, cls.algorithm))
        raise InvalidFormat(f"{cls.algorithm} public keys import from raw, spki-der or spki-pem")


class _MlKemKey(KemPrivateKey):
    impl: ClassVar[Any]
    public_class: ClassVar[type[_MlKemPublicKey]]
    ciphertext_size: ClassVar[int]

    def __init__(self, seed: SecretBytes) -> None:
        if len(seed) != 64:
            raise InvalidKey(f"{self.algorithm} private key is a 64-byte seed (d || z), got {len(seed)} bytes")
        self._seed = seed
        with exposed(seed) as buffer:  # OpenSSL keeps its own copy (wiped when the key is freed)
            self._key = self.impl.from_seed_bytes(buffer)
        self._public = self.public_class(self._key.public_key())

    @classmethod
    def generate(cls) -> "_MlKemKey":
        return cls(random_secret(64))

    @typed
    def decapsulate(self, ciphertext: bytes) -> SecretBytes:
        if not isinstance(ciphertext, bytes) or len(ciphertext) != self.ciphertext_size:
            size = len(ciphertext) if isinstance(ciphertext, bytes) else type(ciphertext).__name__
            raise IntegrityError(f"{self.algorithm} ciphertext must be {self.ciphertext_size} bytes, got {size}")
        # ML-KEM decapsulation never fails: a altered ciphertext gives an unrelated
        # (implicitly rejected) secret, which the AEAD that uses it then refuses.
        return take(self._key.decapsulate(ciphertext))

    def public_key(self) -> _MlKemPublicKey:
        return self._public

    def export_secret(self, format: str = "raw") -> SecretBytes:
        return self._seed if format == "raw" else super().export_secret(format)

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._seed.expose_secret()
        if format in _pkcs.PRIVATE_FORMATS:
            return _pkcs.dump_private(self._key, format)
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "_MlKemKey":
        if format == "raw":
            return cls(secret_bytes(data, "private key"))
        if format in _pkcs.PRIVATE_FORMATS:
            key = _pkcs.load_private(data, format, cls.impl, cls.algorithm)
            return cls(take(key.private_bytes_raw()))
        raise InvalidFormat(f"{cls.algorithm} keys import from raw, pkcs8-der or pkcs8-pem")


class MlKem768PublicKey(_MlKemPublicKey):
    algorithm = "ml-kem-768"
    impl = mlkem.MLKEM768PublicKey


class MlKem768Key(_MlKemKey):
    algorithm = "ml-kem-768"
    impl = mlkem.MLKEM768PrivateKey
    public_class = MlKem768PublicKey
    ciphertext_size = 1088


class MlKem1024PublicKey(_MlKemPublicKey):
    algorithm = "ml-kem-1024"
    impl = mlkem.MLKEM1024PublicKey


class MlKem1024Key(_MlKemKey):
    algorithm = "ml-kem-1024"
    impl = mlkem.MLKEM1024PrivateKey
    public_class = MlKem1024PublicKey
    ciphertext_size = 1568


# --- Falcon (FN-DSA) -----------------------------------------------------------------


class _FalconPublicKey(VerifyingKey):
    def __init__(self, raw: bytes) -> None:
        from skms.crypto import falcon

        self._falcon = falcon
        self._raw = require_bytes(raw, "public key")
        # FN-DSA encoded verifying keys: header 0x00 + log2(n), then 14-bit coefficients.
        expected = {"falcon-512": (897, 0x09), "falcon-1024": (1793, 0x0A)}[self.algorithm]
        if len(self._raw) != expected[0] or self._raw[0] != expected[1]:
            raise InvalidKey(
                f"{self.algorithm} public key must be {expected[0]} bytes starting with 0x{expected[1]:02x}"
            )

    @typed
    def verify(self, message: bytes, signature: bytes) -> bool:
        return self._falcon.verify(self._raw, message, signature)

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._raw
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "_FalconPublicKey":
        if format != "raw":
            raise InvalidFormat(f"{cls.algorithm} keys have only a raw form (no standard PKCS#8/SPKI yet)")
        return cls(data)


class _FalconKey(SigningKey):
    degree: ClassVar[int]
    public_class: ClassVar[type[_FalconPublicKey]]

    def __init__(self, key: SecretBytes) -> None:
        from skms.crypto import falcon

        self._falcon = falcon
        self._key = key
        self._public = self.public_class(falcon.public_key(key))

    @classmethod
    def generate(cls) -> "_FalconKey":
        from skms.crypto import falcon

        return cls(falcon.generate_private_key(cls.degree))

    @typed
    def sign(self, message: bytes) -> bytes:
        return self._falcon.sign(self._key, message)

    def public_key(self) -> _FalconPublicKey:
        return self._public

    def export_secret(self, format: str = "raw") -> SecretBytes:
        return self._key if format == "raw" else super().export_secret(format)

    @typed
    def export(self, format: str = "raw") -> Exported:
        if format == "raw":
            return self._key.expose_secret()
        self._no_format(format)

    @classmethod
    def load(cls, data: Any, format: str = "raw") -> "_FalconKey":
        if format != "raw":
            raise InvalidFormat(f"{cls.algorithm} keys have only a raw form (no standard PKCS#8/SPKI yet)")
        return cls(secret_bytes(data, "private key"))


class Falcon512PublicKey(_FalconPublicKey):
    algorithm = "falcon-512"


class Falcon512Key(_FalconKey):
    algorithm = "falcon-512"
    degree = 512
    public_class = Falcon512PublicKey


class Falcon1024PublicKey(_FalconPublicKey):
    algorithm = "falcon-1024"


class Falcon1024Key(_FalconKey):
    algorithm = "falcon-1024"
    degree = 1024
    public_class = Falcon1024PublicKey


__all__ = [
    "Falcon512Key",
    "Falcon1024Key",
    "MlDsa44Key",
    "MlDsa65Key",
    "MlDsa87Key",
    "MlKem768Key",
    "MlKem1024Key",
]
