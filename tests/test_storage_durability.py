"""Durability, on SQLite and PostgreSQL: a process creating and rotating keys is killed with
SIGKILL in the middle of its stream of writes; every write it acknowledged is there after a
restart, intact and usable."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from keys_support import sql, unsealed
from skms.storage.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

WORKER = Path(__file__).with_name("keys_crash_worker.py")
TENANT = "crash"
TASKS = 8
#: Acknowledged writes to wait for before the kill (the worker keeps writing meanwhile).
KILL_AFTER = 300


async def _run_and_kill(url: str, keyfile: str) -> list[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), url, keyfile, str(TASKS), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while len(lines) < KILL_AFTER:
                line = (await proc.stdout.readline()).decode()
                assert line, "the worker stopped on its own"
                lines.append(line.strip())
    finally:
        proc.send_signal(signal.SIGKILL)
    # Lines already in the pipe were printed after their write was acknowledged: they count too.
    lines += (await proc.stdout.read()).decode().splitlines()
    assert await proc.wait() == -signal.SIGKILL
    assert lines[0] == "ready"
    return [line for line in lines[1:] if line]


async def test_kill_9_loses_no_acknowledged_write(store_url: str, keyfile: str) -> None:
    acked = await _run_and_kill(store_url, keyfile)
    created = {}
    versions: dict[str, int] = {}
    for line in acked:
        match line.split():
            case ["created", name, kind, proof]:
                created[name] = (kind, proof)
            case ["rotated", name, version]:
                versions[name] = max(versions.get(name, 1), int(version))
            case _:
                pytest.fail(f"unexpected worker line {line!r}")
    assert len(created) > 100 and versions
    svc = await unsealed(store_url, keyfile)
    try:
        if isinstance(svc.store, SqliteStore):
            assert await sql(svc.store, "PRAGMA integrity_check") == [("ok",)]
        for name, (kind, proof) in created.items():
            info = await svc.get_key(TENANT, name)
            assert info.type == kind and info.state == "active"
            assert info.latest_version >= versions.get(name, 1), name
            assert [v.version for v in info.versions] == list(range(1, info.latest_version + 1)), name
            # What version 1 made before the crash still checks, and the newest version works.
            if kind == "aes256-gcm":
                assert await svc.decrypt(TENANT, name, proof) == name.encode()
                text, version = await svc.encrypt(TENANT, name, b"after")
                assert version == info.latest_version and await svc.decrypt(TENANT, name, text) == b"after"
            else:
                assert await svc.verify(TENANT, name, name.encode(), proof)
                sig, version = await svc.sign(TENANT, name, b"after")
                assert version == info.latest_version and await svc.verify(TENANT, name, b"after", sig)
    finally:
        await svc.close()
