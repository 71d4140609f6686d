"""The algorithm registry: every key type SKMS knows, with its properties.

Adding or retiring an algorithm is one entry in :data:`ALGORITHMS`. The key
service, the API and the CLI pick algorithms by id through :func:`get` and
create key objects through :func:`generate_key`, :func:`load_private_key`
and :func:`load_public_key`, which apply a :class:`CryptoPolicy`.

Security levels: ``classical_bits`` is the best known classical attack cost;
``quantum_category`` is the NIST post-quantum category (1-5), or 0 where a
quantum computer breaks the algorithm (Shor). Symmetric 256-bit keys keep
category 5 under Grover.
"""

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from skms.crypto import asymmetric, hybrid, pq, symmetric
from skms.crypto.keys import Key, PublicKey
from skms.errors import AlgorithmNotAllowed, InvalidInput, UnknownAlgorithm, UnsupportedOperation


class Purpose(StrEnum):
    ENCRYPT = "encrypt"
    SIGN = "sign"
    MAC = "mac"
    KEM = "kem"
    KEY_AGREEMENT = "key-agreement"
    DERIVE = "derive"


class Status(StrEnum):
    RECOMMENDED = "recommended"
    LEGACY = "legacy"
    DEPRECATED = "deprecated"


class _PrivateFactory(Protocol):
    @classmethod
    def generate(cls) -> Any: ...

    @classmethod
    def load(cls, data: Any, format: str = ...) -> Any: ...


class _PublicFactory(Protocol):
    @classmethod
    def load(cls, data: Any, format: str = ...) -> Any: ...


@dataclass(frozen=True)
class Algorithm:
    id: str
    family: str
    purposes: frozenset[Purpose]
    classical_bits: int
    quantum_category: int
    status: Status
    fips_approved: bool
    key_class: type[_PrivateFactory] = field(repr=False)
    public_class: type[_PublicFactory] | None = field(default=None, repr=False)
    #: The form a key version's material is stored in (see each key class's export).
    storage_format: str = "raw"
    notes: str = ""

    @property
    def quantum_safe(self) -> bool:
        return self.quantum_category > 0

    @property
    def asymmetric(self) -> bool:
        return self.public_class is not None


_E, _S, _M, _K, _A = Purpose.ENCRYPT, Purpose.SIGN, Purpose.MAC, Purpose.KEM, Purpose.KEY_AGREEMENT
_REC, _LEG, _DEP = Status.RECOMMENDED, Status.LEGACY, Status.DEPRECATED


def _alg(
    id: str, family: str, purposes: Iterable[Purpose], classical: int, quantum: int, status: Status,
    fips: bool, key_class: Any, public_class: Any = None, storage: str = "raw", notes: str = "",
) -> Algorithm:  # fmt: skip
    return Algorithm(id, family, frozenset(purposes), classical, quantum, status, fips, key_class, public_class,
                     storage, notes)  # fmt: skip


ALGORITHMS: dict[str, Algorithm] = {a.id: a for a in [
    _alg("aes256-gcm", "aead", [_E], 256, 5, _REC, True, symmetric.Aes256GcmKey,
         notes="NIST SP 800-38D; random 96-bit nonces, at most 2^32 messages per key version"),
    _alg("chacha20-poly1305", "aead", [_E], 256, 5, _REC, False, symmetric.ChaCha20Poly1305Key,
         notes="RFC 8439; random 96-bit nonces, at most 2^32 messages per key version"),
    _alg("xchacha20-poly1305", "aead", [_E], 256, 5, _REC, False, symmetric.XChaCha20Poly1305Key,
         notes="192-bit random nonces (libsodium)"),
    _alg("hmac-sha256", "hmac", [_M], 256, 5, _REC, True, symmetric.HmacSha256Key),
    _alg("hmac-sha512", "hmac", [_M], 512, 5, _REC, True, symmetric.HmacSha512Key),
    _alg("blake3-keyed", "blake3", [_M], 256, 5, _REC, False, symmetric.Blake3KeyedKey),
    _alg("ed25519", "eddsa", [_S], 128, 0, _REC, True, asymmetric.Ed25519Key, asymmetric.Ed25519PublicKey,
         notes="FIPS 186-5; verification uses the cofactored RFC 8032 equation"),
    _alg("ecdsa-secp256k1", "ecdsa", [_S], 128, 0, _REC, False, asymmetric.Secp256k1Key,
         asymmetric.Secp256k1PublicKey, notes="SHA-256, DER, low-S (Bitcoin/Ethereum)"),
    _alg("schnorr-secp256k1", "schnorr", [_S], 128, 0, _REC, False, asymmetric.SchnorrSecp256k1Key,
         asymmetric.SchnorrSecp256k1PublicKey, notes="BIP340"),
    _alg("ecdsa-p256", "ecdsa", [_S], 128, 0, _REC, True, asymmetric.P256Key, asymmetric.P256PublicKey,
         notes="SHA-256, DER"),
    _alg("ecdsa-p384", "ecdsa", [_S], 192, 0, _REC, True, asymmetric.P384Key, asymmetric.P384PublicKey,
         notes="SHA-384, DER"),
    _alg("rsa-2048", "rsa", [_S, _E], 112, 0, _DEP, True, asymmetric.Rsa2048Key, asymmetric.Rsa2048PublicKey,
         "pkcs8-der", notes="112-bit: NIST SP 800-131A disallows it after 2030; for imports only"),
    _alg("rsa-3072", "rsa", [_S, _E], 128, 0, _REC, True, asymmetric.Rsa3072Key, asymmetric.Rsa3072PublicKey,
         "pkcs8-der", notes="RSA-PSS (SHA-256) and RSA-OAEP (SHA-256)"),
    _alg("rsa-4096", "rsa", [_S, _E], 152, 0, _REC, True, asymmetric.Rsa4096Key, asymmetric.Rsa4096PublicKey,
         "pkcs8-der", notes="RSA-PSS (SHA-256) and RSA-OAEP (SHA-256)"),
    _alg("x25519", "ecdh", [_A], 128, 0, _REC, False, asymmetric.X25519Key, asymmetric.X25519PublicKey),
    _alg("ml-dsa-44", "ml-dsa", [_S], 128, 2, _REC, True, pq.MlDsa44Key, pq.MlDsa44PublicKey, notes="FIPS 204"),
    _alg("ml-dsa-65", "ml-dsa", [_S], 192, 3, _REC, True, pq.MlDsa65Key, pq.MlDsa65PublicKey, notes="FIPS 204"),
    _alg("ml-dsa-87", "ml-dsa", [_S], 256, 5, _REC, True, pq.MlDsa87Key, pq.MlDsa87PublicKey, notes="FIPS 204"),
    _alg("ml-kem-768", "ml-kem", [_K], 192, 3, _REC, True, pq.MlKem768Key, pq.MlKem768PublicKey, notes="FIPS 203"),
    _alg("ml-kem-1024", "ml-kem", [_K], 256, 5, _REC, True, pq.MlKem1024Key, pq.MlKem1024PublicKey,
         notes="FIPS 203"),
    _alg("falcon-512", "falcon", [_S], 128, 1, _REC, False, pq.Falcon512Key, pq.Falcon512PublicKey,
         notes="FN-DSA, draft FIPS 206 (fn-dsa crate)"),
    _alg("falcon-1024", "falcon", [_S], 256, 5, _REC, False, pq.Falcon1024Key, pq.Falcon1024PublicKey,
         notes="FN-DSA, draft FIPS 206 (fn-dsa crate)"),
    _alg("ed25519+ml-dsa-65", "hybrid-signature", [_S], 192, 3, _REC, False, hybrid.Ed25519MlDsa65Key,
         hybrid.Ed25519MlDsa65PublicKey, notes="valid only when both signatures verify"),
    _alg("x25519+ml-kem-768", "hybrid-kem", [_K], 192, 3, _REC, False, hybrid.XWingKey, hybrid.XWingPublicKey,
         notes="X-Wing (draft-connolly-cfrg-xwing-kem)"),
]}  # fmt: skip


def get(algorithm: str) -> Algorithm:
    """The registry entry of ``algorithm``; :class:`UnknownAlgorithm` otherwise."""
    try:
        return ALGORITHMS[algorithm]
    except (KeyError, TypeError):
        raise UnknownAlgorithm(f"unknown algorithm {algorithm!r}; expected one of {', '.join(ALGORITHMS)}") from None


def _truthy(value: object) -> bool:
    """Booleans from configuration; anything else is refused rather than read as false (fail closed)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
    raise InvalidInput(f"a crypto policy setting must be true or false, got {value!r}")


@dataclass(frozen=True)
class CryptoPolicy:
    """Which algorithms a deployment allows. The default refuses deprecated ones."""

    allow_deprecated: bool = False
    allow_legacy: bool = True
    fips_only: bool = False
    quantum_safe_only: bool = False
    #: When set, only these algorithm ids are allowed.
    allowed: frozenset[str] | None = None
    denied: frozenset[str] = frozenset()

    def check(self, algorithm: Algorithm | str) -> Algorithm:
        """Returns the entry, or raises :class:`AlgorithmNotAllowed` naming the rule."""
        alg = algorithm if isinstance(algorithm, Algorithm) else get(algorithm)
        refuse = AlgorithmNotAllowed
        if alg.id in self.denied:
            raise refuse(f"{alg.id} is denied by the crypto policy")
        if self.allowed is not None and alg.id not in self.allowed:
            raise refuse(f"{alg.id} is not in the crypto policy's allowed list")
        if alg.status is Status.DEPRECATED and not self.allow_deprecated:
            raise refuse(f"{alg.id} is deprecated ({alg.notes or 'see the registry'}) and the policy refuses it")
        if alg.status is Status.LEGACY and not self.allow_legacy:
            raise refuse(f"{alg.id} is legacy and the policy refuses it")
        if self.fips_only and not alg.fips_approved:
            raise refuse(f"{alg.id} is not FIPS-approved and the policy is FIPS-only")
        if self.quantum_safe_only and not alg.quantum_safe:
            raise refuse(f"{alg.id} is not quantum-safe and the policy requires quantum-safe algorithms")
        return alg

    def allows(self, algorithm: Algorithm | str) -> bool:
        try:
            self.check(algorithm)
            return True
        except AlgorithmNotAllowed:
            return False

    @classmethod
    def from_mapping(cls, config: Mapping[str, object]) -> "CryptoPolicy":
        """From configuration keys ``allow_deprecated``, ``allow_legacy``, ``fips_only``,
        ``quantum_safe_only``, ``allowed`` and ``denied`` (lists or comma-separated)."""
        known = {"allow_deprecated", "allow_legacy", "fips_only", "quantum_safe_only", "allowed", "denied"}
        unknown = set(config) - known
        if unknown:
            raise InvalidInput(f"unknown crypto policy settings: {', '.join(sorted(unknown))}")

        def ids(value: object) -> frozenset[str]:
            items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
            out = frozenset(str(i).strip() for i in items if str(i).strip())
            for i in out:
                get(i)
            return out

        return cls(
            allow_deprecated=_truthy(config.get("allow_deprecated", False)),
            allow_legacy=_truthy(config.get("allow_legacy", True)),
            fips_only=_truthy(config.get("fips_only", False)),
            quantum_safe_only=_truthy(config.get("quantum_safe_only", False)),
            allowed=ids(config["allowed"]) if config.get("allowed") else None,
            denied=ids(config.get("denied") or ()),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "CryptoPolicy":
        """From ``SKMS_CRYPTO_<SETTING>`` variables (for example ``SKMS_CRYPTO_FIPS_ONLY=1``)."""
        prefix = "SKMS_CRYPTO_"
        return cls.from_mapping({k[len(prefix) :].lower(): v for k, v in environ.items() if k.startswith(prefix)})


DEFAULT_POLICY = CryptoPolicy()


def _checked(algorithm: str, policy: CryptoPolicy | None) -> Algorithm:
    return (policy or DEFAULT_POLICY).check(algorithm)


def generate_key(algorithm: str, policy: CryptoPolicy | None = None) -> Key:
    """A new key of ``algorithm`` (a symmetric key, or a private key with ``public_key()``)."""
    return _checked(algorithm, policy).key_class.generate()  # type: ignore[no-any-return]


def load_private_key(algorithm: str, data: Any, format: str | None = None, policy: CryptoPolicy | None = None) -> Key:
    """Imports a symmetric or private key; ``format`` defaults to the algorithm's storage format."""
    alg = _checked(algorithm, policy)
    return alg.key_class.load(data, alg.storage_format if format is None else format)  # type: ignore[no-any-return]


def load_public_key(
    algorithm: str, data: Any, format: str | None = None, policy: CryptoPolicy | None = None
) -> PublicKey:
    """Imports a public key (raw by default; SPKI by default for RSA)."""
    alg = _checked(algorithm, policy)
    if alg.public_class is None:
        raise UnsupportedOperation(f"{alg.id} is a symmetric algorithm: it has no public key")
    default = "spki-der" if alg.family == "rsa" else "raw"
    return alg.public_class.load(data, default if format is None else format)  # type: ignore[no-any-return]


__all__ = [
    "ALGORITHMS",
    "DEFAULT_POLICY",
    "Algorithm",
    "CryptoPolicy",
    "Purpose",
    "Status",
    "generate_key",
    "get",
    "load_private_key",
    "load_public_key",
]
