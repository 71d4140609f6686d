"""Schema migrations and store basics, on SQLite and PostgreSQL: from an empty store, from
every earlier schema version with data in it, nodes starting together, and named errors."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import threading
from pathlib import Path

import pytest

from keys_support import FakeClock, make_store, sql, unsealed
from skms.errors import InvalidInput, StorageError
from skms.keys import KeyService
from skms.storage import migrations, open_store
from skms.storage.postgres import PostgresStore
from skms.storage.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

T = "acme"
LATEST = migrations.LATEST


def _tables(version: int) -> list[str]:
    """The tables migration ``version`` creates."""
    return [m for s in migrations.statements(version, "BLOB", "REAL") for m in re.findall(r"CREATE TABLE (\w+)", s)]


async def _versions(store: object) -> list[int]:
    assert isinstance(store, SqliteStore | PostgresStore)
    return [r[0] for r in await sql(store, "SELECT version FROM schema_version ORDER BY version")]


async def _has_table(store: SqliteStore | PostgresStore, table: str) -> bool:
    if isinstance(store, SqliteStore):
        rows = await sql(store, "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", table)
    else:
        rows = await sql(store, "SELECT to_regclass(?)::text", table)
        rows = [r for r in rows if r[0] is not None]
    return bool(rows)


async def test_empty_store_migrates_to_latest(store_url: str) -> None:
    store = make_store(store_url)
    await store.open()
    try:
        assert await store.schema_version() == LATEST
        assert await _versions(store) == list(range(1, LATEST + 1))
        everything = {t for v in range(1, LATEST + 1) for t in _tables(v)}
        assert {"seal", "keys", "key_versions", "import_tokens"} <= everything
        for version in range(1, LATEST + 1):
            for table in _tables(version):
                assert await _has_table(store, table), table
        assert await store.get_seal() is None
        await store.ping()
    finally:
        await store.close()
    # Opening again runs nothing twice.
    store = make_store(store_url)
    await store.open()
    try:
        assert await _versions(store) == list(range(1, LATEST + 1))
    finally:
        await store.close()


@pytest.mark.parametrize("start", range(1, LATEST))
async def test_upgrade_keeps_data(store_url: str, keyfile: str, start: int) -> None:
    old = make_store(store_url, migrate_to=start)
    await old.open()
    assert await old.schema_version() == start
    assert isinstance(old, SqliteStore | PostgresStore)
    for table in _tables(start + 1):
        assert not await _has_table(old, table), table
    # A node of that schema version writes keys, versions and the seal record.
    svc = KeyService(old, clock=FakeClock())
    await svc.sealer.initialize("keyfile", keyfile=keyfile)
    await svc.create_key(T, "enc", "aes256-gcm", labels={"env": "prod"}, policy={"rotation_period": 3600})
    text, _ = await svc.encrypt(T, "enc", b"before the upgrade")
    await svc.rotate_key(T, "enc")
    await svc.create_key(T, "sig", "ed25519")
    sig, _ = await svc.sign(T, "sig", b"m")
    await svc.create_key(T, "pre", "hmac-sha256", state="pre-active")
    _, phrase = await svc.create_wallet(T, "wallet", words=12)
    address = (await svc.wallet_addresses(T, "wallet", chain="bitcoin", count=1))[0]["address"]
    before = {k.name: k for k in (await svc.list_keys(T))[0]}
    await svc.close()
    # The new code migrates on open and reads everything back.
    new = await unsealed(store_url, keyfile)
    try:
        assert await new.store.schema_version() == LATEST
        assert await _versions(new.store) == list(range(1, LATEST + 1))
        after = {k.name: k for k in (await new.list_keys(T))[0]}
        assert after == before
        assert await new.decrypt(T, "enc", text) == b"before the upgrade"
        assert (await new.encrypt(T, "enc", b"x"))[1] == 2
        assert await new.verify(T, "sig", b"m", sig)
        assert (await new.wallet_addresses(T, "wallet", chain="bitcoin", count=1))[0]["address"] == address
        assert phrase not in repr(after["wallet"])
        assert isinstance(new.store, SqliteStore | PostgresStore)
        for table in _tables(LATEST):
            assert await _has_table(new.store, table), table
    finally:
        await new.close()


async def test_nodes_starting_together_migrate_once(store_url: str) -> None:
    if store_url.startswith("sqlite:///"):
        # The file is in WAL mode already: the race of the first switch is test_sqlite_open_waits_for_a_writer.
        path = store_url[len("sqlite:///") :]
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))  # a store's files are the owner's only
        sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").connection.close()
    stores = [make_store(store_url) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        for store in stores:
            assert await store.schema_version() == LATEST
        assert await _versions(stores[0]) == list(range(1, LATEST + 1))
    finally:
        for store in stores:
            await store.close()


async def test_store_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        open_store("mysql://localhost/skms")
    with pytest.raises(InvalidInput):
        await KeyService.open("file:///tmp/x.db")
    closed = open_store(f"sqlite:///{tmp_path / 'never-opened.db'}")
    with pytest.raises(StorageError):
        await closed.get_seal()
    with pytest.raises(StorageError):
        await open_store(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}").open()
    unreachable = open_store("postgresql://postgres@127.0.0.1:1/skms")
    with pytest.raises(StorageError):
        await unreachable.open()
    with pytest.raises(StorageError):
        await unreachable.ping()


async def test_closed_store_refuses(store_url: str) -> None:
    store = make_store(store_url)
    await store.open()
    await store.close()
    with pytest.raises(StorageError):
        await store.schema_version()


async def test_sqlite_open_waits_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other (a)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO other VALUES (1)")
    commit = threading.Timer(0.3, lambda: writer.execute("COMMIT"))
    commit.start()
    store = SqliteStore(str(path))
    try:
        await store.open()  # should wait for the writer (busy timeout 30 s), then migrate
        assert await store.schema_version() == LATEST
    finally:
        commit.join()
        writer.close()
        await store.close()
