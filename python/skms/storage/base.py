"""The one storage interface of SKMS and the records it stores.

Records hold metadata in the clear and key material only encrypted (see
:mod:`skms.keys.envelope`): a stolen database gives no key. Backends:
:mod:`skms.storage.sqlite` (default) and :mod:`skms.storage.postgres`.
"""

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass(slots=True)
class SealRecord:
    """How the root key (KEK) is protected. One row; ``generation`` guards updates."""

    method: str
    params: dict[str, Any]
    wrapped_root: bytes
    root_id: int
    generation: int = 0
    updated_at: float = 0.0


@dataclass(slots=True)
class KeyRecord:
    id: str
    tenant: str
    name: str
    type: str
    purpose: str
    labels: dict[str, str]
    policy: dict[str, Any]
    state: str
    latest_version: int
    min_version: int
    created_at: float
    updated_at: float
    wrapped_dek: bytes
    root_id: int
    next_rotation_at: float | None = None
    deletion_at: float | None = None
    destroyed_at: float | None = None
    row_version: int = 0
    #: Type-specific metadata that is not secret (for wallets: curve, word count, …).
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class VersionRecord:
    key_id: str
    version: int
    created_at: float
    state: str  # "enabled" or "destroyed"
    material: bytes | None  # AES-256-GCM under the key's DEK; None once destroyed
    public_key: bytes | None = None
    expires_at: float | None = None


@dataclass(slots=True)
class ApiKeyRecord:
    id: str
    tenant: str
    principal: str
    secret_hash: bytes
    roles: list[str]
    description: str
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None


@dataclass(slots=True)
class ImportTokenRecord:
    """A BYOK import token: which wrapping key a caller was given, for which tenant, until when."""

    id: str
    tenant: str
    wrapping_key_id: str
    algorithm: str
    expires_at: float


@dataclass(slots=True)
class BackupRecipientRecord:
    """A public key that backup bundles of a tenant may be encrypted for, registered by an admin."""

    tenant: str
    name: str
    public_key: bytes
    fingerprint: str
    created_at: float
    created_by: str


@dataclass(slots=True)
class KeyFilter:
    type: str | None = None
    state: str | None = None
    name_prefix: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


class AuditRow(NamedTuple):
    """One stored audit record (see :mod:`skms.audit`): the canonical event and its chain values.

    ``time`` to ``result`` repeat fields of ``event`` for filtering; ``hash`` is
    SHA-256(previous hash ‖ event), ``mac`` HMAC-SHA256(audit key version ``mac_version``,
    previous mac ‖ event).
    """

    chain_id: str
    seq: int
    time: float
    tenant: str
    principal: str
    action: str
    resource: str
    result: str
    event: str
    hash: bytes
    mac: bytes
    mac_version: int


class AuditCheckpoint(NamedTuple):
    """A signature by the checkpoint key over (chain_id, seq, hash, mac, time, prev_seq) of a chain's
    record ``seq``; ``prev_seq`` is the seq of the chain's previous checkpoint (0 for the first;
    None for checkpoints written before it was signed)."""

    chain_id: str
    seq: int
    time: float
    hash: bytes
    mac: bytes
    key_version: int
    signature: bytes
    prev_seq: int | None = None


@dataclass(slots=True)
class AuditFilter:
    """Audit query filters: exact values, or a prefix when a value ends with ``*``; ``since`` <= time < ``until``."""

    tenant: str | None = None
    principal: str | None = None
    action: str | None = None
    resource: str | None = None
    result: str | None = None
    since: float | None = None
    until: float | None = None


class KeyStore(ABC):
    """Async storage of keys, versions and the seal record.

    Every write that returns has been committed durably (SQLite ``synchronous=FULL``,
    PostgreSQL ``synchronous_commit=on``). Conflicts raise :class:`skms.errors.Conflict`,
    missing rows :class:`skms.errors.NotFound`.
    """

    url: str

    @abstractmethod
    async def open(self) -> None:
        """Connects and runs pending schema migrations."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def schema_version(self) -> int: ...

    @abstractmethod
    async def ping(self) -> None:
        """Raises :class:`skms.errors.StorageError` when the store is unreachable."""

    # -- seal --
    @abstractmethod
    async def get_seal(self) -> SealRecord | None: ...

    @abstractmethod
    async def put_seal(self, record: SealRecord, expected_generation: int | None) -> SealRecord:
        """Creates (expected None) or replaces (expected = current generation) the seal record."""

    # -- keys --
    @abstractmethod
    async def create_key(self, key: KeyRecord, versions: Sequence[VersionRecord]) -> None:
        """Raises Conflict when the tenant already has a key of that name."""

    @abstractmethod
    async def get_key(self, tenant: str, name: str) -> KeyRecord: ...

    @abstractmethod
    async def get_key_by_id(self, key_id: str) -> KeyRecord: ...

    @abstractmethod
    async def list_keys(
        self, tenant: str, flt: KeyFilter, limit: int, after: str | None
    ) -> tuple[list[KeyRecord], str | None]:
        """Keys ordered by name after the cursor ``after`` (a name); returns (page, next cursor)."""

    @abstractmethod
    async def update_key(self, key: KeyRecord) -> KeyRecord:
        """Writes metadata if ``key.row_version`` is current; returns the record with the new row version."""

    @abstractmethod
    async def add_version(
        self,
        key_id: str,
        make: Callable[[KeyRecord, int], VersionRecord],
        expected_latest: int | None = None,
    ) -> tuple[KeyRecord, VersionRecord]:
        """Atomically appends version latest+1 built by ``make(key, number)``.

        With ``expected_latest``, does nothing but raise Conflict when another writer got
        there first (the automatic rotation of several nodes runs once).
        """

    @abstractmethod
    async def get_versions(self, key_id: str) -> list[VersionRecord]: ...

    @abstractmethod
    async def get_version(self, key_id: str, version: int) -> VersionRecord: ...

    @abstractmethod
    async def destroy_versions(self, key_id: str, versions: Sequence[int]) -> None:
        """Drops the material of these versions for good (metadata stays)."""

    @abstractmethod
    async def due_keys(self, now: float, limit: int) -> list[KeyRecord]:
        """Keys whose rotation or scheduled deletion is due."""

    @abstractmethod
    async def all_keys(self, after: str | None, limit: int) -> list[KeyRecord]:
        """Every key of every tenant, ordered by id (for root key rotation and backups)."""

    @abstractmethod
    async def rewrap_deks(self, updates: Sequence[tuple[str, bytes, int]]) -> None:
        """Sets (wrapped_dek, root_id) of many keys in one transaction."""

    @abstractmethod
    async def replace_key(self, old_key_id: str, key: KeyRecord, versions: Sequence[VersionRecord]) -> None:
        """In one transaction, removes key ``old_key_id`` (row and versions) and creates ``key``.

        For restoring a backup over an existing key; raises NotFound when ``old_key_id`` is gone
        and Conflict when the new name is taken by another key.
        """

    # -- BYOK import tokens --
    @abstractmethod
    async def put_import_token(self, token: ImportTokenRecord) -> None: ...

    @abstractmethod
    async def get_import_token(self, token_id: str) -> ImportTokenRecord:
        """Raises NotFound for an unknown (or already used) token."""

    @abstractmethod
    async def delete_import_token(self, token_id: str) -> bool:
        """Removes the token; True only for the one caller that removed it (single use)."""

    # -- backup recipients --
    @abstractmethod
    async def put_backup_recipient(self, record: BackupRecipientRecord) -> None:
        """Raises Conflict when the tenant already has a recipient of that name."""

    @abstractmethod
    async def get_backup_recipient(self, tenant: str, name: str) -> BackupRecipientRecord: ...

    @abstractmethod
    async def list_backup_recipients(self, tenant: str) -> list[BackupRecipientRecord]:
        """A tenant's recipients, ordered by name."""

    @abstractmethod
    async def delete_backup_recipient(self, tenant: str, name: str) -> None:
        """Raises NotFound when there is no such recipient."""

    # -- API keys --
    @abstractmethod
    async def put_api_key(self, record: ApiKeyRecord) -> None: ...

    @abstractmethod
    async def get_api_key(self, key_id: str) -> ApiKeyRecord: ...

    @abstractmethod
    async def list_api_keys(self, tenant: str | None) -> list[ApiKeyRecord]: ...

    @abstractmethod
    async def revoke_api_key(self, key_id: str, when: float) -> None: ...

    # -- authorization --
    @abstractmethod
    async def put_authz_policy(self, tenant: str, name: str, document: str) -> None: ...

    @abstractmethod
    async def get_authz_policy(self, tenant: str, name: str) -> str: ...

    @abstractmethod
    async def list_authz_policies(self, tenant: str) -> list[str]: ...

    @abstractmethod
    async def delete_authz_policy(self, tenant: str, name: str) -> None: ...

    @abstractmethod
    async def put_authz_binding(self, tenant: str, principal: str, roles: list[str], policies: list[str]) -> None: ...

    @abstractmethod
    async def get_authz_binding(self, tenant: str, principal: str) -> dict[str, list[str]]: ...

    # -- audit (skms.audit) --
    @abstractmethod
    async def append_audit(self, rows: Sequence[AuditRow]) -> None:
        """Inserts audit records in one transaction: all of them are durable when this returns, or none."""

    @abstractmethod
    async def read_audit(self, flt: AuditFilter, limit: int, after: tuple[float, str, int] | None) -> list[AuditRow]:
        """Up to ``limit`` records matching ``flt``, ordered by (time, chain_id, seq), after that key."""

    @abstractmethod
    async def read_audit_chain(self, chain_id: str, after_seq: int, limit: int) -> list[AuditRow]:
        """Up to ``limit`` records of one chain with seq > ``after_seq``, ordered by seq."""

    @abstractmethod
    async def audit_chains(self) -> list[str]:
        """Every chain id that has records or checkpoints, sorted."""

    @abstractmethod
    async def put_audit_checkpoint(self, checkpoint: AuditCheckpoint) -> None: ...

    @abstractmethod
    async def audit_checkpoints(self, chain_id: str) -> list[AuditCheckpoint]:
        """The checkpoints of a chain, ordered by seq."""


def dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def loads(text: str | bytes) -> Any:
    return json.loads(text)


KEY_COLUMNS = (
    "id, tenant, name, type, purpose, labels, policy, state, latest_version, min_version, created_at, "
    "updated_at, wrapped_dek, root_id, next_rotation_at, deletion_at, destroyed_at, row_version, meta"
)
VERSION_COLUMNS = "key_id, version, created_at, state, material, public_key, expires_at"


def key_from_row(row: Sequence[Any]) -> KeyRecord:
    return KeyRecord(
        id=row[0], tenant=row[1], name=row[2], type=row[3], purpose=row[4], labels=loads(row[5]),
        policy=loads(row[6]), state=row[7], latest_version=row[8], min_version=row[9], created_at=row[10],
        updated_at=row[11], wrapped_dek=bytes(row[12]), root_id=row[13], next_rotation_at=row[14],
        deletion_at=row[15], destroyed_at=row[16], row_version=row[17], meta=loads(row[18]),
    )  # fmt: skip


def key_to_row(k: KeyRecord) -> tuple[Any, ...]:
    return (
        k.id, k.tenant, k.name, k.type, k.purpose, dumps(k.labels), dumps(k.policy), k.state, k.latest_version,
        k.min_version, k.created_at, k.updated_at, k.wrapped_dek, k.root_id, k.next_rotation_at, k.deletion_at,
        k.destroyed_at, k.row_version, dumps(k.meta),
    )  # fmt: skip


def version_from_row(row: Sequence[Any]) -> VersionRecord:
    return VersionRecord(
        key_id=row[0], version=row[1], created_at=row[2], state=row[3],
        material=None if row[4] is None else bytes(row[4]),
        public_key=None if row[5] is None else bytes(row[5]), expires_at=row[6],
    )  # fmt: skip


def version_to_row(v: VersionRecord) -> tuple[Any, ...]:
    return (v.key_id, v.version, v.created_at, v.state, v.material, v.public_key, v.expires_at)


def label_match(key: KeyRecord, flt: KeyFilter) -> bool:
    return all(key.labels.get(k) == v for k, v in flt.labels.items())


API_KEY_COLUMNS = "id, tenant, principal, secret_hash, roles, description, created_at, expires_at, revoked_at"


def api_key_from_row(row: Sequence[Any]) -> ApiKeyRecord:
    return ApiKeyRecord(row[0], row[1], row[2], bytes(row[3]), loads(row[4]), row[5], row[6], row[7], row[8])


def api_key_to_row(r: ApiKeyRecord) -> tuple[Any, ...]:
    return (r.id, r.tenant, r.principal, r.secret_hash, dumps(r.roles), r.description, r.created_at, r.expires_at,
            r.revoked_at)  # fmt: skip


BACKUP_RECIPIENT_COLUMNS = "tenant, name, public_key, fingerprint, created_at, created_by"


def backup_recipient_from_row(row: Sequence[Any]) -> BackupRecipientRecord:
    return BackupRecipientRecord(row[0], row[1], bytes(row[2]), row[3], row[4], row[5])


def backup_recipient_to_row(r: BackupRecipientRecord) -> tuple[Any, ...]:
    return (r.tenant, r.name, r.public_key, r.fingerprint, r.created_at, r.created_by)


AUDIT_COLUMNS = "chain_id, seq, time, tenant, principal, action, resource, result, event, hash, mac, mac_version"
AUDIT_CHECKPOINT_COLUMNS = "chain_id, seq, time, hash, mac, key_version, signature, prev_seq"
