"""PostgreSQL backend (asyncpg), for several server nodes sharing one state.

Writes are single transactions with ``synchronous_commit`` on; rotation locks
the key row (``SELECT … FOR UPDATE``) so concurrent rotations get consecutive
versions; migrations run under an advisory lock so that nodes starting
together migrate once.
"""

import time
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from skms.errors import Conflict, NotFound, StorageError
from skms.storage import migrations
from skms.storage.base import (
    API_KEY_COLUMNS,
    AUDIT_CHECKPOINT_COLUMNS,
    AUDIT_COLUMNS,
    BACKUP_RECIPIENT_COLUMNS,
    KEY_COLUMNS,
    VERSION_COLUMNS,
    ApiKeyRecord,
    AuditCheckpoint,
    AuditFilter,
    AuditRow,
    BackupRecipientRecord,
    ImportTokenRecord,
    KeyFilter,
    KeyRecord,
    KeyStore,
    SealRecord,
    VersionRecord,
    api_key_from_row,
    api_key_to_row,
    backup_recipient_from_row,
    backup_recipient_to_row,
    dumps,
    key_from_row,
    key_to_row,
    label_match,
    loads,
    version_from_row,
    version_to_row,
)

_MIGRATION_LOCK = 0x534B4D53  # "SKMS"


def _params(n: int, start: int = 1) -> str:
    return ",".join(f"${i}" for i in range(start, start + n))


class PostgresStore(KeyStore):
    def __init__(self, url: str, *, migrate_to: int | None = None, pool_size: int = 10) -> None:
        self.url = url
        self._migrate_to = migrate_to or migrations.LATEST
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StorageError("the store is not open")
        return self._pool

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self._pool_size)
        except (OSError, asyncpg.PostgresError) as e:
            raise StorageError(f"cannot connect to PostgreSQL: {e}") from None
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION)"
            )
            current = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            for version in range(current + 1, self._migrate_to + 1):
                for statement in migrations.statements(version, "BYTEA", "DOUBLE PRECISION"):
                    await conn.execute(statement)
                await conn.execute("INSERT INTO schema_version VALUES ($1, $2)", version, time.time())

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def schema_version(self) -> int:
        return int(await self.pool.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))

    async def ping(self) -> None:
        try:
            await self.pool.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError) as e:
            raise StorageError(f"PostgreSQL is unreachable: {e}") from None

    # -- seal ---------------------------------------------------------------------

    async def get_seal(self) -> SealRecord | None:
        row = await self.pool.fetchrow(
            "SELECT method, params, wrapped_root, root_id, generation, updated_at FROM seal WHERE id = 1"
        )
        return None if row is None else SealRecord(row[0], loads(row[1]), bytes(row[2]), row[3], row[4], row[5])

    async def put_seal(self, record: SealRecord, expected_generation: int | None) -> SealRecord:
        new = SealRecord(
            record.method, record.params, record.wrapped_root, record.root_id,
            0 if expected_generation is None else expected_generation + 1, time.time(),
        )  # fmt: skip
        values = (new.generation, new.method, dumps(new.params), new.wrapped_root, new.root_id, new.updated_at)
        if expected_generation is None:
            try:
                await self.pool.execute("INSERT INTO seal VALUES (1, $1, $2, $3, $4, $5, $6)", *values)
            except asyncpg.UniqueViolationError:
                raise Conflict("the store is already initialized") from None
        else:
            status = await self.pool.execute(
                "UPDATE seal SET generation=$1, method=$2, params=$3, wrapped_root=$4, root_id=$5, updated_at=$6 "
                "WHERE id = 1 AND generation = $7",
                *values,
                expected_generation,
            )
            if status != "UPDATE 1":
                raise Conflict("the seal record changed concurrently")
        return new

    # -- keys -----------------------------------------------------------------------

    async def create_key(self, key: KeyRecord, versions: Sequence[VersionRecord]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            try:
                await conn.execute(f"INSERT INTO keys ({KEY_COLUMNS}) VALUES ({_params(19)})", *key_to_row(key))
            except asyncpg.UniqueViolationError:
                raise Conflict(f"a key named {key.name!r} already exists") from None
            await conn.executemany(
                f"INSERT INTO key_versions ({VERSION_COLUMNS}) VALUES ({_params(7)})",
                [version_to_row(v) for v in versions],
            )

    @staticmethod
    async def _key(conn: Any, where: str, args: tuple[Any, ...], what: str, lock: bool = False) -> KeyRecord:
        row = await conn.fetchrow(
            f"SELECT {KEY_COLUMNS} FROM keys WHERE {where}" + (" FOR UPDATE" if lock else ""), *args
        )
        if row is None:
            raise NotFound(f"no key {what}")
        return key_from_row(row)

    async def get_key(self, tenant: str, name: str) -> KeyRecord:
        return await self._key(self.pool, "tenant = $1 AND name = $2", (tenant, name), repr(name))

    async def get_key_by_id(self, key_id: str) -> KeyRecord:
        return await self._key(self.pool, "id = $1", (key_id,), f"with id {key_id}")

    async def list_keys(
        self, tenant: str, flt: KeyFilter, limit: int, after: str | None
    ) -> tuple[list[KeyRecord], str | None]:
        # Order and compare in one collation (bytewise), whatever the database's default is.
        sql = f'SELECT {KEY_COLUMNS} FROM keys WHERE tenant = $1 AND name COLLATE "C" > $2'

        args: list[Any] = [tenant, after or ""]
        if flt.type:
            args.append(flt.type)
            sql += f" AND type = ${len(args)}"
        if flt.state:
            args.append(flt.state)
            sql += f" AND state = ${len(args)}"
        if flt.name_prefix:
            args.append(flt.name_prefix)
            sql += f" AND starts_with(name, ${len(args)})"
        sql += ' ORDER BY name COLLATE "C"'
        out: list[KeyRecord] = []
        async with self.pool.acquire() as conn, conn.transaction():
            async for row in conn.cursor(sql, *args, prefetch=max(limit + 1, 50)):
                key = key_from_row(row)
                if label_match(key, flt):
                    out.append(key)
                    if len(out) > limit:
                        break
        more = len(out) > limit
        page = out[:limit]
        return page, (page[-1].name if more and page else None)

    async def update_key(self, key: KeyRecord) -> KeyRecord:
        row = key_to_row(key)
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                "UPDATE keys SET labels=$1, policy=$2, state=$3, latest_version=$4, min_version=$5, updated_at=$6, "
                "wrapped_dek=$7, root_id=$8, next_rotation_at=$9, deletion_at=$10, destroyed_at=$11, "
                "row_version=row_version+1, meta=$12 WHERE id = $13 AND row_version = $14",
                *row[5:10],
                *row[11:17],
                row[18],
                key.id,
                key.row_version,
            )
            if status != "UPDATE 1":
                raise Conflict(f"key {key.name!r} changed concurrently; read it again and retry")
            return await self._key(conn, "id = $1", (key.id,), key.id)

    async def add_version(
        self,
        key_id: str,
        make: Callable[[KeyRecord, int], VersionRecord],
        expected_latest: int | None = None,
    ) -> tuple[KeyRecord, VersionRecord]:
        async with self.pool.acquire() as conn, conn.transaction():
            key = await self._key(conn, "id = $1", (key_id,), key_id, lock=True)
            if expected_latest is not None and key.latest_version != expected_latest:
                raise Conflict(f"key {key.name!r} was rotated concurrently")
            version = make(key, key.latest_version + 1)
            await conn.execute(
                f"INSERT INTO key_versions ({VERSION_COLUMNS}) VALUES ({_params(7)})", *version_to_row(version)
            )
            period = key.policy.get("rotation_period")
            await conn.execute(
                "UPDATE keys SET latest_version=$1, updated_at=$2, next_rotation_at=$3, row_version=row_version+1 "
                "WHERE id = $4",
                version.version,
                version.created_at,
                None if not period else version.created_at + float(period),
                key_id,
            )
            return await self._key(conn, "id = $1", (key_id,), key_id), version

    async def get_versions(self, key_id: str) -> list[VersionRecord]:
        rows = await self.pool.fetch(
            f"SELECT {VERSION_COLUMNS} FROM key_versions WHERE key_id = $1 ORDER BY version", key_id
        )
        return [version_from_row(r) for r in rows]

    async def get_version(self, key_id: str, version: int) -> VersionRecord:
        row = await self.pool.fetchrow(
            f"SELECT {VERSION_COLUMNS} FROM key_versions WHERE key_id = $1 AND version = $2", key_id, version
        )
        if row is None:
            raise NotFound(f"key {key_id} has no version {version}")
        return version_from_row(row)

    async def destroy_versions(self, key_id: str, versions: Sequence[int]) -> None:
        await self.pool.executemany(
            "UPDATE key_versions SET material = NULL, state = 'destroyed' WHERE key_id = $1 AND version = $2",
            [(key_id, v) for v in versions],
        )

    async def due_keys(self, now: float, limit: int) -> list[KeyRecord]:
        rows = await self.pool.fetch(
            f"SELECT {KEY_COLUMNS} FROM keys WHERE (next_rotation_at <= $1 AND state = 'active') "
            "OR (deletion_at <= $1 AND state != 'destroyed') ORDER BY id LIMIT $2",
            now,
            limit,
        )
        return [key_from_row(r) for r in rows]

    async def all_keys(self, after: str | None, limit: int) -> list[KeyRecord]:
        rows = await self.pool.fetch(
            f"SELECT {KEY_COLUMNS} FROM keys WHERE id > $1 ORDER BY id LIMIT $2", after or "", limit
        )
        return [key_from_row(r) for r in rows]

    async def rewrap_deks(self, updates: Sequence[tuple[str, bytes, int]]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(
                "UPDATE keys SET wrapped_dek = $1, root_id = $2, row_version = row_version + 1 WHERE id = $3",
                [(dek, root_id, key_id) for key_id, dek, root_id in updates],
            )

    async def replace_key(self, old_key_id: str, key: KeyRecord, versions: Sequence[VersionRecord]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM key_versions WHERE key_id = $1", old_key_id)
            if await conn.execute("DELETE FROM keys WHERE id = $1", old_key_id) != "DELETE 1":
                raise NotFound(f"no key with id {old_key_id}")
            try:
                await conn.execute(f"INSERT INTO keys ({KEY_COLUMNS}) VALUES ({_params(19)})", *key_to_row(key))
            except asyncpg.UniqueViolationError:
                raise Conflict(f"a key named {key.name!r} already exists") from None
            await conn.executemany(
                f"INSERT INTO key_versions ({VERSION_COLUMNS}) VALUES ({_params(7)})",
                [version_to_row(v) for v in versions],
            )

    # -- BYOK import tokens ---------------------------------------------------------------

    async def put_import_token(self, token: ImportTokenRecord) -> None:
        try:
            await self.pool.execute(
                "INSERT INTO import_tokens (id, tenant, wrapping_key_id, algorithm, expires_at) "
                "VALUES ($1, $2, $3, $4, $5)",
                token.id,
                token.tenant,
                token.wrapping_key_id,
                token.algorithm,
                token.expires_at,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict("an import token with that id exists") from None

    async def get_import_token(self, token_id: str) -> ImportTokenRecord:
        row = await self.pool.fetchrow(
            "SELECT id, tenant, wrapping_key_id, algorithm, expires_at FROM import_tokens WHERE id = $1", token_id
        )
        if row is None:
            raise NotFound("no such import token (unknown, or already used)")
        return ImportTokenRecord(row[0], row[1], row[2], row[3], row[4])

    async def delete_import_token(self, token_id: str) -> bool:
        status = await self.pool.execute("DELETE FROM import_tokens WHERE id = $1", token_id)
        return bool(status == "DELETE 1")

    # -- backup recipients ----------------------------------------------------------------

    async def put_backup_recipient(self, record: BackupRecipientRecord) -> None:
        try:
            await self.pool.execute(
                f"INSERT INTO backup_recipients ({BACKUP_RECIPIENT_COLUMNS}) VALUES ({_params(6)})",
                *backup_recipient_to_row(record),
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"a backup recipient named {record.name!r} exists") from None

    async def get_backup_recipient(self, tenant: str, name: str) -> BackupRecipientRecord:
        row = await self.pool.fetchrow(
            f"SELECT {BACKUP_RECIPIENT_COLUMNS} FROM backup_recipients WHERE tenant = $1 AND name = $2", tenant, name
        )
        if row is None:
            raise NotFound(f"no backup recipient named {name!r}")
        return backup_recipient_from_row(row)

    async def list_backup_recipients(self, tenant: str) -> list[BackupRecipientRecord]:
        rows = await self.pool.fetch(
            f"SELECT {BACKUP_RECIPIENT_COLUMNS} FROM backup_recipients WHERE tenant = $1 ORDER BY name", tenant
        )
        return [backup_recipient_from_row(r) for r in rows]

    async def delete_backup_recipient(self, tenant: str, name: str) -> None:
        status = await self.pool.execute("DELETE FROM backup_recipients WHERE tenant = $1 AND name = $2", tenant, name)
        if status != "DELETE 1":
            raise NotFound(f"no backup recipient named {name!r}")

    # -- API keys -------------------------------------------------------------------------

    async def put_api_key(self, record: ApiKeyRecord) -> None:
        try:
            await self.pool.execute(
                f"INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES ({_params(9)})", *api_key_to_row(record)
            )
        except asyncpg.UniqueViolationError:
            raise Conflict("an API key with that id exists") from None

    async def get_api_key(self, key_id: str) -> ApiKeyRecord:
        row = await self.pool.fetchrow(f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1", key_id)
        if row is None:
            raise NotFound("no such API key")
        return api_key_from_row(row)

    async def list_api_keys(self, tenant: str | None) -> list[ApiKeyRecord]:
        if tenant is None:
            rows = await self.pool.fetch(f"SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY created_at")
        else:
            rows = await self.pool.fetch(
                f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE tenant = $1 ORDER BY created_at", tenant
            )
        return [api_key_from_row(r) for r in rows]

    async def revoke_api_key(self, key_id: str, when: float) -> None:
        status = await self.pool.execute("UPDATE api_keys SET revoked_at = $1 WHERE id = $2", when, key_id)
        if status != "UPDATE 1":
            raise NotFound("no such API key")

    # -- authorization ---------------------------------------------------------------------

    async def put_authz_policy(self, tenant: str, name: str, document: str) -> None:
        await self.pool.execute(
            "INSERT INTO authz_policies VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, name) "
            "DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at",
            tenant,
            name,
            document,
            time.time(),
        )

    async def get_authz_policy(self, tenant: str, name: str) -> str:
        doc = await self.pool.fetchval(
            "SELECT document FROM authz_policies WHERE tenant = $1 AND name = $2", tenant, name
        )
        if doc is None:
            raise NotFound(f"no policy {name!r}")
        return str(doc)

    async def list_authz_policies(self, tenant: str) -> list[str]:
        rows = await self.pool.fetch("SELECT document FROM authz_policies WHERE tenant = $1 ORDER BY name", tenant)
        return [str(r[0]) for r in rows]

    async def delete_authz_policy(self, tenant: str, name: str) -> None:
        status = await self.pool.execute("DELETE FROM authz_policies WHERE tenant = $1 AND name = $2", tenant, name)
        if status != "DELETE 1":
            raise NotFound(f"no policy {name!r}")

    async def put_authz_binding(self, tenant: str, principal: str, roles: list[str], policies: list[str]) -> None:
        await self.pool.execute(
            "INSERT INTO authz_bindings VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, principal) "
            "DO UPDATE SET roles = excluded.roles, policies = excluded.policies, updated_at = excluded.updated_at",
            tenant,
            principal,
            dumps(roles),
            dumps(policies),
            time.time(),
        )

    async def get_authz_binding(self, tenant: str, principal: str) -> dict[str, list[str]]:
        row = await self.pool.fetchrow(
            "SELECT roles, policies FROM authz_bindings WHERE tenant = $1 AND principal = $2", tenant, principal
        )
        if row is None:
            raise NotFound(f"no binding for {principal!r}")
        return {"roles": loads(row[0]), "policies": loads(row[1])}

    # -- audit (skms.audit) --------------------------------------------------------------

    async def append_audit(self, rows: Sequence[AuditRow]) -> None:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.executemany(f"INSERT INTO audit_records ({AUDIT_COLUMNS}) VALUES ({_params(12)})", rows)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            raise StorageError(f"cannot write audit records: {e}") from None

    async def read_audit(self, flt: AuditFilter, limit: int, after: tuple[float, str, int] | None) -> list[AuditRow]:
        sql = f"SELECT {AUDIT_COLUMNS} FROM audit_records WHERE TRUE"
        args: list[Any] = []
        for column in ("tenant", "principal", "action", "resource", "result"):
            value: str | None = getattr(flt, column)
            if value is None:
                continue
            if value.endswith("*"):
                args.append(value[:-1])
                sql += f" AND starts_with({column}, ${len(args)})"
            else:
                args.append(value)
                sql += f" AND {column} = ${len(args)}"
        if flt.since is not None:
            args.append(flt.since)
            sql += f" AND time >= ${len(args)}"
        if flt.until is not None:
            args.append(flt.until)
            sql += f" AND time < ${len(args)}"
        if after is not None:
            args += after
            sql += f" AND (time, chain_id, seq) > (${len(args) - 2}, ${len(args) - 1}, ${len(args)})"
        args.append(limit)
        sql += f" ORDER BY time, chain_id, seq LIMIT ${len(args)}"
        return [AuditRow(*r) for r in await self.pool.fetch(sql, *args)]

    async def read_audit_chain(self, chain_id: str, after_seq: int, limit: int) -> list[AuditRow]:
        rows = await self.pool.fetch(
            f"SELECT {AUDIT_COLUMNS} FROM audit_records WHERE chain_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            chain_id,
            after_seq,
            limit,
        )
        return [AuditRow(*r) for r in rows]

    async def audit_chains(self) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT chain_id FROM audit_records UNION SELECT chain_id FROM audit_checkpoints ORDER BY 1"
        )
        return [str(r[0]) for r in rows]

    async def put_audit_checkpoint(self, checkpoint: AuditCheckpoint) -> None:
        try:
            await self.pool.execute(
                f"INSERT INTO audit_checkpoints ({AUDIT_CHECKPOINT_COLUMNS}) VALUES ({_params(8)})", *checkpoint
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            raise StorageError(f"cannot write an audit checkpoint: {e}") from None

    async def audit_checkpoints(self, chain_id: str) -> list[AuditCheckpoint]:
        rows = await self.pool.fetch(
            f"SELECT {AUDIT_CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE chain_id = $1 ORDER BY seq", chain_id
        )
        return [AuditCheckpoint(*r) for r in rows]
