"""Key service benchmarks (issue 5): durable key creation and signing through KeyService.

* ``key_create_sqlite`` / ``key_create_postgresql``: 10,000 ``ecdsa-secp256k1`` keys created
  through :class:`skms.keys.KeyService`, 64 at a time (``asyncio.gather`` behind a
  semaphore), each acknowledged only once durable (SQLite ``synchronous=FULL``, PostgreSQL
  ``synchronous_commit=on``). Target: 1,000 keys per second (``target_items_per_s``). The
  PostgreSQL run creates its own database and drops it.
* ``key_sign``: 1,000 signatures of 64-byte messages through ``KeyService.sign`` with a warm
  cache, against the bare native ``skms.crypto.secp256k1.sign_der`` of each message's
  SHA-256 digest with the same key. Target: KeyService time at most 1.5x native.

Conventions of ``benches/bench_native.py``; ``benches/ratios.py`` prints PASS or MISS.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import os
import secrets
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from skms.crypto import secp256k1
from skms.keys import KeyService
from skms.keys.seal import write_keyfile

KEYS = 10_000
CONCURRENCY = 64
CREATE_ROUNDS = 3
SIGNS = 1_000
TENANT = "bench"
MESSAGES = [b"message %04d " % i + b"m" * 50 for i in range(SIGNS)]

CREATE_TARGET = "issue 5: creating ecdsa-secp256k1 keys, durable, at least 1,000 keys per second"
SIGN_TARGET = "issue 5: sign through KeyService with a warm cache within 1.5x of a bare native sign"


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="skms-bench-") as d:
        yield Path(d)


async def _service(url: str, keyfile: Path) -> KeyService:
    svc = await KeyService.open(url)
    if not keyfile.exists():
        write_keyfile(str(keyfile))
    await svc.sealer.initialize("keyfile", keyfile=str(keyfile))
    return svc


async def _create(svc: KeyService, prefix: str) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with gate:
            await svc.create_key(TENANT, f"{prefix}-{i:05d}", "ecdsa-secp256k1")

    await asyncio.gather(*(one(i) for i in range(KEYS)))


def _bench_create(benchmark: Any, loop: asyncio.AbstractEventLoop, svc: KeyService) -> None:
    benchmark.extra_info.update(items=KEYS, target_items_per_s=1000, target=CREATE_TARGET)
    rounds = itertools.count()
    benchmark.pedantic(
        lambda: loop.run_until_complete(_create(svc, f"r{next(rounds)}")), rounds=CREATE_ROUNDS, iterations=1
    )
    page, _ = loop.run_until_complete(svc.list_keys(TENANT, prefix="r0-", limit=1000))
    assert len(page) == 1000


# --------------------------------------------------------------------------- creation


@pytest.mark.benchmark(group="key_create_sqlite")
def test_key_create_sqlite__skms(benchmark: Any, loop: asyncio.AbstractEventLoop, workdir: Path) -> None:
    svc = loop.run_until_complete(_service(f"sqlite:///{workdir / 'create.db'}", workdir / "create.key"))
    try:
        _bench_create(benchmark, loop, svc)
    finally:
        loop.run_until_complete(svc.close())


def _pg_dsn() -> str:
    dsn = os.environ.get("SKMS_TEST_POSTGRES_DSN", "postgresql://postgres:postgres@127.0.0.1:5432/skms")
    parts = urlsplit(dsn)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=1).close()
    except OSError:
        pytest.skip("PostgreSQL is not reachable (set SKMS_TEST_POSTGRES_DSN)")
    return dsn


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


async def _admin(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(_with_database(dsn, "postgres"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.mark.benchmark(group="key_create_postgresql")
def test_key_create_postgresql__skms(benchmark: Any, loop: asyncio.AbstractEventLoop, workdir: Path) -> None:
    dsn = _pg_dsn()
    name = f"skms_bench_{secrets.token_hex(6)}"
    loop.run_until_complete(_admin(dsn, f'CREATE DATABASE "{name}"'))
    try:
        svc = loop.run_until_complete(_service(_with_database(dsn, name), workdir / "create-pg.key"))
        try:
            _bench_create(benchmark, loop, svc)
        finally:
            loop.run_until_complete(svc.close())
    finally:
        loop.run_until_complete(_admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --------------------------------------------------------------------------- signing


@pytest.fixture(scope="module")
def signer(loop: asyncio.AbstractEventLoop, workdir: Path) -> Iterator[tuple[KeyService, bytes]]:
    """A service with one warm ecdsa-secp256k1 key, and that key's raw scalar."""
    svc = loop.run_until_complete(_service(f"sqlite:///{workdir / 'sign.db'}", workdir / "sign.key"))
    loop.run_until_complete(svc.create_key(TENANT, "signer", "ecdsa-secp256k1"))
    loop.run_until_complete(svc.sign(TENANT, "signer", b"warm up"))
    _, _, scalar = loop.run_until_complete(svc._raw_material(TENANT, "signer", None))
    yield svc, scalar.expose_secret()
    loop.run_until_complete(svc.close())


async def _sign_all(svc: KeyService) -> list[str]:
    return [(await svc.sign(TENANT, "signer", m))[0] for m in MESSAGES]


@pytest.mark.benchmark(group="key_sign")
def test_key_sign__skms(benchmark: Any, loop: asyncio.AbstractEventLoop, signer: tuple[KeyService, bytes]) -> None:
    svc, scalar = signer
    # Time at most 1.5x native's means a rate at least 1/1.5 of it.
    benchmark.extra_info.update(items=SIGNS, target_ratio=1 / 1.5, target_peer="native", target=SIGN_TARGET)
    signatures = benchmark.pedantic(lambda: loop.run_until_complete(_sign_all(svc)), rounds=20, warmup_rounds=1)
    # RFC 6979: the service's signatures are the native ones, in the versioned text form.
    native = secp256k1.sign_der(scalar, hashlib.sha256(MESSAGES[7]).digest())
    assert signatures[7] == "skms:v1:" + base64.b64encode(native).decode()


@pytest.mark.benchmark(group="key_sign")
def test_key_sign__native(benchmark: Any, signer: tuple[KeyService, bytes]) -> None:
    _, scalar = signer
    benchmark.extra_info["items"] = SIGNS
    sign_der, sha256 = secp256k1.sign_der, hashlib.sha256
    signatures = benchmark.pedantic(
        lambda: [sign_der(scalar, sha256(m).digest()) for m in MESSAGES], rounds=20, warmup_rounds=1
    )
    assert len(signatures) == SIGNS
