"""Fixtures shared by the key service and storage tests (a pytest plugin).

Test modules load it with ``pytest_plugins = ["keys_support"]``. It gives:

* ``store_url``: a fresh, empty store, once per backend (``sqlite`` in a temp
  file, ``postgresql`` in a fresh schema of a database this session creates
  and drops: ``skms_test_<hex>``);
* ``svc``: a :class:`KeyService` on that store, initialized (key file) and
  unsealed, with a fake clock (``clock``);
* ``open_service``: more services on the same store (other "nodes");
* ``sql``: raw SQL on a store's own connection, for tampering and checks.

Async tests run under anyio's pytest plugin (asyncio backend).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from conftest import require_service
from skms.keys import KeyService
from skms.keys.seal import write_keyfile
from skms.storage.base import KeyStore
from skms.storage.postgres import PostgresStore
from skms.storage.sqlite import SqliteStore

T = TypeVar("T")
BACKENDS = ["sqlite", "postgresql"]
#: Fake clock start: an arbitrary fixed instant, so deadlines are exact.
EPOCH = 1_700_000_000.0


class FakeClock:
    """A settable clock for ``KeyService(clock=...)``."""

    def __init__(self, now: float = EPOCH) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def run_in_thread(fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs a coroutine on a private event loop in another thread (for sync fixtures)."""
    out: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            out.append(asyncio.run(fn()))
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return out[0]


def with_database(dsn: str, database: str, **params: str) -> str:
    parts = urlsplit(dsn)
    query = "&".join([*filter(None, [parts.query]), *(f"{k}={v}" for k, v in params.items())])
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", query, ""))


async def pg_admin(dsn: str, *statements: str) -> None:
    """Runs statements on the server's maintenance database (``postgres``)."""
    try:
        conn = await asyncpg.connect(with_database(dsn, "postgres"))
    except asyncpg.PostgresError:
        conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The PostgreSQL DSN of the test server (skips, or fails in strict mode, without one)."""
    return require_service("postgresql")


@pytest.fixture(scope="session")
def pg_database(pg_server: str) -> Iterator[str]:
    """A database of this session only, dropped at the end: its DSN.

    Its default collation is linguistic (ICU en-US) where the server can, as on many servers
    (the postgres Docker image defaults to en_US.utf8), so collation bugs show here too.
    """
    name = f"skms_test_{secrets.token_hex(6)}"
    try:
        run_in_thread(
            lambda: pg_admin(
                pg_server,
                f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'",
            )
        )
    except asyncpg.PostgresError:  # PostgreSQL < 15, or built without ICU
        run_in_thread(lambda: pg_admin(pg_server, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(pg_server, name)
    finally:
        run_in_thread(lambda: pg_admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """A fresh schema in the session database; the URL selects it through ``search_path``."""
    schema = f"t_{secrets.token_hex(6)}"

    async def execute(statement: str) -> None:
        conn = await asyncpg.connect(pg_database)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    run_in_thread(lambda: execute(f'CREATE SCHEMA "{schema}"'))
    try:
        yield with_database(pg_database, urlsplit(pg_database).path.lstrip("/"), search_path=schema)
    finally:
        run_in_thread(lambda: execute(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty store of the backend under test."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'skms.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def keyfile(tmp_path: Path) -> str:
    path = tmp_path / "unseal.key"
    write_keyfile(str(path))
    return str(path)


def make_store(url: str, **options: Any) -> KeyStore:
    if url.startswith("sqlite:///"):
        return SqliteStore(url[len("sqlite:///") :], **options)
    return PostgresStore(url, **options)


async def unsealed(url: str, keyfile: str, **options: Any) -> KeyService:
    """A service on ``url``: initializes the store with ``keyfile`` the first time, else unseals."""
    svc = await KeyService.open(url, **options)
    if await svc.sealer.initialized():
        await svc.sealer.unseal(keyfile=keyfile)
    else:
        await svc.sealer.initialize("keyfile", keyfile=keyfile)
    return svc


@pytest.fixture
async def svc(store_url: str, keyfile: str, clock: FakeClock) -> AsyncIterator[KeyService]:
    service = await unsealed(store_url, keyfile, clock=clock)
    yield service
    await service.close()


OpenService = Callable[..., Awaitable[KeyService]]


@pytest.fixture
async def open_service(store_url: str, keyfile: str) -> AsyncIterator[OpenService]:
    """Opens more services (nodes) on the test store; each is closed at the end."""
    opened: list[KeyService] = []

    async def factory(*, unseal: bool = True, **options: Any) -> KeyService:
        service = (
            await unsealed(store_url, keyfile, **options) if unseal else await KeyService.open(store_url, **options)
        )
        opened.append(service)
        return service

    yield factory
    for service in opened:
        await service.close()


async def sql(store: KeyStore, query: str, *args: Any) -> list[tuple[Any, ...]]:
    """Raw SQL (``?`` placeholders) on the store's own connection, committed; rows as tuples."""
    if isinstance(store, SqliteStore):
        return await store._run(lambda c: [tuple(r) for r in c.execute(query, args).fetchall()], write=True)
    assert isinstance(store, PostgresStore)
    parts = query.split("?")
    query = parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], 1))
    return [tuple(r) for r in await store.pool.fetch(query, *args)]
