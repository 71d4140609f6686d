"""SQLite backend: one file, WAL, ``synchronous=FULL``, one worker thread per store.

The worker owns the connection (SQLite connections are not shared across
threads) and commits writes in groups: every write queued while a commit is
running joins the next transaction, each in its own savepoint, so many
concurrent callers share one fsync and each is acknowledged only after it.
"""

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any, TypeVar

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

T = TypeVar("T")
#: (work, its future, its loop, its kind: READ, WRITE or STATEMENT)
Job = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop, int]
READ, WRITE, STATEMENT = 0, 1, 2  # STATEMENT: a write of one statement, atomic on its own

#: Writes committed together at most.
GROUP_COMMIT_MAX = 512
#: Audit rows per INSERT statement (12 parameters each, under SQLite's 32,766).
AUDIT_ROWS_PER_INSERT = 500


#: The files of a SQLite store beside the database itself: wrapped keys, the audit log and API-key
#: hashes are in all of them (the WAL and shared-memory files hold recent pages).
STORE_SUFFIXES = ("", "-wal", "-shm", "-journal", "-writelock")


def loose_store_files(path: str) -> list[tuple[str, int]]:
    """(file, mode) of the store's files that the owner's group or others may access."""
    loose = []
    for suffix in STORE_SUFFIXES:
        try:
            mode = stat.S_IMODE(os.stat(path + suffix).st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            loose.append((path + suffix, mode))
    return loose


def secure_store_files(path: str) -> None:
    """Creates the database file 0600 before SQLite does, which gives its WAL and shared-memory
    files the database's mode; refuses loose files. A missing directory is an error (a mistyped
    path must not start an empty store)."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
    except OSError as e:
        raise StorageError(f"cannot open SQLite store {path}: {e.strerror}") from None
    loose = loose_store_files(path)
    if loose:
        named = ", ".join(f"{name} (mode {mode:04o})" for name, mode in loose)
        raise StorageError(f"store files readable by group or others: {named}; chmod 600 them (and 700 the directory)")


class SqliteStore(KeyStore):
    def __init__(self, path: str, *, migrate_to: int | None = None) -> None:
        self.url = f"sqlite:///{path}"
        self.path = path
        self._migrate_to = migrate_to or migrations.LATEST
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._write_lock: int | None = None

    # -- the worker -------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            secure_store_files(self.path)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        # Switching to WAL answers "locked" at once (no busy timeout) while another process
        # creates the same file: retry for up to the busy timeout.
        deadline = time.monotonic() + 30
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _worker(self, conn: sqlite3.Connection) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                conn.close()
                if self._write_lock is not None:
                    os.close(self._write_lock)
                    self._write_lock = None
                return
            if job[3] == READ:
                self._finish([job], [self._call(conn, job)])
                continue
            batch = [job]
            while len(batch) < GROUP_COMMIT_MAX:
                try:
                    nxt = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._jobs.put(None)
                    break
                batch.append(nxt)
            self._finish(batch, self._commit_group(conn, batch))

    @staticmethod
    def _call(conn: sqlite3.Connection, job: Job) -> tuple[bool, Any]:
        try:
            return True, job[0](conn)
        except Exception as e:
            return False, e

    def _commit_group(self, conn: sqlite3.Connection, batch: list[Job]) -> list[tuple[bool, Any]]:
        if self._write_lock is None:
            return self._transaction(conn, batch)
        # Writers of the same file (a server's workers) queue on this lock, which hands over
        # as soon as it is released; SQLite's own busy handler polls in steps of 1 to 100 ms.
        fcntl.flock(self._write_lock, fcntl.LOCK_EX)
        try:
            return self._transaction(conn, batch)
        finally:
            fcntl.flock(self._write_lock, fcntl.LOCK_UN)

    @classmethod
    def _transaction(cls, conn: sqlite3.Connection, batch: list[Job]) -> list[tuple[bool, Any]]:
        # Every statement releases and retakes the GIL, and retaking it from a busy event loop
        # can wait a whole switch interval: a lone job (the audit writer's usual case) runs
        # without a savepoint, and a lone single statement in SQLite's own autocommit.
        if len(batch) == 1 and batch[0][3] == STATEMENT:
            return [cls._call(conn, batch[0])]
        results: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            if len(batch) == 1:
                ok, value = cls._call(conn, batch[0])
                conn.execute("COMMIT" if ok else "ROLLBACK")
                return [(ok, value)]
            for job in batch:
                conn.execute("SAVEPOINT job")
                ok, value = cls._call(conn, job)
                if not ok:
                    conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                results.append((ok, value))
            conn.execute("COMMIT")
            return results
        except sqlite3.Error as e:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            error = StorageError(f"SQLite commit failed: {e}")
            return [(False, error)] * len(batch)

    @staticmethod
    def _finish(batch: list[Job], results: list[tuple[bool, Any]]) -> None:
        for (_, future, loop, _), (ok, value) in zip(batch, results, strict=True):
            loop.call_soon_threadsafe(_resolve, future, ok, value)

    async def _run(self, fn: Callable[[sqlite3.Connection], T], write: bool, *, one_statement: bool = False) -> T:
        if self._thread is None:
            raise StorageError("the store is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, future, loop, (STATEMENT if one_statement else WRITE) if write else READ))
        return await future

    # -- lifecycle ----------------------------------------------------------------

    async def open(self) -> None:
        try:
            conn = await asyncio.to_thread(self._connect)
        except sqlite3.Error as e:
            raise StorageError(f"cannot open SQLite store {self.path}: {e}") from None
        if self.path != ":memory:":
            self._write_lock = os.open(f"{self.path}-writelock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._thread = threading.Thread(target=self._worker, args=(conn,), name="skms-sqlite", daemon=True)
        self._thread.start()
        await self._run(self._migrate, write=False)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
            current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            for version in range(current + 1, self._migrate_to + 1):
                for statement in migrations.statements(version, "BLOB", "REAL"):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version VALUES (?, ?)", (version, time.time()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    async def schema_version(self) -> int:
        return await self._run(
            lambda c: c.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0], write=False
        )

    async def ping(self) -> None:
        await self._run(lambda c: c.execute("SELECT 1").fetchone(), write=False)

    # -- seal ---------------------------------------------------------------------

    async def get_seal(self) -> SealRecord | None:
        def read(c: sqlite3.Connection) -> SealRecord | None:
            row = c.execute(
                "SELECT method, params, wrapped_root, root_id, generation, updated_at FROM seal WHERE id = 1"
            ).fetchone()
            return None if row is None else SealRecord(row[0], loads(row[1]), bytes(row[2]), row[3], row[4], row[5])

        return await self._run(read, write=False)

    async def put_seal(self, record: SealRecord, expected_generation: int | None) -> SealRecord:
        new = SealRecord(
            record.method, record.params, record.wrapped_root, record.root_id,
            0 if expected_generation is None else expected_generation + 1, time.time(),
        )  # fmt: skip

        def write(c: sqlite3.Connection) -> SealRecord:
            values = (new.generation, new.method, dumps(new.params), new.wrapped_root, new.root_id, new.updated_at)
            if expected_generation is None:
                try:
                    c.execute("INSERT INTO seal VALUES (1, ?, ?, ?, ?, ?, ?)", values)
                except sqlite3.IntegrityError:
                    raise Conflict("the store is already initialized") from None
            else:
                cur = c.execute(
                    "UPDATE seal SET generation=?, method=?, params=?, wrapped_root=?, root_id=?, updated_at=? "
                    "WHERE id = 1 AND generation = ?",
                    (*values, expected_generation),
                )
                if cur.rowcount != 1:
                    raise Conflict("the seal record changed concurrently")
            return new

        return await self._run(write, write=True)

    # -- keys -----------------------------------------------------------------------

    async def create_key(self, key: KeyRecord, versions: Sequence[VersionRecord]) -> None:
        def write(c: sqlite3.Connection) -> None:
            try:
                c.execute(f"INSERT INTO keys ({KEY_COLUMNS}) VALUES ({','.join('?' * 19)})", key_to_row(key))
            except sqlite3.IntegrityError:
                raise Conflict(f"a key named {key.name!r} already exists") from None
            c.executemany(
                f"INSERT INTO key_versions ({VERSION_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
                [version_to_row(v) for v in versions],
            )

        await self._run(write, write=True)

    @staticmethod
    def _key(c: sqlite3.Connection, where: str, args: tuple[Any, ...], what: str) -> KeyRecord:
        row = c.execute(f"SELECT {KEY_COLUMNS} FROM keys WHERE {where}", args).fetchone()
        if row is None:
            raise NotFound(f"no key {what}")
        return key_from_row(row)

    async def get_key(self, tenant: str, name: str) -> KeyRecord:
        return await self._run(lambda c: self._key(c, "tenant = ? AND name = ?", (tenant, name), repr(name)), False)

    async def get_key_by_id(self, key_id: str) -> KeyRecord:
        return await self._run(lambda c: self._key(c, "id = ?", (key_id,), f"with id {key_id}"), False)

    async def list_keys(
        self, tenant: str, flt: KeyFilter, limit: int, after: str | None
    ) -> tuple[list[KeyRecord], str | None]:
        def read(c: sqlite3.Connection) -> tuple[list[KeyRecord], str | None]:
            sql = f"SELECT {KEY_COLUMNS} FROM keys WHERE tenant = ? AND name > ?"
            args: list[Any] = [tenant, after or ""]
            if flt.type:
                sql += " AND type = ?"
                args.append(flt.type)
            if flt.state:
                sql += " AND state = ?"
                args.append(flt.state)
            if flt.name_prefix:
                sql += " AND substr(name, 1, ?) = ?"
                args += [len(flt.name_prefix), flt.name_prefix]
            sql += " ORDER BY name"
            out: list[KeyRecord] = []
            for row in c.execute(sql, args):
                key = key_from_row(row)
                if label_match(key, flt):
                    out.append(key)
                    if len(out) > limit:
                        break
            more = len(out) > limit
            page = out[:limit]
            return page, (page[-1].name if more and page else None)

        return await self._run(read, write=False)

    async def update_key(self, key: KeyRecord) -> KeyRecord:
        def write(c: sqlite3.Connection) -> KeyRecord:
            row = key_to_row(key)
            cur = c.execute(
                "UPDATE keys SET labels=?, policy=?, state=?, latest_version=?, min_version=?, updated_at=?, "
                "wrapped_dek=?, root_id=?, next_rotation_at=?, deletion_at=?, destroyed_at=?, "
                "row_version=row_version+1, meta=? WHERE id = ? AND row_version = ?",
                (*row[5:10], *row[11:17], row[18], key.id, key.row_version),
            )
            if cur.rowcount != 1:
                raise Conflict(f"key {key.name!r} changed concurrently; read it again and retry")
            return self._key(c, "id = ?", (key.id,), key.id)

        return await self._run(write, write=True)

    async def add_version(
        self,
        key_id: str,
        make: Callable[[KeyRecord, int], VersionRecord],
        expected_latest: int | None = None,
    ) -> tuple[KeyRecord, VersionRecord]:
        def write(c: sqlite3.Connection) -> tuple[KeyRecord, VersionRecord]:
            key = self._key(c, "id = ?", (key_id,), key_id)
            if expected_latest is not None and key.latest_version != expected_latest:
                raise Conflict(f"key {key.name!r} was rotated concurrently")
            version = make(key, key.latest_version + 1)
            c.execute(f"INSERT INTO key_versions ({VERSION_COLUMNS}) VALUES (?,?,?,?,?,?,?)", version_to_row(version))
            c.execute(
                "UPDATE keys SET latest_version=?, updated_at=?, next_rotation_at=?, row_version=row_version+1 "
                "WHERE id = ?",
                (version.version, version.created_at, _next_rotation(key, version.created_at), key_id),
            )
            return self._key(c, "id = ?", (key_id,), key_id), version

        return await self._run(write, write=True)

    async def get_versions(self, key_id: str) -> list[VersionRecord]:
        return await self._run(
            lambda c: [
                version_from_row(r)
                for r in c.execute(
                    f"SELECT {VERSION_COLUMNS} FROM key_versions WHERE key_id = ? ORDER BY version", (key_id,)
                )
            ],
            write=False,
        )

    async def get_version(self, key_id: str, version: int) -> VersionRecord:
        def read(c: sqlite3.Connection) -> VersionRecord:
            row = c.execute(
                f"SELECT {VERSION_COLUMNS} FROM key_versions WHERE key_id = ? AND version = ?", (key_id, version)
            ).fetchone()
            if row is None:
                raise NotFound(f"key {key_id} has no version {version}")
            return version_from_row(row)

        return await self._run(read, write=False)

    async def destroy_versions(self, key_id: str, versions: Sequence[int]) -> None:
        def write(c: sqlite3.Connection) -> None:
            c.executemany(
                "UPDATE key_versions SET material = NULL, state = 'destroyed' WHERE key_id = ? AND version = ?",
                [(key_id, v) for v in versions],
            )

        await self._run(write, write=True)

    async def due_keys(self, now: float, limit: int) -> list[KeyRecord]:
        return await self._run(
            lambda c: [
                key_from_row(r)
                for r in c.execute(
                    f"SELECT {KEY_COLUMNS} FROM keys WHERE (next_rotation_at <= ? AND state = 'active') "
                    "OR (deletion_at <= ? AND state != 'destroyed') ORDER BY id LIMIT ?",
                    (now, now, limit),
                )
            ],
            write=False,
        )

    async def all_keys(self, after: str | None, limit: int) -> list[KeyRecord]:
        return await self._run(
            lambda c: [
                key_from_row(r)
                for r in c.execute(
                    f"SELECT {KEY_COLUMNS} FROM keys WHERE id > ? ORDER BY id LIMIT ?", (after or "", limit)
                )
            ],
            write=False,
        )

    async def rewrap_deks(self, updates: Sequence[tuple[str, bytes, int]]) -> None:
        def write(c: sqlite3.Connection) -> None:
            c.executemany(
                "UPDATE keys SET wrapped_dek = ?, root_id = ?, row_version = row_version + 1 WHERE id = ?",
                [(dek, root_id, key_id) for key_id, dek, root_id in updates],
            )

        await self._run(write, write=True)

    async def replace_key(self, old_key_id: str, key: KeyRecord, versions: Sequence[VersionRecord]) -> None:
        def write(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM key_versions WHERE key_id = ?", (old_key_id,))
            if c.execute("DELETE FROM keys WHERE id = ?", (old_key_id,)).rowcount != 1:
                raise NotFound(f"no key with id {old_key_id}")
            try:
                c.execute(f"INSERT INTO keys ({KEY_COLUMNS}) VALUES ({','.join('?' * 19)})", key_to_row(key))
            except sqlite3.IntegrityError:
                raise Conflict(f"a key named {key.name!r} already exists") from None
            c.executemany(
                f"INSERT INTO key_versions ({VERSION_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
                [version_to_row(v) for v in versions],
            )

        await self._run(write, write=True)

    # -- BYOK import tokens ---------------------------------------------------------------

    async def put_import_token(self, token: ImportTokenRecord) -> None:
        def write(c: sqlite3.Connection) -> None:
            try:
                c.execute(
                    "INSERT INTO import_tokens (id, tenant, wrapping_key_id, algorithm, expires_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (token.id, token.tenant, token.wrapping_key_id, token.algorithm, token.expires_at),
                )
            except sqlite3.IntegrityError:
                raise Conflict("an import token with that id exists") from None

        await self._run(write, write=True)

    async def get_import_token(self, token_id: str) -> ImportTokenRecord:
        def read(c: sqlite3.Connection) -> ImportTokenRecord:
            row = c.execute(
                "SELECT id, tenant, wrapping_key_id, algorithm, expires_at FROM import_tokens WHERE id = ?",
                (token_id,),
            ).fetchone()
            if row is None:
                raise NotFound("no such import token (unknown, or already used)")
            return ImportTokenRecord(*row)

        return await self._run(read, write=False)

    async def delete_import_token(self, token_id: str) -> bool:
        def write(c: sqlite3.Connection) -> bool:
            return c.execute("DELETE FROM import_tokens WHERE id = ?", (token_id,)).rowcount == 1

        return await self._run(write, write=True)

    # -- backup recipients ----------------------------------------------------------------

    async def put_backup_recipient(self, record: BackupRecipientRecord) -> None:
        def write(c: sqlite3.Connection) -> None:
            try:
                c.execute(
                    f"INSERT INTO backup_recipients ({BACKUP_RECIPIENT_COLUMNS}) VALUES (?,?,?,?,?,?)",
                    backup_recipient_to_row(record),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"a backup recipient named {record.name!r} exists") from None

        await self._run(write, write=True)

    async def get_backup_recipient(self, tenant: str, name: str) -> BackupRecipientRecord:
        def read(c: sqlite3.Connection) -> BackupRecipientRecord:
            row = c.execute(
                f"SELECT {BACKUP_RECIPIENT_COLUMNS} FROM backup_recipients WHERE tenant = ? AND name = ?",
                (tenant, name),
            ).fetchone()
            if row is None:
                raise NotFound(f"no backup recipient named {name!r}")
            return backup_recipient_from_row(row)

        return await self._run(read, write=False)

    async def list_backup_recipients(self, tenant: str) -> list[BackupRecipientRecord]:
        def read(c: sqlite3.Connection) -> list[BackupRecipientRecord]:
            rows = c.execute(
                f"SELECT {BACKUP_RECIPIENT_COLUMNS} FROM backup_recipients WHERE tenant = ? ORDER BY name", (tenant,)
            )
            return [backup_recipient_from_row(r) for r in rows]

        return await self._run(read, write=False)

    async def delete_backup_recipient(self, tenant: str, name: str) -> None:
        def write(c: sqlite3.Connection) -> None:
            if c.execute("DELETE FROM backup_recipients WHERE tenant = ? AND name = ?", (tenant, name)).rowcount != 1:
                raise NotFound(f"no backup recipient named {name!r}")

        await self._run(write, write=True)

    # -- API keys -------------------------------------------------------------------------

    async def put_api_key(self, record: ApiKeyRecord) -> None:
        def write(c: sqlite3.Connection) -> None:
            try:
                c.execute(
                    f"INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", api_key_to_row(record)
                )
            except sqlite3.IntegrityError:
                raise Conflict("an API key with that id exists") from None

        await self._run(write, write=True)

    async def get_api_key(self, key_id: str) -> ApiKeyRecord:
        def read(c: sqlite3.Connection) -> ApiKeyRecord:
            row = c.execute(f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,)).fetchone()
            if row is None:
                raise NotFound("no such API key")
            return api_key_from_row(row)

        return await self._run(read, write=False)

    async def list_api_keys(self, tenant: str | None) -> list[ApiKeyRecord]:
        def read(c: sqlite3.Connection) -> list[ApiKeyRecord]:
            if tenant is None:
                rows = c.execute(f"SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY created_at")
            else:
                rows = c.execute(
                    f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE tenant = ? ORDER BY created_at", (tenant,)
                )
            return [api_key_from_row(r) for r in rows]

        return await self._run(read, write=False)

    async def revoke_api_key(self, key_id: str, when: float) -> None:
        def write(c: sqlite3.Connection) -> None:
            if c.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (when, key_id)).rowcount != 1:
                raise NotFound("no such API key")

        await self._run(write, write=True)

    # -- authorization ---------------------------------------------------------------------

    async def put_authz_policy(self, tenant: str, name: str, document: str) -> None:
        await self._run(
            lambda c: c.execute(
                "INSERT INTO authz_policies VALUES (?, ?, ?, ?) ON CONFLICT (tenant, name) "
                "DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at",
                (tenant, name, document, time.time()),
            ),
            write=True,
        )

    async def get_authz_policy(self, tenant: str, name: str) -> str:
        def read(c: sqlite3.Connection) -> str:
            row = c.execute(
                "SELECT document FROM authz_policies WHERE tenant = ? AND name = ?", (tenant, name)
            ).fetchone()
            if row is None:
                raise NotFound(f"no policy {name!r}")
            return str(row[0])

        return await self._run(read, write=False)

    async def list_authz_policies(self, tenant: str) -> list[str]:
        return await self._run(
            lambda c: [
                str(r[0])
                for r in c.execute("SELECT document FROM authz_policies WHERE tenant = ? ORDER BY name", (tenant,))
            ],
            write=False,
        )

    async def delete_authz_policy(self, tenant: str, name: str) -> None:
        def write(c: sqlite3.Connection) -> None:
            if c.execute("DELETE FROM authz_policies WHERE tenant = ? AND name = ?", (tenant, name)).rowcount != 1:
                raise NotFound(f"no policy {name!r}")

        await self._run(write, write=True)

    async def put_authz_binding(self, tenant: str, principal: str, roles: list[str], policies: list[str]) -> None:
        await self._run(
            lambda c: c.execute(
                "INSERT INTO authz_bindings VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, principal) "
                "DO UPDATE SET roles = excluded.roles, policies = excluded.policies, updated_at = excluded.updated_at",
                (tenant, principal, dumps(roles), dumps(policies), time.time()),
            ),
            write=True,
        )

    async def get_authz_binding(self, tenant: str, principal: str) -> dict[str, list[str]]:
        def read(c: sqlite3.Connection) -> dict[str, list[str]]:
            row = c.execute(
                "SELECT roles, policies FROM authz_bindings WHERE tenant = ? AND principal = ?", (tenant, principal)
            ).fetchone()
            if row is None:
                raise NotFound(f"no binding for {principal!r}")
            return {"roles": loads(row[0]), "policies": loads(row[1])}

        return await self._run(read, write=False)

    # -- audit (skms.audit) --------------------------------------------------------------

    async def append_audit(self, rows: Sequence[AuditRow]) -> None:
        def write(c: sqlite3.Connection) -> None:
            # One multi-row INSERT per chunk rather than executemany's one step (and one GIL
            # round trip) per row.
            try:
                for start in range(0, len(rows), AUDIT_ROWS_PER_INSERT):
                    chunk = rows[start : start + AUDIT_ROWS_PER_INSERT]
                    values = ",".join(["(?,?,?,?,?,?,?,?,?,?,?,?)"] * len(chunk))
                    c.execute(f"INSERT INTO audit_records ({AUDIT_COLUMNS}) VALUES {values}", list(chain(*chunk)))
            except sqlite3.Error as e:
                raise StorageError(f"cannot write audit records: {e}") from None

        await self._run(write, write=True, one_statement=len(rows) <= AUDIT_ROWS_PER_INSERT)

    async def read_audit(self, flt: AuditFilter, limit: int, after: tuple[float, str, int] | None) -> list[AuditRow]:
        sql = f"SELECT {AUDIT_COLUMNS} FROM audit_records WHERE 1 = 1"
        args: list[Any] = []
        for column in ("tenant", "principal", "action", "resource", "result"):
            value: str | None = getattr(flt, column)
            if value is None:
                continue
            if value.endswith("*"):
                sql += f" AND substr({column}, 1, ?) = ?"
                args += [len(value) - 1, value[:-1]]
            else:
                sql += f" AND {column} = ?"
                args.append(value)
        if flt.since is not None:
            sql += " AND time >= ?"
            args.append(flt.since)
        if flt.until is not None:
            sql += " AND time < ?"
            args.append(flt.until)
        if after is not None:
            sql += " AND (time, chain_id, seq) > (?, ?, ?)"
            args += after
        sql += " ORDER BY time, chain_id, seq LIMIT ?"
        args.append(limit)
        return await self._run(lambda c: [AuditRow(*r) for r in c.execute(sql, args)], write=False)

    async def read_audit_chain(self, chain_id: str, after_seq: int, limit: int) -> list[AuditRow]:
        return await self._run(
            lambda c: [
                AuditRow(*r)
                for r in c.execute(
                    f"SELECT {AUDIT_COLUMNS} FROM audit_records WHERE chain_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                    (chain_id, after_seq, limit),
                )
            ],
            write=False,
        )

    async def audit_chains(self) -> list[str]:
        return await self._run(
            lambda c: [
                r[0]
                for r in c.execute(
                    "SELECT chain_id FROM audit_records UNION SELECT chain_id FROM audit_checkpoints ORDER BY 1"
                )
            ],
            write=False,
        )

    async def put_audit_checkpoint(self, checkpoint: AuditCheckpoint) -> None:
        def write(c: sqlite3.Connection) -> None:
            try:
                c.execute(
                    f"INSERT INTO audit_checkpoints ({AUDIT_CHECKPOINT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", checkpoint
                )
            except sqlite3.Error as e:
                raise StorageError(f"cannot write an audit checkpoint: {e}") from None

        await self._run(write, write=True)

    async def audit_checkpoints(self, chain_id: str) -> list[AuditCheckpoint]:
        return await self._run(
            lambda c: [
                AuditCheckpoint(*r)
                for r in c.execute(
                    f"SELECT {AUDIT_CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE chain_id = ? ORDER BY seq",
                    (chain_id,),
                )
            ],
            write=False,
        )


def _next_rotation(key: KeyRecord, now: float) -> float | None:
    period = key.policy.get("rotation_period")
    return None if not period else now + float(period)


def _resolve(future: "asyncio.Future[Any]", ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
