"""The core of the key service: construction, caches, backends, reading keys and storing new ones.

Everything the lifecycle (:mod:`skms.keys.lifecycle`), the crypto operations
(:mod:`skms.keys.operations`) and the wallet operations (:mod:`skms.keys.wallet_ops`)
share: the cached metadata of a key, the handle of a version from its backend, the
state/version/purpose checks, and writing the rows of a new key.
"""

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from skms._native import SecretBytes
from skms.crypto import registry
from skms.crypto.registry import CryptoPolicy, Purpose
from skms.errors import (
    HsmUnavailable,
    InvalidInput,
    InvalidState,
    NotFound,
    PolicyViolation,
    StoreCorrupted,
    UnsupportedOperation,
)
from skms.keys import backends, envelope
from skms.keys.backends import HSM, KeyBackend, SoftwareBackend, backend_of, public_bytes
from skms.keys.cache import TtlCache
from skms.keys.guarding import Guard
from skms.keys.info import KeyInfo, key_info
from skms.keys.model import KeyPolicy, KeyState, check_labels, check_name, check_usable
from skms.keys.seal import Sealer
from skms.storage.base import KeyRecord, KeyStore, VersionRecord

log = logging.getLogger("skms.keys")

if TYPE_CHECKING:
    from skms.hsm import Hsm
    from skms.keys.hsm_backend import Pkcs11Backend


_PURPOSE_OF = {
    "encrypt": "encrypt", "decrypt": "encrypt", "sign": "sign", "verify": "sign", "mac": "mac",
    "verify_mac": "mac", "encapsulate": "kem", "decapsulate": "kem",
}  # fmt: skip

WALLET_TYPE = backends.WALLET_TYPE


@dataclass(slots=True)
class Cached:
    """A key's metadata as the hot path needs it."""

    record: KeyRecord
    versions: dict[int, VersionRecord]
    newest: int | None  # the newest enabled version


def _now() -> float:
    return time.time()


def purpose_for(alg: registry.Algorithm, purpose: str | None) -> str:
    if purpose is None:
        if len(alg.purposes) == 1:
            return next(iter(alg.purposes)).value
        return Purpose.SIGN.value if Purpose.SIGN in alg.purposes else sorted(alg.purposes)[0].value
    if purpose not in {p.value for p in alg.purposes}:
        allowed = ", ".join(sorted(p.value for p in alg.purposes))
        raise InvalidInput(f"a {alg.id} key cannot have purpose {purpose!r} (allowed: {allowed})")
    return purpose


class ServiceCore:
    """The state and shared helpers of :class:`~skms.keys.service.KeyService` (composed from mixins)."""

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
        self._meta: TtlCache[Cached] = TtlCache(material_entries, metadata_ttl)
        self.sealer.on_seal.append(self.purge)
        #: Called with (tenant, name) after every write: cross-node invalidation hooks in here.
        self.on_change: list[Callable[[str, str], None]] = []
        #: Called with what failed (``"data key"``, ``"key material"``) when a stored row fails authentication.
        self.on_corruption: list[Callable[[str], None]] = []

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
        cached = self._meta.peek((tenant, name))
        return None if cached is None else cached.record.type

    def _changed(self, tenant: str, name: str) -> None:
        self.invalidate(tenant, name)
        for hook in self.on_change:
            hook(tenant, name)

    def changed(self, tenant: str, name: str) -> None:
        """Tells this node's caches and every hook (other nodes) that a key was written outside this class."""
        self._changed(tenant, name)

    # -- reading ------------------------------------------------------------------------------

    async def _load(self, tenant: str, name: str) -> Cached:
        cached = self._meta.get((tenant, name))
        if cached is not None:
            return cached
        record = await self.store.get_key(tenant, name)
        if not self.sealer.has_root(record.root_id) and not self.sealer.sealed:
            await self.sealer.refresh()  # another node rotated the root key
        versions = {v.version: v for v in await self.store.get_versions(record.id)}
        enabled = [v for v in versions.values() if v.state == "enabled"]
        newest = max((v.version for v in enabled), default=None)
        cached = Cached(record, versions, newest)
        self._meta.put((tenant, name), cached)
        return cached

    async def cached_record(self, tenant: str, name: str) -> KeyRecord:
        """A key's row through the metadata cache (the security layer reads labels and state from it)."""
        return (await self._load(tenant, name)).record

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

    def _key_object(self, cached: Cached, version: int) -> Any:
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

    def _for_protect(self, cached: Cached, operation: str) -> int:
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

    def _for_process(self, cached: Cached, version: int, operation: str) -> None:
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

    def _check_purpose(self, cached: Cached, operation: str) -> None:
        """A key made for one purpose is not used for another (an RSA signing key does not decrypt).

        Checked after the material decrypted, so a tampered purpose column shows as an integrity error.
        """
        needed = _PURPOSE_OF.get(operation)
        if needed is not None and cached.record.purpose != needed:
            raise PolicyViolation(f"{cached.record.name!r} is a {cached.record.purpose} key; it cannot {operation}")

    def _require(self, cached: Cached, cls: type | tuple[type, ...], operation: str) -> None:
        record = cached.record
        if record.type == WALLET_TYPE:
            raise UnsupportedOperation(f"{record.name!r} is a wallet: use the wallet operations")
        key_class = registry.get(record.type).key_class
        if not ((isinstance(cls, tuple) and any(issubclass(key_class, c) for c in cls)) or
                (not isinstance(cls, tuple) and issubclass(key_class, cls))):  # fmt: skip
            raise UnsupportedOperation(f"a {record.type} key cannot {operation}")

    # -- storing new keys -----------------------------------------------------------------------

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

    # -- material in and out -------------------------------------------------------------------

    async def raw_material(self, tenant: str, name: str, version: int | None) -> tuple[KeyRecord, int, SecretBytes]:
        """(row, version number, material) of a version (the newest enabled by default), unguarded and
        without a policy check: for SKMS's own keys only (API-key pepper, OAuth signing, audit MAC)."""
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
            tenant, name, type, purpose_for(alg, purpose), labels, policy, state, canonical, public_bytes(key, alg)
        )
