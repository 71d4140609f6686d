"""Typed results of :mod:`skms.client` (msgspec Structs, decoded straight from the JSON responses).

``bytes`` fields are base64 on the wire and ``bytes`` here. Results that carry secrets (data keys,
shared secrets, the admin token and unseal shares, a new wallet's mnemonic) never show them in
their ``repr``.

These mirror the response bodies of :mod:`skms.api.schemas` but are declared here so a client
does not import the server (Litestar, the key service) to decode a response.
"""

from typing import Any, NamedTuple

import msgspec

_HIDDEN = "<hidden>"


class Model(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every result: immutable, unknown response fields ignored (newer servers)."""


def _secret_repr(obj: msgspec.Struct, secrets: tuple[str, ...]) -> str:
    parts = []
    for name in obj.__struct_fields__:
        value = getattr(obj, name)
        shown = _HIDDEN if name in secrets and value is not None else repr(value)
        parts.append(f"{name}={shown}")
    return f"{type(obj).__name__}({', '.join(parts)})"


# -- problems --------------------------------------------------------------------------------


class Problem(Model, frozen=True):
    """An RFC 9457 problem: the error of a whole request, or of one item of a batch."""

    type: str = "about:blank"
    title: str = "SKMSError"
    status: int = 500
    detail: str = ""
    field: str | None = None

    def exception(self) -> Exception:
        """The exception :mod:`skms.client` raises for this problem (a subclass of the library's class)."""
        from skms.client.errors import error_from_problem

        return error_from_problem(self)


# -- keys ------------------------------------------------------------------------------------


class KeyPolicy(Model, frozen=True):
    """A key's policy. Durations are seconds; ``None`` (on input) leaves a field unchanged."""

    rotation_period: int | None = None
    version_ttl: int | None = None
    exportable: bool | None = None
    deletion_window: int | None = None
    allow_backup: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__struct_fields__ if getattr(self, f) is not None}


class KeyVersion(Model, frozen=True):
    version: int
    created_at: float
    state: str
    expires_at: float | None = None
    public_key: bytes | None = None


class Key(Model, frozen=True):
    """A key's metadata and public keys (never secret material)."""

    name: str
    id: str
    type: str
    purpose: str
    state: str
    latest_version: int
    min_version: int
    created_at: float
    updated_at: float
    labels: dict[str, str] = {}
    policy: KeyPolicy = KeyPolicy()
    deletion_at: float | None = None
    destroyed_at: float | None = None
    versions: list[KeyVersion] = []
    #: "software" or "hsm" (the material lives in the server's HSM).
    backend: str = "software"

    @property
    def public_key(self) -> bytes | None:
        """The public key of the latest version (``None`` for symmetric keys)."""
        for v in self.versions:
            if v.version == self.latest_version:
                return v.public_key
        return None


class KeyPage(Model, frozen=True):
    keys: list[Key]
    next_cursor: str | None = None


# -- crypto results --------------------------------------------------------------------------


class Ciphertext(Model, frozen=True):
    ciphertext: str
    key_version: int


class Signature(Model, frozen=True):
    signature: str
    key_version: int


class Mac(Model, frozen=True):
    hmac: str
    key_version: int


class DataKey(Model, frozen=True):
    """A data key: ``plaintext`` to use now (then forget), ``ciphertext`` to store beside the data."""

    ciphertext: str
    key_version: int
    plaintext: bytes | None = None

    def __repr__(self) -> str:
        return _secret_repr(self, ("plaintext",))


class Encapsulated(Model, frozen=True):
    """A KEM result: ``shared_secret`` to use, ``ciphertext`` for the key holder to decapsulate."""

    shared_secret: bytes
    ciphertext: str
    key_version: int

    def __repr__(self) -> str:
        return _secret_repr(self, ("shared_secret",))


# -- wallets ---------------------------------------------------------------------------------


class Wallet(Model, frozen=True):
    name: str
    id: str
    state: str
    fingerprint: str
    created_at: float
    words: int | None = None
    language: str | None = None
    labels: dict[str, str] = {}
    policy: KeyPolicy = KeyPolicy()


class NewWallet(NamedTuple):
    """``create_wallet`` returns ``(wallet, mnemonic)``; the phrase is shown only this once."""

    wallet: Wallet
    mnemonic: str

    def __repr__(self) -> str:
        return f"NewWallet(wallet={self.wallet!r}, mnemonic={_HIDDEN})"


class Xpub(Model, frozen=True):
    path: str
    xpub: str
    fingerprint: str


class Address(Model, frozen=True):
    index: int
    path: str
    address: str


class WalletSignature(Model, frozen=True):
    """A chain signature; which of the optional fields are set depends on the scheme."""

    signature: str
    address: str | None = None
    public_key: str | None = None
    output_key: str | None = None
    v: int | None = None
    r: str | None = None
    s: str | None = None


# -- sys -------------------------------------------------------------------------------------


class Health(Model, frozen=True):
    status: str


class SealStatus(Model, frozen=True):
    initialized: bool
    sealed: bool
    method: str | None = None
    threshold: int | None = None


class RootRotation(Model, frozen=True):
    """The id of the new root key after ``rotate_root``."""

    root_id: int


class InitResult(Model, frozen=True):
    """The admin API token and (Shamir method) the unseal shares: store them apart, safely."""

    admin_token: str
    shares: list[str] | None = None

    def __repr__(self) -> str:
        return _secret_repr(self, ("admin_token", "shares"))


# -- wire shapes only --------------------------------------------------------------------------


class _BatchItem(msgspec.Struct, kw_only=True):
    ciphertext: str | None = None
    plaintext: bytes | None = None
    signature: str | None = None
    valid: bool | None = None
    hmac: str | None = None
    shared_secret: bytes | None = None
    key_version: int | None = None
    error: Problem | None = None


class _BatchResults(msgspec.Struct):
    results: list[_BatchItem]


class _Plaintext(msgspec.Struct):
    plaintext: bytes


class _Valid(msgspec.Struct):
    valid: bool


class _HmacOut(msgspec.Struct):
    hmac: str | None = None
    key_version: int | None = None
    valid: bool | None = None


class _SharedSecret(msgspec.Struct):
    shared_secret: bytes


class _Addresses(msgspec.Struct):
    addresses: list[Address]


class _WalletCreated(msgspec.Struct):
    wallet: Wallet
    mnemonic: str | None = None


class _Random(msgspec.Struct):
    random: bytes


class Backup(Model, frozen=True):
    """An encrypted backup bundle, the recipient it is for, the keys in it and those left out."""

    bundle: bytes
    recipient: str
    keys: list[str]
    #: Keys whose policy does not allow backup (left out of a whole-tenant backup).
    skipped: list[str]


class BackupRecipient(Model, frozen=True):
    """A registered backup recipient: a public key that backups may be encrypted for."""

    name: str
    public_key: bytes
    fingerprint: str
    created_at: float
    created_by: str


class _Recipients(msgspec.Struct):
    recipients: list[BackupRecipient]


class Restored(msgspec.Struct, frozen=True):
    """What a restore recreated."""

    keys: int
    versions: int
    replaced: int


class _Digest(msgspec.Struct):
    algorithm: str
    digest: bytes


__all__ = [
    "Address",
    "Backup",
    "BackupRecipient",
    "Ciphertext",
    "DataKey",
    "Encapsulated",
    "Health",
    "InitResult",
    "Key",
    "KeyPage",
    "KeyPolicy",
    "KeyVersion",
    "Mac",
    "NewWallet",
    "Problem",
    "SealStatus",
    "Signature",
    "Wallet",
    "WalletSignature",
    "Xpub",
]
