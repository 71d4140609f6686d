"""Sustained audit records per second (concurrent appends, group commit), and the Python cost per append.

Usage::

    python benches/audit_throughput.py                       # SQLite in a temporary directory
    python benches/audit_throughput.py --postgres postgresql://postgres:postgres@127.0.0.1:5432/skms

With ``--postgres`` a scratch database is created on that server and dropped afterwards.
It prints figures; it asserts nothing (benchmarks inform, they do not gate).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from skms.audit import AuditEvent, AuditLog
from skms.keys import KeyService
from skms.keys.seal import write_keyfile
from skms.storage.base import AuditRow


def _event(i: int) -> AuditEvent:
    return AuditEvent(
        request_id=f"req-{i}", principal="bench", tenant="acme", action="key:Sign", resource="key:payments",
        key_version=1, result="allowed", source="10.0.0.7", input_hashes=["x" * 43],
    )  # fmt: skip


async def _service(url: str, keyfile: str) -> KeyService:
    service = await KeyService.open(url)
    await service.sealer.initialize("keyfile", keyfile=keyfile)
    return service


async def throughput(service: KeyService, clients: int, seconds: float) -> tuple[float, int, int]:
    """(records per second, records, transactions) with ``clients`` tasks appending in a loop."""
    log = AuditLog(service)
    await log.start()
    await asyncio.gather(*(log.append(_event(i)) for i in range(clients)))  # warm up
    done = log.records_written
    transactions = log.transactions
    stop = time.perf_counter() + seconds

    async def client(c: int) -> None:
        i = 0
        while time.perf_counter() < stop:
            await log.append(_event(i))
            i += 1

    start = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = time.perf_counter() - start
    records = log.records_written - done
    await log.stop()
    report = await log.verify(log.chain_id)
    assert report.ok, report.first_problem
    return records / elapsed, records, log.transactions - transactions


async def overhead(service: KeyService, n: int = 50_000) -> float:
    """Microseconds of Python per append with a store that does nothing (checked, encoded, chained, released),
    net of the task and future a caller has anyway."""
    log = AuditLog(service, checkpoint_every=10**9)
    await log.start()

    async def nothing(rows: Sequence[AuditRow]) -> None:
        return None

    real = service.store.append_audit
    service.store.append_audit = nothing  # type: ignore[method-assign]
    events = [_event(i) for i in range(n)]
    loop = asyncio.get_running_loop()

    async def bare(e: AuditEvent) -> None:  # the same harness around a future released at once
        future: asyncio.Future[None] = loop.create_future()
        loop.call_soon(future.set_result, None)
        await future

    start = time.perf_counter()
    for chunk in range(0, n, 1000):
        await asyncio.gather(*(bare(e) for e in events[chunk : chunk + 1000]))
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    for chunk in range(0, n, 1000):
        await asyncio.gather(*(log.append(e) for e in events[chunk : chunk + 1000]))
    elapsed = time.perf_counter() - start - baseline
    service.store.append_audit = real  # type: ignore[method-assign]
    await log.stop()
    return elapsed / n * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="a PostgreSQL server DSN (a scratch database is made there)")
    parser.add_argument("--clients", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        keyfile = os.path.join(tmp, "unseal.key")
        write_keyfile(keyfile)
        admin = None
        database = f"skms_bench_{secrets.token_hex(4)}"
        if args.postgres:
            import asyncpg

            parts = urlsplit(args.postgres)
            admin = await asyncpg.connect(urlunsplit((parts.scheme, parts.netloc, "/postgres", "", "")))
            await admin.execute(f'CREATE DATABASE "{database}"')
            url = urlunsplit((parts.scheme, parts.netloc, f"/{database}", "", ""))
        else:
            url = f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        try:
            service = await _service(url, keyfile)
            try:
                rate, records, transactions = await throughput(service, args.clients, args.seconds)
                per_append = await overhead(service)
            finally:
                await service.close()
        finally:
            if admin is not None:
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                await admin.close()
    backend = "postgresql" if args.postgres else "sqlite"
    print(
        f"{backend}: {rate:,.0f} audit records/s sustained ({records:,} records, {args.clients} concurrent clients, "
        f"{args.seconds:g} s, {transactions:,} transactions, {records / max(transactions, 1):.0f} records each); "
        f"audit Python per append {per_append:.1f} µs (beyond the caller's own task)"
    )


if __name__ == "__main__":
    asyncio.run(main())
