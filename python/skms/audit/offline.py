"""Offline verification: a database (a SQLite file or PostgreSQL) plus the checkpoint public key.

Needs no unseal: it checks seq continuity, the public hash chain, the checkpoint signatures
and truncation, but not the keyed MACs. Records after a chain's last checkpoint are
hash-chained but not yet anchored by a signature (``unanchored`` in the report): someone
with write access could have forged or cut them without this check noticing; the online
check (:meth:`skms.audit.AuditLog.verify`) also verifies the MACs.
"""

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg

from skms.audit import chain
from skms.audit.events import VerifyReport
from skms.crypto.asymmetric import Ed25519PublicKey
from skms.errors import InvalidInput, StorageError
from skms.storage.base import AUDIT_CHECKPOINT_COLUMNS, AUDIT_COLUMNS, AuditCheckpoint, AuditRow

#: The checkpoint columns of a database not yet migrated to 7 (no prev_seq: read as None).
LEGACY_CHECKPOINT_COLUMNS = AUDIT_CHECKPOINT_COLUMNS.replace(", prev_seq", ", NULL")


class _SqliteReader:
    """Read-only access to the audit tables of a SQLite file (never migrates or writes)."""

    def __init__(self, path: str) -> None:
        if not Path(path).is_file():
            raise StorageError(f"no SQLite database at {path}")
        try:
            self._conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, check_same_thread=False)
            self._conn.execute("SELECT 1 FROM audit_records LIMIT 1").fetchall()
        except sqlite3.Error as e:
            raise StorageError(f"cannot read the audit records of {path}: {e}") from None

    def _fetch(self, sql: str, *args: Any) -> list[Any]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise StorageError(f"cannot read the audit tables: {e}") from None

    async def audit_chains(self) -> list[str]:
        sql = "SELECT chain_id FROM audit_records UNION SELECT chain_id FROM audit_checkpoints ORDER BY 1"
        return [r[0] for r in await asyncio.to_thread(self._fetch, sql)]

    async def read_audit_chain(self, chain_id: str, after_seq: int, limit: int) -> list[AuditRow]:
        sql = f"SELECT {AUDIT_COLUMNS} FROM audit_records WHERE chain_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        return [AuditRow(*r) for r in await asyncio.to_thread(self._fetch, sql, chain_id, after_seq, limit)]

    async def audit_checkpoints(self, chain_id: str) -> list[AuditCheckpoint]:
        columns = AUDIT_CHECKPOINT_COLUMNS if await asyncio.to_thread(self._has_prev_seq) else LEGACY_CHECKPOINT_COLUMNS
        sql = f"SELECT {columns} FROM audit_checkpoints WHERE chain_id = ? ORDER BY seq"
        return [AuditCheckpoint(*r) for r in await asyncio.to_thread(self._fetch, sql, chain_id)]

    def _has_prev_seq(self) -> bool:
        """False for a database written before migration 7 (checkpoints without prev_seq)."""
        return any(r[1] == "prev_seq" for r in self._fetch("PRAGMA table_info(audit_checkpoints)"))

    async def close(self) -> None:
        self._conn.close()


class _PostgresReader:
    """Read-only queries on the audit tables of a PostgreSQL database."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @classmethod
    async def connect(cls, url: str) -> "_PostgresReader":
        try:
            return cls(await asyncpg.connect(url))
        except (OSError, asyncpg.PostgresError) as e:
            raise StorageError(f"cannot connect to PostgreSQL: {e}") from None

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        try:
            return list(await self._conn.fetch(sql, *args))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            raise StorageError(f"cannot read the audit tables: {e}") from None

    async def audit_chains(self) -> list[str]:
        sql = "SELECT chain_id FROM audit_records UNION SELECT chain_id FROM audit_checkpoints ORDER BY 1"
        return [str(r[0]) for r in await self._fetch(sql)]

    async def read_audit_chain(self, chain_id: str, after_seq: int, limit: int) -> list[AuditRow]:
        sql = f"SELECT {AUDIT_COLUMNS} FROM audit_records WHERE chain_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        return [AuditRow(*r) for r in await self._fetch(sql, chain_id, after_seq, limit)]

    async def audit_checkpoints(self, chain_id: str) -> list[AuditCheckpoint]:
        present = await self._fetch(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'audit_checkpoints' "
            "AND column_name = 'prev_seq' AND table_schema = current_schema()"
        )
        columns = AUDIT_CHECKPOINT_COLUMNS if present else LEGACY_CHECKPOINT_COLUMNS
        sql = f"SELECT {columns} FROM audit_checkpoints WHERE chain_id = $1 ORDER BY seq"
        return [AuditCheckpoint(*r) for r in await self._fetch(sql, chain_id)]

    async def close(self) -> None:
        await self._conn.close()


def _public_keys(checkpoint_public_key: bytes | Sequence[bytes]) -> list[Ed25519PublicKey]:
    raw = [checkpoint_public_key] if isinstance(checkpoint_public_key, bytes | bytearray) else checkpoint_public_key
    if not raw:
        raise InvalidInput("give at least one checkpoint public key")
    return [Ed25519PublicKey.load(bytes(k), "raw") for k in raw]


async def verify_offline(
    database: str,
    checkpoint_public_key: bytes | Sequence[bytes],
    chain_id: str | None = None,
    witness: Sequence[AuditCheckpoint] | None = None,
) -> VerifyReport:
    """Verifies the audit log of ``database`` (``sqlite:///path``, a file path, or ``postgresql://…``).

    ``witness``: the checkpoints a witness kept (:func:`skms.audit.witness.read_witness`); every
    chain they name must be in the database and reach them, or the report names what is missing.

    ``checkpoint_public_key`` is the raw 32-byte Ed25519 key of
    :meth:`skms.audit.AuditLog.checkpoint_public_key`, or several (one per version of the
    checkpoint key, if it was rotated). Without the MAC key, ``mac_checked`` is False.
    """
    keys = _public_keys(checkpoint_public_key)

    async def public_keys(version: int) -> Sequence[Ed25519PublicKey]:
        return keys

    reader: _SqliteReader | _PostgresReader
    if database.startswith(("postgresql://", "postgres://")):
        reader = await _PostgresReader.connect(database)
    else:
        path = database[len("sqlite:///") :] if database.startswith("sqlite:///") else database
        if "://" in path:
            raise InvalidInput("the database is sqlite:///path, a file path, or postgresql://…")
        reader = await asyncio.to_thread(_SqliteReader, path)
    try:
        return await chain.verify_source(reader, public_keys, None, chain_id, witness=witness)
    finally:
        await reader.close()
