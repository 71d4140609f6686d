"""The key lifecycle of :class:`~skms.keys.service.KeyService`: reading metadata, create, update,
rotate, state changes, scheduled deletion, trimming, and the due work (rotations, destructions)."""

import asyncio
from dataclasses import replace
from typing import Any

from skms.crypto import registry
from skms.errors import Conflict, InvalidInput, InvalidState, UnsupportedOperation
from skms.keys.backends import BACKENDS, HSM, SOFTWARE, backend_of
from skms.keys.core import WALLET_TYPE, ServiceCore, purpose_for
from skms.keys.guarding import guarded
from skms.keys.info import KeyInfo, decode_cursor, encode_cursor, key_info
from skms.keys.model import KeyPolicy, KeyState, backup_allowed, check_labels, check_transition
from skms.storage.base import KeyFilter, KeyRecord, VersionRecord

UNSET: Any = object()
MAX_LIST = 1000


class LifecycleMixin(ServiceCore):
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
            return await self._insert_hsm(tenant, name, alg, purpose_for(alg, purpose), labels, policy, state)
        material, public = await self.software.generate(alg)
        return await self._insert(
            tenant, name, type, purpose_for(alg, purpose), labels, policy, state, material, public
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
