"""Concurrency, on SQLite and PostgreSQL: parallel rotations get distinct consecutive versions,
parallel creates of one name give one key and Conflict for the rest, automatic rotation on
several nodes at once happens once. "Nodes" are KeyService instances with their own
connections to the same store (for SQLite: two connections to one file)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from keys_support import FakeClock, OpenService, sql
from skms.errors import Conflict
from skms.keys import KeyService

pytestmark = pytest.mark.anyio

T = "acme"
N = 20


async def _nodes(svc: KeyService, open_service: OpenService, count: int, **options: Any) -> list[KeyService]:
    return [svc] + [await open_service(**options) for _ in range(count - 1)]


async def _check_versions(svc: KeyService, name: str, latest: int) -> None:
    svc.invalidate(T, name)  # another node may have written
    info = await svc.get_key(T, name)
    assert info.latest_version == latest
    assert [v.version for v in info.versions] == list(range(1, latest + 1))
    # Every version has its own, working material.
    texts = {}
    for version in range(1, latest + 1):
        _, _, material = await svc.raw_material(T, name, version)
        texts[material.expose_secret()] = version
    assert len(texts) == latest


@pytest.mark.parametrize("nodes", [1, 2])
async def test_parallel_rotations(svc: KeyService, open_service: OpenService, nodes: int) -> None:
    services = await _nodes(svc, open_service, nodes)
    await svc.create_key(T, "k", "aes256-gcm")
    results = await asyncio.gather(*(services[i % nodes].rotate_key(T, "k") for i in range(N)))
    assert sorted(r.latest_version for r in results) == list(range(2, N + 2))
    await _check_versions(svc, "k", N + 1)
    svc.purge()
    assert (await svc.encrypt(T, "k", b"x"))[1] == N + 1


@pytest.mark.parametrize("nodes", [1, 2])
async def test_parallel_creates_of_one_name(svc: KeyService, open_service: OpenService, nodes: int) -> None:
    services = await _nodes(svc, open_service, nodes)
    results = await asyncio.gather(
        *(services[i % nodes].create_key(T, "same", "ecdsa-secp256k1") for i in range(N)), return_exceptions=True
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(created) == 1
    assert len(errors) == N - 1 and all(isinstance(e, Conflict) for e in errors)
    rows = await sql(svc.store, "SELECT id FROM keys WHERE tenant = ? AND name = ?", T, "same")
    assert rows == [(created[0].id,)]
    assert len(await sql(svc.store, "SELECT version FROM key_versions WHERE key_id = ?", created[0].id)) == 1
    for service in services:
        service.purge()
        sig, _ = await service.sign(T, "same", b"m")
        assert await svc.verify(T, "same", b"m", sig)


async def test_parallel_creates_of_many_names(svc: KeyService, open_service: OpenService) -> None:
    other = await open_service()
    names = [f"k{i}" for i in range(2 * N)]
    await asyncio.gather(*((svc if i % 2 else other).create_key(T, n, "aes256-gcm") for i, n in enumerate(names)))
    page, _ = await svc.list_keys(T, limit=1000)
    assert sorted(k.name for k in page) == sorted(names)


async def test_rotations_and_updates_lose_nothing(svc: KeyService, open_service: OpenService) -> None:
    other = await open_service()
    await svc.create_key(T, "k", "aes256-gcm")
    rotations = [(svc if i % 2 else other).rotate_key(T, "k") for i in range(10)]
    updates = [(other if i % 2 else svc).update_key(T, "k", labels={"n": str(i)}) for i in range(10)]
    results = await asyncio.gather(*rotations, *updates, return_exceptions=True)
    assert all(not isinstance(r, BaseException) for r in results[:10]), results[:10]
    applied = [r for r in results[10:] if not isinstance(r, BaseException)]
    assert all(isinstance(r, Conflict) for r in results[10:] if isinstance(r, BaseException))
    # A metadata update never rolls back a rotation that got in first.
    await _check_versions(svc, "k", 11)
    labels = (await svc.get_key(T, "k")).labels
    assert labels in [a.labels for a in applied] or (not applied and labels == {})


@pytest.mark.parametrize("nodes", [2, 3])
async def test_run_due_on_several_nodes_rotates_once(
    svc: KeyService, open_service: OpenService, clock: FakeClock, nodes: int
) -> None:
    services = [svc] + [await open_service(clock=clock) for _ in range(nodes - 1)]
    for i in range(5):
        await svc.create_key(T, f"r{i}", "aes256-gcm", policy={"rotation_period": 3600})
    for i in range(3):
        await svc.create_key(T, f"d{i}", "aes256-gcm")
        await svc.schedule_deletion(T, f"d{i}", window=1800)
    for period in range(1, 4):
        clock.advance(3600)
        done = await asyncio.gather(*(s.run_due() for s in services))
        assert sum(d["rotated"] for d in done) == 5
        assert sum(d["destroyed"] for d in done) == (3 if period == 1 else 0)
        for i in range(5):
            await _check_versions(svc, f"r{i}", period + 1)
    for i in range(3):
        assert (await svc.get_key(T, f"d{i}")).state == "destroyed"
