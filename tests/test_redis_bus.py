"""Cross-node invalidation over Redis (skms.storage.redis_bus).

Two KeyService "nodes" share one store and cache metadata for an hour, so that only the bus can
make node B see node A's changes. Needs Redis (``require_service("redis")``).
"""

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis.asyncio as aioredis

from conftest import require_service
from skms.errors import InvalidInput, InvalidState
from skms.keys import KeyService
from skms.keys.seal import write_keyfile
from skms.storage.redis_bus import RedisInvalidation

LONG_TTL = 3600.0
MESSAGE = b"cross-node"


async def _admin(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(urlunsplit(urlsplit(dsn)._replace(path="/postgres")))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"  # one file, two nodes
        return
    dsn = require_service("postgresql")
    name = f"skms_bus_{secrets.token_hex(6)}"
    asyncio.run(_admin(dsn, f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))
    finally:
        asyncio.run(_admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def redis_url() -> str:
    return require_service("redis")


@pytest.fixture
def channel() -> str:
    return f"skms:test-invalidate:{secrets.token_hex(6)}"


async def node(url: str, keyfile: str) -> KeyService:
    service = await KeyService.open(url, metadata_ttl=LONG_TTL)
    if await service.sealer.initialized():
        await service.sealer.unseal(keyfile=keyfile)
    else:
        await service.sealer.initialize("keyfile", keyfile=keyfile)
    return service


Body = Callable[[KeyService, KeyService, RedisInvalidation, RedisInvalidation], Awaitable[None]]


def run_nodes(store_url: str, redis_url: str, channel: str, tmp_path: Path, body: Body) -> None:
    keyfile = str(tmp_path / "unseal.key")
    write_keyfile(keyfile)

    async def main() -> None:
        a = await node(store_url, keyfile)
        b = await node(store_url, keyfile)
        bus_a = RedisInvalidation(redis_url, a, channel=channel)
        bus_b = RedisInvalidation(redis_url, b, channel=channel)
        await bus_a.start()
        await bus_b.start()
        try:
            await body(a, b, bus_a, bus_b)
        finally:
            await bus_a.stop()
            await bus_b.stop()
            await a.close()
            await b.close()

    asyncio.run(main())


async def eventually(probe: Callable[[], Awaitable[Any]], expected: Any, within: float = 1.0) -> Any:
    """Polls ``probe`` until it returns ``expected`` or ``within`` seconds pass; returns the last result."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await probe()
        if result == expected or asyncio.get_running_loop().time() >= deadline:
            return result
        await asyncio.sleep(0.02)


def test_rotation_on_one_node_is_used_by_the_other(
    store_url: str, redis_url: str, channel: str, tmp_path: Path
) -> None:
    async def body(a: KeyService, b: KeyService, bus_a: RedisInvalidation, bus_b: RedisInvalidation) -> None:
        await a.create_key("acme", "data", "aes256-gcm")
        assert (await b.encrypt("acme", "data", MESSAGE))[1] == 1  # B caches version 1 for an hour
        control = await node(store_url, str(tmp_path / "unseal.key"))  # a node without the bus
        try:
            assert (await control.encrypt("acme", "data", MESSAGE))[1] == 1

            await a.rotate_key("acme", "data")

            async def b_version() -> int:
                return (await b.encrypt("acme", "data", MESSAGE))[1]

            assert await eventually(b_version, 2) == 2
            text, _ = await b.encrypt("acme", "data", MESSAGE)
            assert await a.decrypt("acme", "data", text) == MESSAGE
            # Without the bus the cache would have kept version 1 (so the bus did it, not the TTL).
            assert (await control.encrypt("acme", "data", MESSAGE))[1] == 1
        finally:
            await control.close()

        # A state change travels the same way: B stops encrypting with a suspended key.
        await a.set_state("acme", "data", "suspended")

        async def b_refuses() -> bool:
            try:
                await b.encrypt("acme", "data", MESSAGE)
            except InvalidState:
                return True
            return False

        assert await eventually(b_refuses, True) is True
        assert bus_b.received >= 2 and bus_a.received == 0  # A skips its own messages

        # And back the other way: B's change reaches A.
        await b.create_key("acme", "second", "aes256-gcm")
        assert (await a.encrypt("acme", "second", MESSAGE))[1] == 1
        await b.rotate_key("acme", "second")

        async def a_version() -> int:
            return (await a.encrypt("acme", "second", MESSAGE))[1]

        assert await eventually(a_version, 2) == 2

    run_nodes(store_url, redis_url, channel, tmp_path, body)


def test_messages_name_keys_only(redis_url: str, channel: str, tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'shared.db'}"

    async def body(a: KeyService, b: KeyService, bus_a: RedisInvalidation, bus_b: RedisInvalidation) -> None:
        listener = aioredis.Redis.from_url(redis_url)
        pubsub: Any = listener.pubsub()
        await pubsub.subscribe(channel)
        assert (await pubsub.get_message(timeout=2.0))["type"] == "subscribe"
        try:
            await a.create_key("acme", "k1", "hmac-sha256")
            await a.rotate_key("acme", "k1")
            _, phrase = await a.create_wallet("tenant-2", "w", words=12)
            seen: list[bytes] = []
            while len(seen) < 3:
                message = await pubsub.get_message(timeout=2.0)
                assert message is not None, "an expected invalidation message did not arrive"
                if message["type"] == "message":
                    seen.append(message["data"])
            prefix = bus_a.node_id.encode() + b"\0"
            assert seen == [prefix + b"acme\0k1", prefix + b"acme\0k1", prefix + b"tenant-2\0w"]
            assert all(phrase.split()[0].encode() not in m.split(b"\0")[1:] for m in seen)
        finally:
            await pubsub.aclose()
            await listener.aclose()

    run_nodes(store_url, redis_url, channel, tmp_path, body)


def test_reconnection_drops_the_cache(redis_url: str, channel: str, tmp_path: Path) -> None:
    """Messages sent while B's subscription is down are lost: B forgets its cache on reconnecting."""
    store_url = f"sqlite:///{tmp_path / 'shared.db'}"

    async def body(a: KeyService, b: KeyService, bus_a: RedisInvalidation, bus_b: RedisInvalidation) -> None:
        await a.create_key("acme", "data", "aes256-gcm")
        assert (await b.encrypt("acme", "data", MESSAGE))[1] == 1
        admin = aioredis.Redis.from_url(redis_url)
        try:
            # Stop B from hearing anything, then change the key: the message is lost for B.
            killed = 0
            clients = await admin.client_list(_type="pubsub")
            ids = [c["id"] for c in clients if c.get("name") == f"skms-invalidation-{bus_b.node_id}"]
            assert ids, "B's subscription connection was not found"
            for client_id in ids:
                killed += await admin.client_kill_filter(_id=client_id)
            assert killed >= 1
            await a.rotate_key("acme", "data")

            async def b_version() -> int:
                return (await b.encrypt("acme", "data", MESSAGE))[1]

            assert await eventually(b_version, 2, within=5.0) == 2
            # The bus works again after the reconnection.
            await a.rotate_key("acme", "data")
            assert await eventually(b_version, 3) == 3
        finally:
            await admin.aclose()

    run_nodes(store_url, redis_url, channel, tmp_path, body)


def test_start_stop(redis_url: str, channel: str, tmp_path: Path) -> None:
    keyfile = str(tmp_path / "unseal.key")
    write_keyfile(keyfile)

    async def main() -> None:
        service = await node(f"sqlite:///{tmp_path / 'one.db'}", keyfile)
        try:
            bus = RedisInvalidation(redis_url, service, channel=channel, node_id="node-1")
            assert "node-1" in repr(bus) and redis_url not in repr(bus)
            await bus.start()
            await bus.start()  # idempotent
            assert service.on_change.count(bus._on_change) == 1
            await service.create_key("acme", "k", "aes256-gcm")
            await bus.stop()  # sends what is queued before leaving
            assert bus.published == 1
            assert bus._on_change not in service.on_change
            await service.rotate_key("acme", "k")  # no longer published
            assert bus.published == 1
            await bus.stop()  # idempotent
        finally:
            await service.close()

    asyncio.run(main())
    with pytest.raises(InvalidInput):
        RedisInvalidation("http://localhost:6379", None)  # type: ignore[arg-type]


def test_malformed_and_foreign_messages_are_ignored(redis_url: str, channel: str, tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'shared.db'}"

    async def body(a: KeyService, b: KeyService, bus_a: RedisInvalidation, bus_b: RedisInvalidation) -> None:
        publisher = aioredis.Redis.from_url(redis_url)
        try:
            for junk in (b"no separators", b"\xff\xfe\0x\0y", b"only\0two"):
                await publisher.publish(channel, junk)
            await publisher.publish(channel, b"someone-else\0acme\0k")

            async def received() -> int:
                return bus_b.received

            assert await eventually(received, 1) == 1
            assert bus_a.received == 1
        finally:
            await publisher.aclose()

    run_nodes(store_url, redis_url, channel, tmp_path, body)
