"""Tampering with the audit log is detected, naming the first bad record: online (hash, MAC,
checkpoints) on SQLite and PostgreSQL, offline (hash chain and checkpoint signatures, with the
public key only), and through ``python -m skms.audit.verify``."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from keys_support import EPOCH, sql
from skms.audit import AuditEvent, AuditLog, VerifyReport, verify_offline
from skms.audit.chain import genesis
from skms.keys import KeyService
from skms.storage.base import KeyStore
from skms.storage.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

RECORDS = 35
COLUMNS = ("seq", "time", "tenant", "principal", "action", "resource", "result", "event", "hash", "mac", "mac_version")


def other_public_key() -> bytes:
    """A valid Ed25519 public key that signed nothing here."""
    return Ed25519PrivateKey.generate().public_key().public_bytes_raw()


def event(i: int) -> AuditEvent:
    return AuditEvent(
        time=EPOCH + i, request_id=f"req-{i}", principal=f"user{i % 3}", tenant="acme", action="key:Sign",
        resource="key:payments", key_version=1, result="allowed" if i % 5 else "denied", source="10.0.0.7",
        input_hashes=[f"h{i}"],
    )  # fmt: skip


class Chain:
    """A stopped log of 35 records (checkpoints at 10, 20, 30 and 35) and raw access to its rows."""

    def __init__(self, log: AuditLog, store: KeyStore) -> None:
        self.log, self.store, self.id = log, store, log.chain_id

    async def rows(self) -> list[dict[str, Any]]:
        found = await sql(
            self.store, f"SELECT {', '.join(COLUMNS)} FROM audit_records WHERE chain_id = ? ORDER BY seq", self.id
        )
        return [dict(zip(COLUMNS, r, strict=True)) for r in found]

    async def row(self, seq: int) -> dict[str, Any]:
        return next(r for r in await self.rows() if r["seq"] == seq)

    async def update(self, seq: int, **values: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)
        await sql(self.store, f"UPDATE audit_records SET {sets} WHERE chain_id = ? AND seq = ?", *values.values(),
                  self.id, seq)  # fmt: skip

    async def insert(self, row: dict[str, Any]) -> None:
        await sql(self.store, f"INSERT INTO audit_records (chain_id, {', '.join(COLUMNS)}) VALUES "
                  f"(?, {', '.join('?' * len(COLUMNS))})", self.id, *(row[c] for c in COLUMNS))  # fmt: skip

    async def delete(self, where: str, *args: Any) -> None:
        await sql(self.store, f"DELETE FROM audit_records WHERE chain_id = ? AND {where}", self.id, *args)

    async def shift(self, from_seq: int, by: int) -> None:
        """Renumbers records from ``from_seq`` on by ``by`` (two steps: the primary key holds throughout)."""
        await sql(self.store, "UPDATE audit_records SET seq = -seq WHERE chain_id = ? AND seq >= ?", self.id, from_seq)
        await sql(self.store, "UPDATE audit_records SET seq = ? - seq WHERE chain_id = ? AND seq < 0", by, self.id)

    async def rehash(self) -> None:
        """Recomputes every public hash, as someone without the MAC key would after a change."""
        prev = genesis(self.id)
        for row in await self.rows():
            prev = hashlib.sha256(prev + row["event"].encode()).digest()
            await self.update(row["seq"], hash=prev)


@pytest.fixture
async def chain(svc: KeyService) -> AsyncIterator[Chain]:
    log = AuditLog(svc, checkpoint_every=10, checkpoint_interval=3600)
    await log.start()
    for i in range(1, RECORDS + 1):
        await log.append(event(i))
    await log.stop()
    assert [c.seq for c in await svc.store.audit_checkpoints(log.chain_id)] == [10, 20, 30, 35]
    yield Chain(log, svc.store)


async def offline(c: Chain) -> VerifyReport:
    return await verify_offline(c.store.url, await c.log.checkpoint_public_key())


# -- tampering kinds -----------------------------------------------------------------------------


async def change_event(c: Chain) -> None:
    row = await c.row(7)
    assert '"result":"allowed"' in row["event"]
    await c.update(7, event=row["event"].replace('"result":"allowed"', '"result":"denied"'), result="denied")


async def change_column(c: Chain) -> None:
    await c.update(7, principal="someone-else")


async def change_and_rehash(c: Chain) -> None:
    await change_event(c)
    await c.rehash()


async def delete_one(c: Chain) -> None:
    await c.delete("seq = ?", 7)


async def delete_and_renumber(c: Chain) -> None:
    await c.delete("seq = ?", 7)
    await c.shift(8, -1)


async def insert_duplicate(c: Chain) -> None:
    copy = await c.row(6)
    await c.shift(7, 1)
    await c.insert({**copy, "seq": 7})


async def append_forged(c: Chain) -> None:
    last = await c.row(RECORDS)
    text = last["event"].replace('"result":"allowed"', '"result":"denied"').replace("req-35", "req-36")
    forged = {**last, "seq": RECORDS + 1, "event": text, "result": "denied", "mac": os.urandom(32),
              "hash": hashlib.sha256(last["hash"] + text.encode()).digest()}  # fmt: skip
    await c.insert(forged)


async def reorder(c: Chain) -> None:
    a, b = await c.row(7), await c.row(12)
    await c.update(7, **{k: v for k, v in b.items() if k != "seq"})
    await c.update(12, **{k: v for k, v in a.items() if k != "seq"})


async def truncate_tail(c: Chain) -> None:
    await c.delete("seq > ?", 25)


async def truncate_all(c: Chain) -> None:
    await c.delete("seq > ?", 0)


async def bad_checkpoint_signature(c: Chain) -> None:
    [(signature,)] = await sql(c.store, "SELECT signature FROM audit_checkpoints WHERE chain_id = ? AND seq = 20", c.id)
    flipped = bytes([signature[0] ^ 1]) + bytes(signature[1:])
    await sql(c.store, "UPDATE audit_checkpoints SET signature = ? WHERE chain_id = ? AND seq = 20", flipped, c.id)


async def forged_checkpoint(c: Chain) -> None:
    # A checkpoint moved back to match a truncated chain: its signature no longer holds.
    await truncate_tail(c)
    row = await c.row(25)
    await sql(c.store, "DELETE FROM audit_checkpoints WHERE chain_id = ? AND seq > 20", c.id)
    copy = ("INSERT INTO audit_checkpoints SELECT chain_id, 25, time, ?, ?, key_version, signature, prev_seq "
            "FROM audit_checkpoints WHERE chain_id = ? AND seq = 20")  # fmt: skip
    await sql(c.store, copy, row["hash"], row["mac"], c.id)


Tamper = Callable[[Chain], Awaitable[None]]
#: tampering -> (online kind, seq), (offline kind, seq) or None when offline cannot see it.
CASES: dict[str, tuple[Tamper, tuple[str, int], tuple[str, int] | None]] = {
    "change-event": (change_event, ("hash", 7), ("hash", 7)),
    "change-column": (change_column, ("field", 7), ("field", 7)),
    "change-and-rehash": (change_and_rehash, ("mac", 7), ("checkpoint", 10)),
    "delete": (delete_one, ("deleted", 7), ("deleted", 7)),
    "delete-and-renumber": (delete_and_renumber, ("hash", 7), ("hash", 7)),
    "insert-duplicate": (insert_duplicate, ("hash", 7), ("hash", 7)),
    "append-forged": (append_forged, ("mac", RECORDS + 1), None),
    "reorder": (reorder, ("hash", 7), ("hash", 7)),
    "truncate-tail": (truncate_tail, ("truncated", 26), ("truncated", 26)),
    "truncate-all": (truncate_all, ("truncated", 1), ("truncated", 1)),
    "checkpoint-signature": (bad_checkpoint_signature, ("checkpoint", 20), ("checkpoint", 20)),
    "forged-checkpoint": (forged_checkpoint, ("checkpoint", 25), ("checkpoint", 25)),
}


async def test_intact_log_verifies(chain: Chain) -> None:
    for report in (await chain.log.verify(), await offline(chain)):
        assert report.ok and report.first_problem is None
        assert report.records_checked == RECORDS
        [c] = report.chains
        assert (c.chain_id, c.records, c.checkpoints, c.last_checkpoint_seq, c.unanchored) == (
            chain.id,
            RECORDS,
            4,
            RECORDS,
            0,
        )
    assert (await chain.log.verify()).mac_checked and not (await offline(chain)).mac_checked


@pytest.mark.parametrize("case", list(CASES))
async def test_tampering_is_detected(chain: Chain, case: str) -> None:
    tamper, online_expected, offline_expected = CASES[case]
    await tamper(chain)
    report = await chain.log.verify()
    assert not report.ok
    p = report.first_problem
    assert p is not None and (p.chain_id, p.kind, p.seq) == (chain.id, *online_expected), p
    assert str(p.seq) in p.detail
    assert report.chains[0].problem == p and not report.chains[0].ok
    off = await offline(chain)
    if offline_expected is None:
        # Past the last signed checkpoint only the MAC (online) can tell a forged record.
        assert off.ok and off.chains[0].unanchored == 1
    else:
        q = off.first_problem
        assert q is not None and (q.chain_id, q.kind, q.seq) == (chain.id, *offline_expected), q


@pytest.mark.parametrize("backend", ["sqlite"])  # PostgreSQL refuses a non-integer seq
async def test_forged_seq_between_records(chain: Chain) -> None:
    copy = await chain.row(6)
    await chain.insert({**copy, "seq": 6.5})
    for report in (await chain.log.verify(), await offline(chain)):
        p = report.first_problem
        assert p is not None and (p.kind, p.seq) == ("inserted", 7) and "6.5" in p.detail


async def test_first_problem_is_the_first_bad_record(chain: Chain) -> None:
    await reorder(chain)  # bad from 7 on
    await chain.update(3, tenant="other")  # and 3 before it
    p = (await chain.log.verify()).first_problem
    assert p is not None and (p.kind, p.seq) == ("field", 3)


async def test_other_chains_stay_ok(chain: Chain, svc: KeyService) -> None:
    other = AuditLog(svc)
    await other.start()
    await other.append(event(1))
    await other.stop()
    await delete_one(chain)
    report = await other.verify()
    by_id = {c.chain_id: c for c in report.chains}
    assert not by_id[chain.id].ok and by_id[other.chain_id].ok
    assert (await other.verify(other.chain_id)).ok
    assert not (await other.verify(chain.id)).ok


async def test_wrong_public_key_fails_offline(chain: Chain) -> None:
    report = await verify_offline(chain.store.url, other_public_key())
    p = report.first_problem
    assert p is not None and (p.kind, p.seq) == ("checkpoint", 10)
    # Several keys (a rotated checkpoint key): any one that verifies will do.
    assert (await verify_offline(chain.store.url, [other_public_key(), await chain.log.checkpoint_public_key()])).ok


async def test_online_verify_while_sealed_skips_macs(chain: Chain, svc: KeyService) -> None:
    svc.sealer.seal()
    report = await chain.log.verify()
    assert report.ok and not report.mac_checked
    await change_and_rehash(chain)
    p = (await chain.log.verify()).first_problem
    assert p is not None and (p.kind, p.seq) == ("checkpoint", 10)


# -- python -m skms.audit.verify -------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "skms.audit.verify", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_cli_verifies_a_sqlite_file(chain: Chain, tmp_path: Path) -> None:
    c = chain
    public = await c.log.checkpoint_public_key()
    raw_file, hex_file, pem_file = tmp_path / "k.raw", tmp_path / "k.hex", tmp_path / "k.pem"
    raw_file.write_bytes(public)
    hex_file.write_text(public.hex() + "\n")
    pem_file.write_bytes(
        Ed25519PublicKey.from_public_bytes(public).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    for key in (public.hex(), str(raw_file), str(hex_file), str(pem_file)):
        done = run_cli("--database", c.store.url, "--public-key", key)
        assert done.returncode == 0, done.stderr
        assert "OK: the audit log is intact" in done.stdout and f"{RECORDS} records checked" in done.stdout
    assert isinstance(c.store, SqliteStore)
    done = run_cli("--database", c.store.path, "--public-key", public.hex(), "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["ok"] is True

    await reorder(c)
    done = run_cli("--database", c.store.url, "--public-key", public.hex())
    assert done.returncode == 1
    assert f"FAILED: chain {c.id}, record 7: hash" in done.stdout
    report = json.loads(run_cli("--database", c.store.url, "--public-key", public.hex(), "--json").stdout)
    assert report["first_problem"]["seq"] == 7 and report["first_problem"]["kind"] == "hash"


def test_cli_usage_errors(tmp_path: Path) -> None:
    done = run_cli("--database", str(tmp_path / "missing.db"), "--public-key", other_public_key().hex())
    assert done.returncode == 2 and "no SQLite database" in done.stderr
    done = run_cli("--database", str(tmp_path / "missing.db"), "--public-key", "not-a-key")
    assert done.returncode == 2 and "neither 64 hex digits nor a readable file" in done.stderr
