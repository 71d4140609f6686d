"""Exception classes of SKMS: one base class, one subclass per kind of error.

The native core raises these by name (``rust/skms-py/src/error.rs`` is the one
place that maps its errors here). Messages say what is wrong and never
contain secret material.
"""


class SKMSError(Exception):
    """Base class of every error SKMS raises on purpose."""


class InvalidInput(SKMSError, ValueError):
    """An argument has the wrong length, count or range. ``field`` names it when known."""

    field: str | None = None

    def __init__(self, message: str = "", field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field


class InvalidType(InvalidInput, TypeError):
    """An argument has the wrong Python type (for example ``str`` for ``bytes``)."""


class InvalidKey(InvalidInput):
    """A private or public key is malformed or out of range."""


class InvalidSignature(InvalidInput):
    """A signature cannot be parsed or is not in canonical form."""


class InvalidMnemonic(InvalidInput):
    """A BIP39 phrase has an unknown word, a bad checksum or a bad length."""


class InvalidPath(InvalidInput):
    """A derivation path cannot be parsed or used."""


class InvalidExtendedKey(InvalidInput):
    """An extended key (xprv, xpub, tpub, zpub, …) cannot be decoded."""


class InvalidAddress(InvalidInput):
    """An address has a bad encoding, checksum, prefix or network."""


class UnknownAlgorithm(InvalidInput):
    """No algorithm of that name is in the registry."""


class InvalidFormat(InvalidInput):
    """An import or export format that is unknown, or not defined for the algorithm."""


class AlgorithmNotAllowed(SKMSError):
    """The crypto policy refuses the algorithm (deprecated, not FIPS-approved, not quantum-safe…)."""


class IntegrityError(SKMSError):
    """A ciphertext, tag, wrapped key or associated data failed authentication."""


class StoreCorrupted(IntegrityError):
    """A row of the store itself (a wrapped data key, stored key material) failed authentication:
    the store is damaged or was altered at rest. A server-side fault, never the caller's."""


class UnsupportedOperation(SKMSError):
    """A well-formed request the algorithm cannot do, such as hardened public derivation."""


class NotFound(SKMSError):
    """The key, version or other object does not exist (or is not visible to the caller)."""


class Conflict(SKMSError):
    """The object already exists, or changed concurrently: retry with fresh state."""


class InvalidState(SKMSError):
    """The operation is not allowed in the key's (or version's) current state."""


class PolicyViolation(SKMSError):
    """The key's policy forbids the operation (not exportable, version below the minimum, expired…)."""


class Sealed(SKMSError):
    """The store is sealed: unseal it before using keys."""


class UnsealFailed(SKMSError):
    """The passphrase, shares or key file do not open the root key."""


class StorageError(SKMSError):
    """The store could not be reached or refused the write; nothing was acknowledged."""


class AuditUnavailable(StorageError):
    """The audit record of an operation could not be persisted, so the operation gives no result (fail closed)."""


class Unauthenticated(SKMSError):
    """No credentials, or credentials that are unknown, expired or revoked."""


class Forbidden(SKMSError):
    """The caller is known but may not do this."""


class RateLimited(SKMSError):
    """Too many requests for this principal and route class; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InternalError(SKMSError):
    """A bug in SKMS itself (for example a panic caught in the native core)."""


class HsmError(SKMSError):
    """A PKCS#11 token (HSM) failed or refused an operation (``skms.hsm``). ``ckr`` names the
    PKCS#11 return value (``"CKR_…"``) when there is one. Never carries a PIN or key material."""

    ckr: str | None = None

    def __init__(self, message: str = "", ckr: str | None = None) -> None:
        super().__init__(message)
        if ckr is not None:
            self.ckr = ckr


class HsmConfigError(HsmError):
    """The HSM settings cannot be used: no such module, no token named, no PIN source, unreadable PIN."""


class HsmUnavailable(HsmError):
    """The token cannot be used now (removed, device error, sessions closed, not logged in):
    the pool reopens its sessions and logs in again on the next call."""


class HsmTokenNotFound(HsmUnavailable):
    """No token (or more than one) with the configured label or serial is present."""


class HsmPinIncorrect(HsmUnavailable):
    """The token refused the PIN (incorrect, or not a valid PIN)."""


class HsmPinLocked(HsmUnavailable):
    """The token's user PIN is locked or expired: only its security officer can help."""


class HsmKeyNotFound(HsmError, NotFound):
    """No object on the token has that label or id (or its handle went stale)."""


class HsmKeyExists(HsmError, Conflict):
    """An object with that label or id is already on the token (or more than one matches)."""


class HsmOperationRefused(HsmError):
    """The token refuses the operation by policy or capability: mechanism not supported, key
    function not permitted, attribute sensitive, key not extractable, template inconsistent."""


class HsmInvalidInput(HsmError, InvalidInput):
    """The token refused an argument: data or signature of the wrong length, bad parameters."""


class HsmIntegrityError(HsmError, IntegrityError):
    """A ciphertext or wrapped key failed authentication in the token."""


class TransitUnavailable(SKMSError):
    """The transit seal's server (another SKMS server holding the key that wraps this store's
    unseal key) is unreachable, sealed, or refuses the configured token or key: retry once it is back.
    ``reason`` is one word for status and logs: ``unreachable``, ``tls``, ``sealed``, ``token``, ``key``,
    ``refused``."""

    def __init__(self, message: str, reason: str = "refused") -> None:
        super().__init__(message)
        self.reason = reason


__all__ = [
    "AlgorithmNotAllowed",
    "AuditUnavailable",
    "Conflict",
    "Forbidden",
    "HsmConfigError",
    "HsmError",
    "HsmIntegrityError",
    "HsmInvalidInput",
    "HsmKeyExists",
    "HsmKeyNotFound",
    "HsmOperationRefused",
    "HsmPinIncorrect",
    "HsmPinLocked",
    "HsmTokenNotFound",
    "HsmUnavailable",
    "IntegrityError",
    "InternalError",
    "InvalidAddress",
    "InvalidExtendedKey",
    "InvalidFormat",
    "InvalidInput",
    "InvalidKey",
    "InvalidMnemonic",
    "InvalidPath",
    "InvalidSignature",
    "InvalidState",
    "InvalidType",
    "NotFound",
    "PolicyViolation",
    "RateLimited",
    "SKMSError",
    "Sealed",
    "StorageError",
    "StoreCorrupted",
    "TransitUnavailable",
    "Unauthenticated",
    "UnknownAlgorithm",
    "UnsealFailed",
    "UnsupportedOperation",
]
