"""KeyService: every lifecycle and cryptographic operation on keys and wallets.

The API, the CLI and later interfaces call this one object. It checks the
key's state and policy, picks the version (new operations use the newest
enabled, unexpired version; decrypt and verify accept any enabled version not
below the minimum), keeps decrypted material in a bounded TTL cache, and writes
through a :class:`~skms.storage.KeyStore`.

Authorization and audit hook in through :class:`Guard` (allow-all until the
security layer replaces it), so every interface gets the same answer.

Around it, one concern per module: where key material comes from and where the
operations run (:mod:`skms.keys.backends`, :mod:`skms.keys.hsm_backend`), the
guard (:mod:`skms.keys.guarding`), what callers see (:mod:`skms.keys.info`),
the key model (:mod:`skms.keys.model`), BYOK (:mod:`skms.keys.transfer`) and
backups (:mod:`skms.keys.backup`).
"""

import asyncio
import base64
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from skms._native import SecretBytes
from skms.crypto import registry
from skms.crypto.keys import (
    AeadKey,
    DecryptingKey,
    KemPrivateKey,
    MacKey,
    SigningKey,
)
from skms.crypto.random import random_secret_async, run_generation
from skms.crypto.registry import CryptoPolicy, Purpose
from skms.errors import (
    Conflict,
    HsmUnavailable,
    InvalidInput,
    InvalidState,
    NotFound,
    PolicyViolation,
    StoreCorrupted,
    UnsupportedOperation,
)
from skms.keys import backends, envelope
from skms.keys.backends import (
    BACKENDS,
    HSM,
    SOFTWARE,
    KeyBackend,
    SoftwareBackend,
    backend_of,
    public_bytes,
)
from skms.keys.cache import TtlCache
from skms.keys.guarding import Guard, guarded
from skms.keys.info import KeyInfo, VersionInfo, decode_cursor, encode_cursor, key_info
from skms.keys.model import (
    KeyPolicy,
    KeyState,
    backup_allowed,
    check_labels,
    check_name,
    check_transition,
    check_usable,
    decode_versioned,
    encode_versioned,
)
from skms.keys.seal import Sealer
from skms.storage import open_store
from skms.storage.base import KeyFilter, KeyRecord, KeyStore, VersionRecord

log = logging.getLogger("skms.keys")

if TYPE_CHECKING:
    from skms.hsm import Hsm
    from skms.keys.backup import BackupRecipient, BackupResult
    from skms.keys.hsm_backend import Pkcs11Backend


_PURPOSE_OF = {
    "encrypt": "encrypt", "decrypt": "encrypt", "sign": "sign", "verify": "sign", "mac": "mac",
    "verify_mac": "mac", "encapsulate": "kem", "decapsulate": "kem",
}  # fmt: skip

WALLET_TYPE = backends.WALLET_TYPE
UNSET: Any = object()
MAX_LIST = 1000


@dataclass(slots=True)
class _Cached:
    """A key's metadata as the hot path needs it."""

    record: KeyRecord
    versions: dict[int, VersionRecord]
    newest: int | None  # the newest enabled version


def _now() -> float:
    return time.time()


def _purpose_for(alg: registry.Algorithm, purpose: str | None) -> str:
    if purpose is None:
        if len(alg.purposes) == 1:
            return next(iter(alg.purposes)).value
        return Purpose.SIGN.value if Purpose.SIGN in alg.purposes else sorted(alg.purposes)[0].value
    if purpose not in {p.value for p in alg.purposes}:
        allowed = ", ".join(sorted(p.value for p in alg.purposes))
        raise InvalidInput(f"a {alg.id} key cannot have purpose {purpose!r} (allowed: {allowed})")
    return purpose


class KeyService:
    def __init__(
        self,
        store: KeyStore,
        *,
        crypto_policy: CryptoPolicy | None = None,
        guard: Guard | None = None,
        material_ttl: float = 300.0,
        material_entries: int = 10_000,
        metadata_ttl: float = 1.0,
        clock: Callable[[], float] = _now,
        hsm: "Hsm | None" = None,
    ) -> None:
        self.store = store
        self.sealer = Sealer(store)
        self.crypto_policy = crypto_policy or registry.DEFAULT_POLICY
        self.guard = guard or Guard()
        self.clock = clock
        self._materials: TtlCache[Any] = TtlCache(material_entries, material_ttl)
        self._deks: TtlCache[SecretBytes] = TtlCache(material_entries, material_ttl)
        self.software = SoftwareBackend(self.sealer, self._deks, self._corrupted)
        self.hsm_backend: Pkcs11Backend | None = None
        if hsm is not None:
            self.use_hsm(hsm)
        self._meta: TtlCache[_Cached] = TtlCache(material_entries, metadata_ttl)
        self.sealer.on_seal.append(self.purge)
        #: Called with (tenant, name) after every write: cross-node invalidation hooks in here.
        self.on_change: list[Callable[[str, str], None]] = []
        #: Called with what failed (``"data key"``, ``"key material"``) when a stored row fails authentication.
        self.on_corruption: list[Callable[[str], None]] = []

    @classmethod
    async def open(cls, url: str, **options: Any) -> "KeyService":
        store = open_store(url)
        await store.open()
        return cls(store, **options)

    def use_hsm(self, hsm: "Hsm") -> None:
        """Makes keys with ``backend="hsm"`` possible (and usable) in ``hsm``'s token."""
        from skms.keys.hsm_backend import Pkcs11Backend

        self.hsm_backend = Pkcs11Backend(hsm, self.software)

    def _backend(self, record: KeyRecord) -> KeyBackend:
        """The backend a key's material lives in."""
        if backend_of(record) == HSM:
            return self._hsm(record.name)
        return self.software

    def _hsm_backend(self) -> "Pkcs11Backend | None":
        """The HSM backend: the one given, or on the token the server opened for its seal (hsm_* settings)."""
        if self.hsm_backend is None:
            hsm = getattr(self.sealer, "hsm", None)
            if hsm is not None:
                self.use_hsm(hsm)
        return self.hsm_backend

    def _hsm(self, name: str) -> "Pkcs11Backend":
        backend = self._hsm_backend()
        if backend is None:
            raise HsmUnavailable(f"{name!r} lives in an HSM, and this server has no HSM configured (hsm_module)")
        return backend

    def _software_only(self, record: KeyRecord) -> None:
        if backend_of(record) == HSM:
            raise UnsupportedOperation(
                f"{record.name!r} lives in the HSM: its material never leaves the token (no export, no backup)"
            )

    async def close(self) -> None:
        self.sealer.seal()  # a closed service keeps no secret: root keys and every on_seal holder too
        await self.store.close()

    def purge(self) -> None:
        """Drops every decrypted secret held by this process."""
        self._materials.clear()
        self._deks.clear()
        self._meta.clear()

    def invalidate(self, tenant: str, name: str) -> None:
        """Forgets cached metadata of one key (after a write here or on another node)."""
        cached = self._meta.get((tenant, name))
        self._meta.pop((tenant, name))
        if cached is not None:
            key_id = cached.record.id
            self._materials.pop_where(lambda k: isinstance(k, tuple) and k[0] == key_id)

    def cached_type(self, tenant: str, name: str) -> str | None:
        """The type of a key if its metadata is cached (for metrics labels; never reads the store)."""
        entry = self._meta._entries.get((tenant, name))
        return None if entry is None else entry[1].record.type

    def _changed(self, tenant: str, name: str) -> None:
        self.invalidate(tenant, name)
        for hook in self.on_change:
            hook(tenant, name)

    def changed(self, tenant: str, name: str) -> None:
        """Tells this node's caches and every hook (other nodes) that a key was written outside this class."""
        self._changed(tenant, name)

    # -- reading ------------------------------------------------------------------------------

    async def _load(self, tenant: str, name: str) -> _Cached:
        cached = self._meta.get((tenant, name))
        if cached is not None:
            return cached
        record = await self.store.get_key(tenant, name)
        if record.root_id not in self.sealer._roots and not self.sealer.sealed:
            await self.sealer.refresh()  # another node rotated the root key
        versions = {v.version: v for v in await self.store.get_versions(record.id)}
        enabled = [v for v in versions.values() if v.state == "enabled"]
        newest = max((v.version for v in enabled), default=None)
        cached = _Cached(record, versions, newest)
        self._meta.put((tenant, name), cached)
        return cached

    def _dek(self, record: KeyRecord) -> SecretBytes:
        return self.software.data_key(record)

    def _corrupted(self, what: str, record: KeyRecord, version: int | None, error: Exception) -> StoreCorrupted:
        """A stored row failed authentication: the server's fault, never the caller's (logged, counted)."""
        row = {"key_id": record.id, "tenant": record.tenant, "root_id": record.root_id, "version": version}
        log.error("stored %s failed authentication: %s", what, error, extra={"fields": {"row": row}})
        for hook in self.on_corruption:
            hook(what)
        where = f"key {record.id}" + ("" if version is None else f" version {version}")
        return StoreCorrupted(f"the stored {what} of {where} failed authentication: the store is damaged or altered")

    def data_key(self, record: KeyRecord) -> SecretBytes:
        """The unwrapped data key of a key (for modules that re-encrypt its versions: restore)."""
        return self._dek(record)

    def version_material(self, record: KeyRecord, version: VersionRecord) -> SecretBytes:
        """The decrypted material of one version. The caller enforces the key's policy (export, backup);
        an HSM-resident key's material never leaves the token (UnsupportedOperation)."""
        return self._material(record, version)

    def _material(self, record: KeyRecord, version: VersionRecord) -> SecretBytes:
        self._software_only(record)
        return self.software.material(record, version)

    def _key_object(self, cached: _Cached, version: int) -> Any:
        """The handle of one version from the key's backend (a key object, or a token reference), cached."""
        record = cached.record
        obj = self._materials.get((record.id, version))
        if obj is not None:
            return obj
        v = cached.versions.get(version)
        if v is None:
            raise NotFound(f"{record.name!r} has no version {version}")
        obj = self._backend(record).load(record, v)
        self._materials.put((record.id, version), obj)
        return obj

    def _for_protect(self, cached: _Cached, operation: str) -> int:
        record = cached.record
        check_usable(record.state, operation, record.deletion_at is not None)
        version = cached.newest
        if version is None:
            raise InvalidState(f"{record.name!r} has no enabled version")
        expires = cached.versions[version].expires_at
        if expires is not None and expires <= self.clock():
            raise PolicyViolation(
                f"the newest version ({version}) of {record.name!r} expired; rotate the key to {operation} again"
            )
        return version

    def _for_process(self, cached: _Cached, version: int, operation: str) -> None:
        record = cached.record
        check_usable(record.state, operation, record.deletion_at is not None)
        if version < record.min_version:
            raise PolicyViolation(
                f"version {version} of {record.name!r} is below the minimum version {record.min_version}"
            )
        v = cached.versions.get(version)
        if v is None:
            raise NotFound(f"{record.name!r} has no version {version}")
        if v.state != "enabled":
            raise InvalidState(f"version {version} of {record.name!r} is {v.state}")

    def _check_purpose(self, cached: _Cached, operation: str) -> None:
        """A key made for one purpose is not used for another (an RSA signing key does not decrypt).

        Checked after the material decrypted, so a tampered purpose column shows as an integrity error.
        """
        needed = _PURPOSE_OF.get(operation)
        if needed is not None and cached.record.purpose != needed:
            raise PolicyViolation(f"{cached.record.name!r} is a {cached.record.purpose} key; it cannot {operation}")

    def _require(self, cached: _Cached, cls: type | tuple[type, ...], operation: str) -> None:
        record = cached.record
        if record.type == WALLET_TYPE:
            raise UnsupportedOperation(f"{record.name!r} is a wallet: use the wallet operations")
        key_class = registry.get(record.type).key_class
        if not ((isinstance(cls, tuple) and any(issubclass(key_class, c) for c in cls)) or
                (not isinstance(cls, tuple) and issubclass(key_class, cls))):  # fmt: skip
            raise UnsupportedOperation(f"a {record.type} key cannot {operation}")

    @guarded("key:Get")
    async def get_key(self, tenant: str, name: str, *, principal: object = None) -> KeyInfo:
        record = await self.store.get_key(tenant, name)
        return key_info(record, await self.store.get_versions(record.id))

    @guarded("wallet:Get")
    async def get_wallet(self, tenant: str, name: str, *, principal: object = None) -> KeyInfo:
        record = await self.store.get_key(tenant, name)
        if record.type != WALLET_TYPE:
            raise UnsupportedOperation(f"{name!r} is a {record.type} key, not a wallet")
        return key_info(record, await self.store.get_versions(record.id))

    @guarded("key:List", named=False)
    async def list_keys(
        self,
        tenant: str,
        *,
        type: str | None = None,
        state: str | None = None,
        prefix: str | None = None,
        labels: dict[str, str] | None = None,
        limit: int = 100,
        cursor: str | None = None,
        principal: object = None,
    ) -> tuple[list[KeyInfo], str | None]:
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
            raise InvalidInput(f"limit must be 1 to {MAX_LIST}, got {limit!r}")
        after = decode_cursor(cursor) if cursor is not None else None
        page, nxt = await self.store.list_keys(tenant, KeyFilter(type, state, prefix, labels or {}), limit, after)
        return [key_info(r, await self.store.get_versions(r.id)) for r in page], None if nxt is None else encode_cursor(
            nxt
        )

    # -- lifecycle ------------------------------------------------------------------------------

    def _new_version(
        self, record: KeyRecord, number: int, material: SecretBytes, public_key: bytes | None, now: float
    ) -> VersionRecord:
        return self._version_row(record, number, self.software.seal(record, number, material), public_key, now)

    @staticmethod
    def _version_row(
        record: KeyRecord, number: int, blob: bytes, public_key: bytes | None, now: float
    ) -> VersionRecord:
        ttl = record.policy.get("version_ttl")
        return VersionRecord(record.id, number, now, "enabled", blob, public_key, None if not ttl else now + ttl)

    @guarded("key:Create")
    async def create_key(
        self,
        tenant: str,
        name: str,
        type: str,
        *,
        purpose: str | None = None,
        labels: dict[str, str] | None = None,
        policy: dict[str, Any] | None = None,
        state: str = KeyState.ACTIVE,
        backend: str = SOFTWARE,
        principal: object = None,
    ) -> KeyInfo:
        """A new key with version 1 (generated here; its material never leaves unprotected).

        ``backend="hsm"``: generated in, and used inside, the configured PKCS#11 token.
        """
        if type == WALLET_TYPE:
            raise InvalidInput("create wallets with create_wallet")
        if backend not in BACKENDS:
            raise InvalidInput(
                f"unknown key backend {backend!r}; expected one of {', '.join(BACKENDS)}", field="backend"
            )
        alg = registry.get(type) if tenant.startswith("__") else self.crypto_policy.check(type)
        if backend == HSM:
            return await self._insert_hsm(tenant, name, alg, _purpose_for(alg, purpose), labels, policy, state)
        material, public = await self.software.generate(alg)
        return await self._insert(
            tenant, name, type, _purpose_for(alg, purpose), labels, policy, state, material, public
        )

    async def _insert_hsm(
        self,
        tenant: str,
        name: str,
        alg: registry.Algorithm,
        purpose: str,
        labels: dict[str, str] | None,
        policy: dict[str, Any] | None,
        state: str,
    ) -> KeyInfo:
        """A key whose version 1 is generated in the token: the object first, the row after it."""
        hsm = self._hsm_backend()
        if hsm is None:
            raise InvalidInput(
                "backend 'hsm' needs an HSM: this server has none configured (set hsm_module and the token)",
                field="backend",
            )
        from skms.keys.hsm_backend import check_type

        check_type(alg.id)
        wanted = KeyPolicy.for_new_key(policy)
        if wanted.exportable or wanted.allow_backup:
            raise InvalidInput(
                "an HSM-resident key never leaves the token: its policy cannot be exportable or allow_backup",
                field="policy",
            )
        record, _ = await self._new_record(tenant, name, alg.id, purpose, labels, policy, state, {"backend": HSM})
        now = record.created_at
        blob, public = await hsm.create(record, 1)
        version = self._version_row(record, 1, blob, public, now)
        try:
            await self.store.create_key(record, [version])
        except BaseException:
            await asyncio.shield(hsm.forget_blob(record, 1, blob))  # no row: the object goes too
            raise
        self._changed(tenant, name)
        return key_info(record, [version])

    async def _insert(
        self,
        tenant: str,
        name: str,
        type: str,
        purpose: str,
        labels: dict[str, str] | None,
        policy: dict[str, Any] | None,
        state: str,
        material: SecretBytes,
        public_key: bytes | None,
        meta: dict[str, Any] | None = None,
    ) -> KeyInfo:
        record, now = await self._new_record(tenant, name, type, purpose, labels, policy, state, meta)
        version = self._new_version(record, 1, material, public_key, now)
        await self.store.create_key(record, [version])
        self._changed(tenant, name)
        return key_info(record, [version])

    async def _new_record(
        self,
        tenant: str,
        name: str,
        type: str,
        purpose: str,
        labels: dict[str, str] | None,
        policy: dict[str, Any] | None,
        state: str,
        meta: dict[str, Any] | None,
    ) -> tuple[KeyRecord, float]:
        """The row of a new key (checked), with a fresh data key wrapped by the root key."""
        check_name(name)
        labels = check_labels(labels)
        pol = KeyPolicy.for_new_key(policy)
        if state not in (KeyState.ACTIVE, KeyState.PRE_ACTIVE):
            raise InvalidInput(f"a new key is active or pre-active, not {state!r}")
        dek = await envelope.fresh_dek()  # before the root is taken: no await between root and row
        root, root_id = self.sealer.root()
        now = self.clock()
        key_id = str(uuid.uuid4())
        record = KeyRecord(
            id=key_id, tenant=tenant, name=name, type=type, purpose=purpose, labels=labels, policy=pol.to_dict(),
            state=str(state), latest_version=1, min_version=1, created_at=now, updated_at=now,
            wrapped_dek=envelope.wrap_dek(root, root_id, tenant, key_id, dek), root_id=root_id,
            next_rotation_at=None if not pol.rotation_period else now + pol.rotation_period, meta=meta or {},
        )  # fmt: skip
        self.software.new_data_key(record, dek)
        return record, now

    @guarded("key:Update")
    async def update_key(
        self,
        tenant: str,
        name: str,
        *,
        labels: dict[str, str] | None = UNSET,
        policy: dict[str, Any] | None = UNSET,
        min_version: int = UNSET,
        principal: object = None,
    ) -> KeyInfo:
        """Changes labels, policy (merged) and the minimum decryption/verification version."""
        record = await self.store.get_key(tenant, name)
        if record.state == KeyState.DESTROYED:
            raise InvalidState(f"{name!r} is destroyed")
        changes: dict[str, Any] = {}
        if labels is not UNSET:
            changes["labels"] = check_labels(labels)
        if policy is not UNSET:
            merged = KeyPolicy.from_dict({**record.policy, **(policy or {})})
            if merged.allow_backup is None:  # a key stored before the flag existed keeps what it had
                merged = replace(merged, allow_backup=backup_allowed(record.policy))
            refusal = merged.loosened_from(record.policy)
            if refusal is not None:
                raise InvalidState(f"{name!r}: {refusal}")
            changes["policy"] = merged.to_dict()
            if merged.rotation_period != record.policy.get("rotation_period"):
                changes["next_rotation_at"] = (
                    None if not merged.rotation_period else self.clock() + merged.rotation_period
                )
        if min_version is not UNSET:
            if not isinstance(min_version, int) or isinstance(min_version, bool) or min_version < 1:
                raise InvalidInput(f"min_version must be a positive integer, got {min_version!r}")
            if min_version > record.latest_version:
                raise InvalidInput(f"min_version {min_version} is above the latest version {record.latest_version}")
            changes["min_version"] = min_version
        updated = await self.store.update_key(replace(record, updated_at=self.clock(), **changes))
        self._changed(tenant, name)
        return key_info(updated, await self.store.get_versions(updated.id))

    @guarded("key:Rotate")
    async def rotate_key(self, tenant: str, name: str, *, principal: object = None) -> KeyInfo:
        record = await self.store.get_key(tenant, name)
        return await self._rotate(record, expected_latest=None)

    async def _rotate(self, record: KeyRecord, expected_latest: int | None) -> KeyInfo:
        if record.type == WALLET_TYPE:
            raise UnsupportedOperation("a wallet cannot be rotated: its addresses come from its one root")
        if record.state not in (KeyState.ACTIVE, KeyState.PRE_ACTIVE, KeyState.SUSPENDED):
            raise InvalidState(f"a {record.state} key cannot be rotated")
        if backend_of(record) == HSM:
            return await self._rotate_hsm(record, expected_latest)
        material, public = await self.software.generate(registry.get(record.type))
        now = self.clock()
        self.sealer.root()

        def make(current: KeyRecord, number: int) -> VersionRecord:
            return self._new_version(current, number, material, public, now)

        updated, _ = await self.store.add_version(record.id, make, expected_latest)
        self._changed(record.tenant, record.name)
        return key_info(updated, await self.store.get_versions(updated.id))

    async def _rotate_hsm(self, record: KeyRecord, expected_latest: int | None) -> KeyInfo:
        """A new token object for the next version, then its row; a lost race deletes the object again."""
        hsm = self._hsm(record.name)
        self.sealer.root()
        for _ in range(5):
            number = record.latest_version + 1
            blob, public = await hsm.create(record, number)
            now = self.clock()

            def make(
                current: KeyRecord, n: int, blob: bytes = blob, public: bytes | None = public, now: float = now
            ) -> VersionRecord:
                return self._version_row(current, n, blob, public, now)

            try:
                updated, _ = await self.store.add_version(record.id, make, expected_latest or record.latest_version)
            except BaseException as e:
                await asyncio.shield(hsm.forget_blob(record, number, blob))
                if not isinstance(e, Conflict) or expected_latest is not None:
                    raise
                record = await self.store.get_key_by_id(record.id)  # another rotation won: go again
                continue
            self._changed(record.tenant, record.name)
            return key_info(updated, await self.store.get_versions(updated.id))
        raise Conflict(f"{record.name!r} is being rotated concurrently; try again")

    @guarded("key:SetState")
    async def set_state(self, tenant: str, name: str, state: str, *, principal: object = None) -> KeyInfo:
        """Activates, suspends or marks compromised (KMIP / SP 800-57 transitions)."""
        record = await self.store.get_key(tenant, name)
        target = check_transition(record.state, state)
        updated = await self.store.update_key(replace(record, state=str(target), updated_at=self.clock()))
        self._changed(tenant, name)
        return key_info(updated, await self.store.get_versions(updated.id))

    @guarded("key:ScheduleDeletion")
    async def schedule_deletion(
        self,
        tenant: str,
        name: str,
        window: int | None = None,
        *,
        principal: object = None,
    ) -> KeyInfo:
        """Destruction after the waiting period (the policy's, default 7 days); cancellable until then."""
        record = await self.store.get_key(tenant, name)
        if record.state == KeyState.DESTROYED:
            raise InvalidState(f"{name!r} is already destroyed")
        if record.deletion_at is not None:
            raise InvalidState(f"{name!r} is already scheduled for deletion")
        if window is None:
            window = int(record.policy.get("deletion_window", KeyPolicy().deletion_window))
        KeyPolicy(deletion_window=window).validate()
        updated = await self.store.update_key(
            replace(record, deletion_at=self.clock() + window, updated_at=self.clock())
        )
        self._changed(tenant, name)
        if window == 0:
            return await self._destroy(updated)
        return key_info(updated, await self.store.get_versions(updated.id))

    @guarded("key:CancelDeletion")
    async def cancel_deletion(self, tenant: str, name: str, *, principal: object = None) -> KeyInfo:
        record = await self.store.get_key(tenant, name)
        if record.state == KeyState.DESTROYED:
            raise InvalidState(f"{name!r} is destroyed: too late to cancel")
        if record.deletion_at is None:
            raise InvalidState(f"{name!r} is not scheduled for deletion")
        updated = await self.store.update_key(replace(record, deletion_at=None, updated_at=self.clock()))
        self._changed(tenant, name)
        return key_info(updated, await self.store.get_versions(updated.id))

    async def destroy_now(self, record: KeyRecord) -> KeyInfo:
        """Destroys every version of a key at once, without a waiting period (SKMS's own wrapping keys)."""
        return await self._destroy(record)

    async def _destroy(self, record: KeyRecord) -> KeyInfo:
        versions = await self.store.get_versions(record.id)
        # Where the material lives first (an HSM's objects), the store after: an interrupted
        # destruction stays due and runs again, and never leaves an object no row names.
        await self._backend(record).destroy(record, versions)
        await self.store.destroy_versions(record.id, [v.version for v in versions])
        now = self.clock()
        updated = await self.store.update_key(
            replace(record, state=str(KeyState.DESTROYED), destroyed_at=now, updated_at=now, next_rotation_at=None)
        )
        self._changed(record.tenant, record.name)
        return key_info(updated, await self.store.get_versions(record.id))

    @guarded("key:Trim")
    async def trim_versions(self, tenant: str, name: str, *, principal: object = None) -> KeyInfo:
        """Destroys the material of every version below the minimum version."""
        record = await self.store.get_key(tenant, name)
        below = [v for v in await self.store.get_versions(record.id) if v.version < record.min_version]
        if below:
            await self._backend(record).destroy(record, below)
            await self.store.destroy_versions(record.id, [v.version for v in below])
        self._changed(tenant, name)
        return key_info(record, await self.store.get_versions(record.id))

    async def run_due(self, limit: int = 500) -> dict[str, int]:
        """Rotates keys whose period elapsed and destroys keys whose deletion window ended.

        Safe on several nodes at once: a rotation applies only if the version it saw is still the
        latest, so each due rotation happens once.
        """
        now = self.clock()
        done = {"rotated": 0, "destroyed": 0}
        for record in await self.store.due_keys(now, limit):
            try:
                if record.deletion_at is not None and record.deletion_at <= now:
                    await self._destroy(record)
                    done["destroyed"] += 1
                elif record.next_rotation_at is not None and record.next_rotation_at <= now:
                    await self._rotate(record, expected_latest=record.latest_version)
                    done["rotated"] += 1
            except Conflict:
                continue  # another node did it
        return done

    # -- crypto operations ---------------------------------------------------------------------

    @guarded("key:Encrypt")
    async def encrypt(
        self,
        tenant: str,
        name: str,
        plaintext: bytes | SecretBytes,
        associated_data: bytes = b"",
        *,
        principal: object = None,
    ) -> tuple[str, int]:
        cached = await self._load(tenant, name)
        self._require(cached, (AeadKey, DecryptingKey), "encrypt")
        version = self._for_protect(cached, "encrypt")
        key = self._key_object(cached, version)
        self._check_purpose(cached, "encrypt")
        data = await self._backend(cached.record).encrypt(key, plaintext, associated_data)
        return encode_versioned(version, data), version

    @guarded("key:Decrypt")
    async def decrypt(
        self,
        tenant: str,
        name: str,
        ciphertext: str,
        associated_data: bytes = b"",
        *,
        principal: object = None,
    ) -> bytes:
        version, data = decode_versioned(ciphertext)
        cached = await self._load(tenant, name)
        self._require(cached, (AeadKey, DecryptingKey), "decrypt")
        self._for_process(cached, version, "decrypt")
        key = self._key_object(cached, version)
        self._check_purpose(cached, "decrypt")
        return await self._backend(cached.record).decrypt(key, data, associated_data)

    @guarded("key:Rewrap")
    async def rewrap(
        self,
        tenant: str,
        name: str,
        ciphertext: str,
        associated_data: bytes = b"",
        *,
        principal: object = None,
    ) -> tuple[str, int]:
        """Decrypts with the version that made ``ciphertext`` and encrypts with the newest one."""
        plaintext = await self.decrypt(tenant, name, ciphertext, associated_data)
        return await self.encrypt(tenant, name, plaintext, associated_data)

    @guarded("key:Datakey")
    async def datakey(
        self,
        tenant: str,
        name: str,
        size: int = 32,
        associated_data: bytes = b"",
        *,
        principal: object = None,
    ) -> tuple[SecretBytes, str, int]:
        """A fresh data key, and the same encrypted under this key (envelope encryption for callers)."""
        if size not in (16, 24, 32, 64):
            raise InvalidInput(f"data keys are 16, 24, 32 or 64 bytes, not {size}")
        plaintext = await random_secret_async(size)  # the token's generator mixed in with hsm_random
        text, version = await self.encrypt(tenant, name, plaintext, associated_data)
        return plaintext, text, version

    @guarded("key:Sign")
    async def sign(
        self,
        tenant: str,
        name: str,
        message: bytes,
        *,
        prehashed: bool = False,
        principal: object = None,
    ) -> tuple[str, int]:
        cached = await self._load(tenant, name)
        self._require(cached, SigningKey, "sign")
        version = self._for_protect(cached, "sign")
        key = self._key_object(cached, version)
        self._check_purpose(cached, "sign")
        record = cached.record
        return encode_versioned(
            version, await self._backend(record).sign(key, record.type, message, prehashed)
        ), version

    @guarded("key:Sign")
    async def sign_batch(
        self, tenant: str, name: str, messages: list[bytes], *, principal: object = None
    ) -> tuple[list[str], int]:
        """Signatures of many messages with the newest version: one check, one audit record, every core."""
        cached = await self._load(tenant, name)
        self._require(cached, SigningKey, "sign")
        version = self._for_protect(cached, "sign")
        key = self._key_object(cached, version)
        self._check_purpose(cached, "sign")
        signatures = await self._backend(cached.record).sign_batch(key, messages)
        return [encode_versioned(version, sig) for sig in signatures], version

    @guarded("key:Verify")
    async def verify(
        self,
        tenant: str,
        name: str,
        message: bytes,
        signature: str,
        *,
        prehashed: bool = False,
        principal: object = None,
    ) -> bool:
        version, data = decode_versioned(signature, "signature")
        cached = await self._load(tenant, name)
        self._require(cached, SigningKey, "verify")
        self._for_process(cached, version, "verify")
        key = self._key_object(cached, version)
        self._check_purpose(cached, "verify")
        record = cached.record
        return await self._backend(record).verify(key, record.type, message, data, prehashed)

    @guarded("key:Mac")
    async def mac(self, tenant: str, name: str, data: bytes, *, principal: object = None) -> tuple[str, int]:
        cached = await self._load(tenant, name)
        self._require(cached, MacKey, "mac")
        version = self._for_protect(cached, "mac")
        return encode_versioned(version, self._key_object(cached, version).mac(data)), version

    @guarded("key:VerifyMac")
    async def verify_mac(self, tenant: str, name: str, data: bytes, tag: str, *, principal: object = None) -> bool:
        version, raw = decode_versioned(tag, "tag")
        cached = await self._load(tenant, name)
        self._require(cached, MacKey, "verify_mac")
        self._for_process(cached, version, "verify_mac")
        return bool(self._key_object(cached, version).verify(data, raw))

    @guarded("key:Encapsulate")
    async def encapsulate(self, tenant: str, name: str, *, principal: object = None) -> tuple[SecretBytes, str, int]:
        cached = await self._load(tenant, name)
        self._require(cached, KemPrivateKey, "encapsulate")
        version = self._for_protect(cached, "encapsulate")
        shared, ciphertext = self._key_object(cached, version).public_key().encapsulate()
        return shared, encode_versioned(version, ciphertext), version

    @guarded("key:Decapsulate")
    async def decapsulate(self, tenant: str, name: str, ciphertext: str, *, principal: object = None) -> SecretBytes:
        version, data = decode_versioned(ciphertext)
        cached = await self._load(tenant, name)
        self._require(cached, KemPrivateKey, "decapsulate")
        self._for_process(cached, version, "decapsulate")
        return self._key_object(cached, version).decapsulate(data)  # type: ignore[no-any-return]

    @guarded("key:Get")
    async def public_key(self, tenant: str, name: str, version: int | None = None, *, principal: object = None) -> Any:
        """The public key object of a version (the newest by default)."""
        cached = await self._load(tenant, name)
        number = version or cached.newest or cached.record.latest_version
        v = cached.versions.get(number)
        if v is None or v.public_key is None:
            raise UnsupportedOperation(f"{name!r} has no public key for version {number}")
        alg = registry.get(cached.record.type)
        assert alg.public_class is not None
        return alg.public_class.load(v.public_key, "spki-der" if alg.family == "rsa" else "raw")

    # -- material in and out -------------------------------------------------------------------

    async def _raw_material(self, tenant: str, name: str, version: int | None) -> tuple[KeyRecord, int, SecretBytes]:
        cached = await self._load(tenant, name)
        number = version or cached.newest
        if number is None:
            raise InvalidState(f"{name!r} has no enabled version")
        v = cached.versions.get(number)
        if v is None:
            raise NotFound(f"{name!r} has no version {number}")
        return cached.record, number, self._material(cached.record, v)  # refused for an HSM-resident key

    async def insert_material(
        self,
        tenant: str,
        name: str,
        type: str,
        material: SecretBytes,
        *,
        purpose: str | None = None,
        labels: dict[str, str] | None = None,
        policy: dict[str, Any] | None = None,
        state: str = KeyState.ACTIVE,
        meta: dict[str, Any] | None = None,
    ) -> KeyInfo:
        """Stores existing material as a new key (BYOK import and restore use this)."""
        if type == WALLET_TYPE:
            from skms.keys import wallets

            root = wallets.WalletRoot.from_material(material, meta or {})
            return await self._insert(tenant, name, type, "derive", labels, policy, state, material, None, root.meta())
        # SKMS's own keys (tenants starting with "__") follow SKMS's needs, not the deployment's policy.
        alg = registry.get(type) if tenant.startswith("__") else self.crypto_policy.check(type)
        key = alg.key_class.load(material, alg.storage_format)
        canonical = key.export_secret(alg.storage_format)
        return await self._insert(
            tenant, name, type, _purpose_for(alg, purpose), labels, policy, state, canonical, public_bytes(key, alg)
        )

    # -- wallets ---------------------------------------------------------------------------------

    @guarded("wallet:Create")
    async def create_wallet(
        self,
        tenant: str,
        name: str,
        *,
        words: int = 24,
        passphrase: str = "",
        language: str = "english",
        labels: dict[str, str] | None = None,
        policy: dict[str, Any] | None = None,
        principal: object = None,
    ) -> tuple[KeyInfo, str]:
        """A new HD wallet. Returns its metadata and the mnemonic, shown this once."""
        from skms.keys import wallets

        root, phrase = await run_generation(wallets.WalletRoot.generate, words, passphrase, language)
        info = await self._insert(
            tenant, name, WALLET_TYPE, "derive", labels, policy, KeyState.ACTIVE, root.material(),
            None, root.meta(),
        )  # fmt: skip
        return info, phrase

    @guarded("wallet:Create")
    async def import_wallet(
        self,
        tenant: str,
        name: str,
        *,
        phrase: str | None = None,
        passphrase: str = "",
        seed: bytes | None = None,
        labels: dict[str, str] | None = None,
        policy: dict[str, Any] | None = None,
        principal: object = None,
    ) -> KeyInfo:
        from skms.keys import wallets

        root = wallets.WalletRoot.from_phrase(phrase, passphrase) if phrase is not None else None
        if root is None:
            if seed is None:
                raise InvalidInput("import a wallet from a phrase or a seed")
            root = wallets.WalletRoot.from_seed(seed)
        return await self._insert(
            tenant, name, WALLET_TYPE, "derive", labels, policy, KeyState.ACTIVE, root.material(),
            None, root.meta(),
        )  # fmt: skip

    async def _wallet(self, tenant: str, name: str, operation: str) -> Any:
        cached = await self._load(tenant, name)
        if cached.record.type != WALLET_TYPE:
            raise UnsupportedOperation(f"{name!r} is a {cached.record.type} key, not a wallet")
        version = self._for_protect(cached, operation)
        return self._key_object(cached, version)

    @guarded("wallet:Derive")
    async def wallet_xpub(self, tenant: str, name: str, path: str, *, principal: object = None) -> dict[str, str]:
        root = await self._wallet(tenant, name, "derive")
        return root.xpub(path)  # type: ignore[no-any-return]

    @guarded("wallet:Derive")
    async def wallet_addresses(
        self,
        tenant: str,
        name: str,
        *,
        chain: str,
        account: int = 0,
        change: int = 0,
        start: int = 0,
        count: int = 20,
        kind: str | None = None,
        network: str = "mainnet",
        principal: object = None,
    ) -> list[dict[str, Any]]:
        root = await self._wallet(tenant, name, "derive")
        return await asyncio.to_thread(root.addresses, chain, account, change, start, count, kind, network)

    @guarded("wallet:Sign")
    async def wallet_sign(
        self,
        tenant: str,
        name: str,
        *,
        path: str,
        scheme: str,
        payload: bytes | None = None,
        digest: bytes | None = None,
        chain_id: int | None = None,
        principal: object = None,
    ) -> dict[str, Any]:
        root = await self._wallet(tenant, name, "sign")
        return root.sign(path, scheme, payload=payload, digest=digest, chain_id=chain_id)  # type: ignore[no-any-return]

    # -- BYOK import and export (skms.keys.transfer) --

    async def get_import_parameters(
        self, tenant: str, wrapping_algorithm: str, *, ttl: int | None = None, principal: object = None
    ) -> tuple[str, bytes, float]:
        """(import token, wrapping public key, expiry) for :meth:`import_key`; see :mod:`skms.keys.transfer`."""
        from skms.keys import transfer

        return await transfer.get_import_parameters(
            self, tenant, wrapping_algorithm, ttl=transfer.IMPORT_TOKEN_TTL if ttl is None else ttl, principal=principal
        )

    async def import_key(
        self,
        tenant: str,
        name: str,
        type: str,
        wrapped_material: bytes,
        import_token: str,
        *,
        purpose: str | None = None,
        labels: dict[str, str] | None = None,
        policy: dict[str, Any] | None = None,
        format: str | None = None,
        principal: object = None,
    ) -> KeyInfo:
        """A new key from material wrapped for an import token's wrapping key (single use)."""
        from skms.keys import transfer

        return await transfer.import_key(
            self, tenant, name, type, wrapped_material, import_token,
            purpose=purpose, labels=labels, policy=policy, format=format, principal=principal,
        )  # fmt: skip

    async def export_key(
        self,
        tenant: str,
        name: str,
        recipient_public_key: bytes,
        recipient_algorithm: str,
        version: int | None = None,
        *,
        principal: object = None,
    ) -> bytes:
        """A version's material wrapped for a recipient public key, if the policy says exportable."""
        from skms.keys import transfer

        return await transfer.export_key(
            self, tenant, name, recipient_public_key, recipient_algorithm, version, principal=principal
        )

    async def export_wallet_phrase(self, tenant: str, name: str, *, principal: object = None) -> str:
        """The BIP39 phrase of a wallet whose policy says exportable."""
        from skms.keys import transfer

        return await transfer.export_wallet_phrase(self, tenant, name, principal=principal)

    # -- backup and restore (skms.keys.backup) --

    async def backup(
        self,
        tenant: str | None = None,
        names: Sequence[str] | None = None,
        *,
        recipient: str,
        principal: object = None,
    ) -> "BackupResult":
        """An encrypted bundle of some keys of a tenant, a whole tenant, or every tenant (None),
        for a registered backup recipient; see :func:`skms.keys.backup.backup`."""
        from skms.keys import backup

        return await backup.backup(self, tenant, names, recipient=recipient, principal=principal)

    async def restore(
        self,
        bundle: bytes,
        backup_private_key: SecretBytes | bytes,
        *,
        tenant_map: dict[str, str] | None = None,
        overwrite: bool = False,
        principal: object = None,
    ) -> dict[str, int]:
        """Recreates every key of a backup bundle here; returns counts (keys, versions, replaced)."""
        from skms.keys import backup

        return await backup.restore(
            self, bundle, backup_private_key, tenant_map=tenant_map, overwrite=overwrite, principal=principal
        )

    async def register_backup_recipient(
        self, tenant: str | None, name: str, public_key: bytes, *, principal: object = None
    ) -> "BackupRecipient":
        """Registers an X-Wing public key that backups of ``tenant`` (None: every tenant) may be encrypted for."""
        from skms.keys import backup

        return await backup.register_recipient(self, tenant, name, public_key, principal=principal)

    async def list_backup_recipients(self, tenant: str | None, *, principal: object = None) -> list["BackupRecipient"]:
        from skms.keys import backup

        return await backup.list_recipients(self, tenant, principal=principal)

    async def delete_backup_recipient(self, tenant: str | None, name: str, *, principal: object = None) -> None:
        from skms.keys import backup

        await backup.delete_recipient(self, tenant, name, principal=principal)


def fingerprint(data: bytes) -> str:
    """A short, non-secret identifier of a public value (for logs and audit)."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()[:12]).decode()


# The names tests and fuzzers knew these by before they moved to skms.keys.info.
_encode_cursor, _decode_cursor = encode_cursor, decode_cursor

__all__ = ["UNSET", "WALLET_TYPE", "Guard", "KeyInfo", "KeyService", "VersionInfo"]
