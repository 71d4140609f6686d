"""Every PKCS#11 return value (``CKR_*``) that python-pkcs11 raises, mapped to a named SKMS error.

python-pkcs11 raises one exception class per ``CKR_*`` code it knows, and a bare
``PKCS11Error("Unmapped error code 0x…")`` (or a fixed sentence) for the rest: :data:`CKR_CODES`
names those by number. :func:`hsm_error` is the one place that turns them into
:mod:`skms.errors` classes; the pool (:mod:`skms.hsm.token`) resets its sessions on every
:class:`~skms.errors.HsmUnavailable`.
"""

from __future__ import annotations

import re

from pkcs11 import exceptions as x

from skms import errors

_Entry = tuple[str, type[errors.HsmError], str]

# exception class -> (CKR name, SKMS class, what it means for the operator or caller)
CKR_CLASSES: dict[type[x.PKCS11Error], _Entry] = {
    # The token or the sessions are gone: 503, and the pool reopens everything on the next call.
    x.DeviceRemoved: ("CKR_DEVICE_REMOVED", errors.HsmUnavailable, "the HSM was removed"),
    x.DeviceError: ("CKR_DEVICE_ERROR", errors.HsmUnavailable, "the HSM reported a device error"),
    x.DeviceMemory: ("CKR_DEVICE_MEMORY", errors.HsmUnavailable, "the HSM is out of memory"),
    x.TokenNotPresent: ("CKR_TOKEN_NOT_PRESENT", errors.HsmUnavailable, "the token is not present"),
    x.TokenNotRecognised: ("CKR_TOKEN_NOT_RECOGNIZED", errors.HsmUnavailable, "the token is not recognized"),
    x.SlotIDInvalid: ("CKR_SLOT_ID_INVALID", errors.HsmUnavailable, "the token's slot is gone"),
    x.SessionClosed: ("CKR_SESSION_CLOSED", errors.HsmUnavailable, "the session was closed"),
    x.SessionHandleInvalid: ("CKR_SESSION_HANDLE_INVALID", errors.HsmUnavailable, "the session is no longer valid"),
    x.SessionCount: ("CKR_SESSION_COUNT", errors.HsmUnavailable, "the token has no more sessions to give"),
    x.UserNotLoggedIn: ("CKR_USER_NOT_LOGGED_IN", errors.HsmUnavailable, "the session is no longer logged in"),
    x.GeneralError: ("CKR_GENERAL_ERROR", errors.HsmUnavailable, "the HSM reported an unrecoverable error"),
    x.FunctionFailed: ("CKR_FUNCTION_FAILED", errors.HsmUnavailable, "the HSM could not complete the function"),
    x.HostMemory: ("CKR_HOST_MEMORY", errors.HsmUnavailable, "the PKCS#11 library ran out of memory"),
    x.FunctionCancelled: ("CKR_FUNCTION_CANCELED", errors.HsmUnavailable, "the function was cancelled"),
    x.NoSuchToken: ("CKR_TOKEN_NOT_PRESENT", errors.HsmTokenNotFound, "no token with that label or serial"),
    x.MultipleTokensReturned: ("-", errors.HsmTokenNotFound, "more than one token has that label or serial"),
    # Login.
    x.PinIncorrect: ("CKR_PIN_INCORRECT", errors.HsmPinIncorrect, "the token refused the PIN"),
    x.PinInvalid: ("CKR_PIN_INVALID", errors.HsmPinIncorrect, "the PIN has characters the token refuses"),
    x.PinLenRange: ("CKR_PIN_LEN_RANGE", errors.HsmPinIncorrect, "the PIN is too long or too short for the token"),
    x.UserPinNotInitialized: (
        "CKR_USER_PIN_NOT_INITIALIZED",
        errors.HsmPinIncorrect,
        "the token has no user PIN yet (initialise it)",
    ),
    x.PinLocked: ("CKR_PIN_LOCKED", errors.HsmPinLocked, "the user PIN is locked after too many wrong tries"),
    x.PinExpired: ("CKR_PIN_EXPIRED", errors.HsmPinLocked, "the user PIN has expired"),
    x.PinTooWeak: ("CKR_PIN_TOO_WEAK", errors.HsmOperationRefused, "the new PIN is too weak"),
    x.AnotherUserAlreadyLoggedIn: (
        "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
        errors.HsmUnavailable,
        "another user (the security officer?) is logged in to the token",
    ),
    x.UserAlreadyLoggedIn: ("CKR_USER_ALREADY_LOGGED_IN", errors.HsmUnavailable, "the user is already logged in"),
    x.UserTooManyTypes: ("CKR_USER_TOO_MANY_TYPES", errors.HsmUnavailable, "too many users are logged in"),
    x.SessionReadOnlyExists: (
        "CKR_SESSION_READ_ONLY_EXISTS",
        errors.HsmUnavailable,
        "a read-only session prevents the security officer's login",
    ),
    x.SessionReadWriteSOExists: (
        "CKR_SESSION_READ_WRITE_SO_EXISTS",
        errors.HsmUnavailable,
        "a security officer session is open on the token",
    ),
    x.SessionExists: ("CKR_SESSION_EXISTS", errors.HsmUnavailable, "sessions are open on the token"),
    # Keys and objects.
    x.NoSuchKey: ("-", errors.HsmKeyNotFound, "no key on the token has that label or id"),
    x.KeyHandleInvalid: ("CKR_KEY_HANDLE_INVALID", errors.HsmKeyNotFound, "the key no longer exists on the token"),
    x.ObjectHandleInvalid: (
        "CKR_OBJECT_HANDLE_INVALID",
        errors.HsmKeyNotFound,
        "the object no longer exists on the token",
    ),
    x.WrappingKeyHandleInvalid: (
        "CKR_WRAPPING_KEY_HANDLE_INVALID",
        errors.HsmKeyNotFound,
        "the wrapping key no longer exists on the token",
    ),
    x.UnwrappingKeyHandleInvalid: (
        "CKR_UNWRAPPING_KEY_HANDLE_INVALID",
        errors.HsmKeyNotFound,
        "the unwrapping key no longer exists on the token",
    ),
    x.MultipleObjectsReturned: ("-", errors.HsmKeyExists, "more than one object on the token matches"),
    # Refused by the token's policy or capabilities.
    x.MechanismInvalid: (
        "CKR_MECHANISM_INVALID",
        errors.HsmOperationRefused,
        "the token does not support the mechanism",
    ),
    x.MechanismParamInvalid: (
        "CKR_MECHANISM_PARAM_INVALID",
        errors.HsmOperationRefused,
        "the token refuses the mechanism's parameters",
    ),
    x.FunctionNotSupported: ("CKR_FUNCTION_NOT_SUPPORTED", errors.HsmOperationRefused, "the token lacks the function"),
    x.FunctionRejected: ("CKR_FUNCTION_REJECTED", errors.HsmOperationRefused, "the token rejected the request"),
    x.AttributeSensitive: (
        "CKR_ATTRIBUTE_SENSITIVE",
        errors.HsmOperationRefused,
        "the attribute is sensitive: the token does not reveal it",
    ),
    x.AttributeReadOnly: ("CKR_ATTRIBUTE_READ_ONLY", errors.HsmOperationRefused, "the attribute cannot be changed"),
    x.AttributeTypeInvalid: (
        "CKR_ATTRIBUTE_TYPE_INVALID",
        errors.HsmOperationRefused,
        "the object has no such attribute",
    ),
    x.AttributeValueInvalid: (
        "CKR_ATTRIBUTE_VALUE_INVALID",
        errors.HsmOperationRefused,
        "the token refuses an attribute's value",
    ),
    x.TemplateIncomplete: ("CKR_TEMPLATE_INCOMPLETE", errors.HsmOperationRefused, "the key template lacks attributes"),
    x.TemplateInconsistent: (
        "CKR_TEMPLATE_INCONSISTENT",
        errors.HsmOperationRefused,
        "the key template is inconsistent",
    ),
    x.KeyUnextractable: (
        "CKR_KEY_UNEXTRACTABLE",
        errors.HsmOperationRefused,
        "the key is not extractable: it never leaves the token",
    ),
    x.KeyNotWrappable: ("CKR_KEY_NOT_WRAPPABLE", errors.HsmOperationRefused, "the key cannot be wrapped"),
    x.KeyIndigestible: ("CKR_KEY_INDIGESTIBLE", errors.HsmOperationRefused, "the key cannot be digested"),
    x.KeyTypeInconsistent: (
        "CKR_KEY_TYPE_INCONSISTENT",
        errors.HsmOperationRefused,
        "the key's type does not fit the mechanism",
    ),
    x.KeySizeRange: ("CKR_KEY_SIZE_RANGE", errors.HsmOperationRefused, "the token does not support that key size"),
    x.KeyNeeded: ("CKR_KEY_NEEDED", errors.HsmOperationRefused, "the operation needs a key"),
    x.KeyNotNeeded: ("CKR_KEY_NOT_NEEDED", errors.HsmOperationRefused, "the operation takes no key"),
    x.WrappingKeySizeRange: (
        "CKR_WRAPPING_KEY_SIZE_RANGE",
        errors.HsmOperationRefused,
        "the wrapping key's size does not fit the mechanism",
    ),
    x.WrappingKeyTypeInconsistent: (
        "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",
        errors.HsmOperationRefused,
        "the wrapping key's type does not fit the mechanism",
    ),
    x.UnwrappingKeySizeRange: (
        "CKR_UNWRAPPING_KEY_SIZE_RANGE",
        errors.HsmOperationRefused,
        "the unwrapping key's size does not fit the mechanism",
    ),
    x.UnwrappingKeyTypeInconsistent: (
        "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
        errors.HsmOperationRefused,
        "the unwrapping key's type does not fit the mechanism",
    ),
    x.DomainParamsInvalid: ("CKR_DOMAIN_PARAMS_INVALID", errors.HsmOperationRefused, "the token refuses the curve"),
    x.TokenWriteProtected: (
        "CKR_TOKEN_WRITE_PROTECTED",
        errors.HsmOperationRefused,
        "the token is write-protected",
    ),
    x.SessionReadOnly: ("CKR_SESSION_READ_ONLY", errors.HsmOperationRefused, "the session is read-only"),
    x.RandomNoRNG: ("CKR_RANDOM_NO_RNG", errors.HsmOperationRefused, "the token has no random number generator"),
    x.RandomSeedNotSupported: (
        "CKR_RANDOM_SEED_NOT_SUPPORTED",
        errors.HsmOperationRefused,
        "the token's generator takes no seed",
    ),
    x.ExceededMaxIterations: (
        "CKR_EXCEEDED_MAX_ITERATIONS",
        errors.HsmOperationRefused,
        "the token gave up generating the key",
    ),
    x.NoEvent: ("CKR_NO_EVENT", errors.HsmOperationRefused, "no slot event is pending"),
    # The caller's data.
    x.ArgumentsBad: ("CKR_ARGUMENTS_BAD", errors.HsmInvalidInput, "an argument is not acceptable"),
    x.DataInvalid: ("CKR_DATA_INVALID", errors.HsmInvalidInput, "the data is not acceptable to the mechanism"),
    x.DataLenRange: ("CKR_DATA_LEN_RANGE", errors.HsmInvalidInput, "the data has the wrong length"),
    x.EncryptedDataLenRange: (
        "CKR_ENCRYPTED_DATA_LEN_RANGE",
        errors.HsmInvalidInput,
        "the ciphertext has the wrong length",
    ),
    x.SignatureLenRange: ("CKR_SIGNATURE_LEN_RANGE", errors.HsmInvalidInput, "the signature has the wrong length"),
    x.WrappedKeyLenRange: (
        "CKR_WRAPPED_KEY_LEN_RANGE",
        errors.HsmInvalidInput,
        "the wrapped key has the wrong length",
    ),
    x.PublicKeyInvalid: ("CKR_PUBLIC_KEY_INVALID", errors.HsmInvalidInput, "the public key is invalid"),
    x.EncryptedDataInvalid: (
        "CKR_ENCRYPTED_DATA_INVALID",
        errors.HsmIntegrityError,
        "the ciphertext failed authentication",
    ),
    x.WrappedKeyInvalid: ("CKR_WRAPPED_KEY_INVALID", errors.HsmIntegrityError, "the wrapped key failed authentication"),
    x.SignatureInvalid: ("CKR_SIGNATURE_INVALID", errors.HsmIntegrityError, "the signature does not verify"),
    # A misuse of a session by SKMS itself: the session is dropped and a bug is reported.
    x.OperationActive: ("CKR_OPERATION_ACTIVE", errors.HsmError, "another operation is active on the session"),
    x.OperationNotInitialized: (
        "CKR_OPERATION_NOT_INITIALIZED",
        errors.HsmError,
        "no operation is active on the session",
    ),
}

#: Return values python-pkcs11 raises as a bare PKCS11Error, by number (PKCS#11 v3.1 pkcs11t.h).
CKR_CODES: dict[int, _Entry] = {
    0x068: ("CKR_KEY_FUNCTION_NOT_PERMITTED", errors.HsmOperationRefused, "the key's attributes forbid this use"),
    0x06A: ("CKR_KEY_NOT_WRAPPABLE", errors.HsmOperationRefused, "the key cannot be wrapped"),
    0x150: ("CKR_BUFFER_TOO_SMALL", errors.HsmError, "an output buffer was too small"),
    0x170: ("CKR_SAVED_STATE_INVALID", errors.HsmError, "the saved state is invalid"),
    0x180: ("CKR_INFORMATION_SENSITIVE", errors.HsmOperationRefused, "the information is sensitive"),
    0x190: ("CKR_CRYPTOKI_NOT_INITIALIZED", errors.HsmUnavailable, "the PKCS#11 library is not initialised"),
    0x191: ("CKR_CRYPTOKI_ALREADY_INITIALIZED", errors.HsmUnavailable, "the PKCS#11 library is already initialised"),
    0x1A0: ("CKR_MUTEX_BAD", errors.HsmUnavailable, "the PKCS#11 library's locking failed"),
    0x1A1: ("CKR_MUTEX_NOT_LOCKED", errors.HsmUnavailable, "the PKCS#11 library's locking failed"),
    0x0B4: ("CKR_SESSION_PARALLEL_NOT_SUPPORTED", errors.HsmOperationRefused, "no parallel sessions"),
    0x103: ("CKR_USER_TYPE_INVALID", errors.HsmError, "the user type is invalid"),
    0x200: ("CKR_FUNCTION_REJECTED", errors.HsmOperationRefused, "the token rejected the request"),
    0x0A0: ("CKR_PIN_INCORRECT", errors.HsmPinIncorrect, "the token refused the PIN"),
}

# The fixed sentences python-pkcs11 raises instead of a number for a few codes.
_SENTENCES = {
    "not initialized": 0x190,
    "already initialized": 0x191,
    "Buffer was too small": 0x150,
    "Parallel not supported": 0x0B4,
    "User type invalid": 0x103,
}
_UNMAPPED = re.compile(r"Unmapped error code (0x[0-9a-fA-F]+)")


def classify(exc: x.PKCS11Error) -> _Entry:
    """(CKR name, SKMS class, meaning) of a python-pkcs11 exception."""
    for cls in type(exc).__mro__:
        if cls in CKR_CLASSES:
            return CKR_CLASSES[cls]
    text = str(exc)
    found = _UNMAPPED.search(text)
    code = int(found.group(1), 16) if found else next((c for s, c in _SENTENCES.items() if s in text), None)
    if code is not None and code in CKR_CODES:
        return CKR_CODES[code]
    if code is not None:
        return (f"CKR 0x{code:x}", errors.HsmError, "the HSM returned an error SKMS does not know")
    if "OS exception while loading" in text or "exception while loading" in text:
        return ("-", errors.HsmConfigError, "the PKCS#11 library cannot be loaded")
    return ("-", errors.HsmError, "the HSM returned an error SKMS does not know")


def hsm_error(exc: x.PKCS11Error, doing: str) -> errors.HsmError:
    """The SKMS error for ``exc`` raised while ``doing`` (``"signing with key 'x'"``).

    The message names the operation, what the return value means and the ``CKR_*`` name; it
    never repeats python-pkcs11's own text, which may quote a search template.
    """
    ckr, cls, meaning = classify(exc)
    suffix = f" ({ckr})" if ckr != "-" else ""
    return cls(f"HSM: {doing}: {meaning}{suffix}", ckr=None if ckr == "-" else ckr)


__all__ = ["CKR_CLASSES", "CKR_CODES", "classify", "hsm_error"]
