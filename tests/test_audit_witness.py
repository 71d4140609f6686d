"""The audit witness (issue 13, defect 7): deletions that hash chains and checkpoints alone cannot
show (a tail cut together with its checkpoints, a whole chain, the newest checkpoint) are found
against the witness's copy, online and offline, on SQLite and PostgreSQL; a checkpoint deleted
alone is found even without a witness (each checkpoint signs the seq of the one before); the
witness's failures are counted and, fail-closed, stop audited operations; refusals under flood
are bounded."""

from __future__ import annotations

import asyncio
import http.server
import json
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import pytest

from keys_support import EPOCH, sql
from skms.audit import AuditEvent, AuditLog, VerifyReport, verify_offline
from skms.audit.refusals import RefusalAudit
from skms.audit.witness import FileWitness, encode_checkpoint, open_witness, parse_witness, read_witness
from skms.context import RequestContext
from skms.errors import AuditUnavailable, InvalidInput
from skms.keys import KeyService
from skms.storage.base import AuditFilter

pytestmark = pytest.mark.anyio

RECORDS = 35  # checkpoints at 10, 20, 30 and 35


def event(i: int) -> AuditEvent:
    return AuditEvent(
        time=EPOCH + i, request_id=f"req-{i}", principal="user", tenant="acme", action="key:Sign",
        resource="key:payments", key_version=1, result="allowed", source="10.0.0.7",
    )  # fmt: skip


class Witnessed:
    def __init__(self, log: AuditLog, svc: KeyService, path: Path) -> None:
        self.log, self.svc, self.path, self.id = log, svc, path, log.chain_id

    async def delete_records(self, where: str, *args: object) -> None:
        await sql(self.svc.store, f"DELETE FROM audit_records WHERE chain_id = ? AND {where}", self.id, *args)

    async def delete_checkpoints(self, where: str, *args: object) -> None:
        await sql(self.svc.store, f"DELETE FROM audit_checkpoints WHERE chain_id = ? AND {where}", self.id, *args)

    def witness(self) -> list:  # type: ignore[type-arg]
        return read_witness(f"file://{self.path}")

    async def offline(self, witness: bool = True) -> VerifyReport:
        public = await self.log.checkpoint_public_key()
        return await verify_offline(self.svc.store.url, public, witness=self.witness() if witness else None)

    async def reports(self) -> list[VerifyReport]:
        """Online with the configured witness, online with the witness given, offline with it."""
        return [await self.log.verify(), await self.log.verify(witness=self.witness()), await self.offline()]

    async def without_witness(self) -> list[VerifyReport]:
        plain = AuditLog(self.svc)  # no witness configured
        return [await plain.verify(), await self.offline(witness=False)]


@pytest.fixture
async def witnessed(svc: KeyService, tmp_path: Path) -> AsyncIterator[Witnessed]:
    path = tmp_path / "other-volume" / "witness.jsonl"
    path.parent.mkdir()
    log = AuditLog(svc, checkpoint_every=10, checkpoint_interval=3600, witness=open_witness(f"file://{path}"))
    await log.start()
    for i in range(1, RECORDS + 1):
        await log.append(event(i))
    await log.stop()
    assert [c.seq for c in await svc.store.audit_checkpoints(log.chain_id)] == [10, 20, 30, 35]
    assert [c.prev_seq for c in await svc.store.audit_checkpoints(log.chain_id)] == [0, 10, 20, 30]
    assert [(c.chain_id, c.seq) for c in read_witness(str(path))] == [(log.chain_id, s) for s in (10, 20, 30, 35)]
    assert path.stat().st_mode & 0o777 == 0o600
    assert log.witness_sent == 4 and log.witness_failures == 0
    yield Witnessed(log, svc, path)


def problem_of(report: VerifyReport, chain_id: str) -> tuple[str, int, str]:
    [c] = [c for c in report.chains if c.chain_id == chain_id]
    assert c.problem is not None and not c.ok and not report.ok, report
    return c.problem.kind, c.problem.seq, c.problem.detail


async def test_intact_log_verifies_against_its_witness(witnessed: Witnessed) -> None:
    for report in await witnessed.reports():
        assert report.ok and report.witness_checked and report.witness_checkpoints == 4, report
        [c] = report.chains
        assert c.witnessed_seq == RECORDS and c.unanchored == 0


async def test_tail_deleted_with_its_checkpoints(witnessed: Witnessed) -> None:
    await witnessed.delete_records("seq > ?", 25)
    await witnessed.delete_checkpoints("seq > ?", 20)
    # The hole this closes: without a witness the cut log verifies.
    for report in await witnessed.without_witness():
        assert report.ok and report.chains[0].records == 25
    for report in await witnessed.reports():
        kind, seq, detail = problem_of(report, witnessed.id)
        assert (kind, seq) == ("truncated", 26)
        assert "records 26 to 35 were removed" in detail and "checkpoints at record 30 and 35" in detail


async def test_whole_chain_deleted(witnessed: Witnessed) -> None:
    await witnessed.delete_records("seq > ?", 0)
    await witnessed.delete_checkpoints("seq > ?", 0)
    for report in await witnessed.without_witness():
        assert report.ok and all(c.chain_id != witnessed.id for c in report.chains)
    for report in await witnessed.reports():
        kind, seq, detail = problem_of(report, witnessed.id)
        assert (kind, seq) == ("chain-missing", 1)
        assert "records 1 to 35 were removed" in detail and "10, 20, 30 and 35" in detail


async def test_checkpoint_deleted_alone_without_a_witness(witnessed: Witnessed) -> None:
    await witnessed.delete_checkpoints("seq = ?", 20)
    for report in [*await witnessed.without_witness(), *await witnessed.reports()]:
        kind, seq, detail = problem_of(report, witnessed.id)
        assert (kind, seq) == ("checkpoint-missing", 20)
        assert "checkpoint at record 20 is missing" in detail and "record 30" in detail


async def test_newest_checkpoint_deleted_alone(witnessed: Witnessed) -> None:
    await witnessed.delete_checkpoints("seq = ?", RECORDS)
    # Nothing after it names it: without a witness its records only show as unanchored.
    for report in await witnessed.without_witness():
        assert report.ok and report.chains[0].unanchored == 5
    for report in await witnessed.reports():
        kind, seq, detail = problem_of(report, witnessed.id)
        assert (kind, seq) == ("checkpoint-missing", RECORDS)
        assert "checkpoint at record 35 is missing from the database; the witness holds it" in detail


async def test_forged_witness_line_is_reported(witnessed: Witnessed) -> None:
    lines = witnessed.path.read_text().splitlines()
    body = json.loads(lines[-1])
    body["seq"] = 99  # a witness copy moved on: its signature no longer holds
    witnessed.path.write_text("\n".join([*lines, json.dumps(body)]) + "\n")
    for report in await witnessed.reports():
        kind, seq, detail = problem_of(report, witnessed.id)
        assert (kind, seq) == ("witness", 99) and "forged or damaged" in detail


async def test_damaged_witness_file_is_refused(witnessed: Witnessed) -> None:
    with witnessed.path.open("a") as f:
        f.write('{"type": "skms-audit-checkpoint", "chain_id": \n')
    with pytest.raises(InvalidInput, match="line 5: a damaged checkpoint"):
        witnessed.witness()


async def test_witness_lines_behind_a_syslog_prefix(witnessed: Witnessed) -> None:
    text = "".join(
        f"Dec  6 00:40:0{i} host skms-audit: " + encode_checkpoint(cp).decode()
        for i, cp in enumerate(witnessed.witness())
    )
    text += "Dec  6 00:41:00 host sshd[1]: something else\n"
    assert parse_witness(text) == witnessed.witness()


def test_witness_settings_are_checked(tmp_path: Path) -> None:
    assert isinstance(open_witness(str(tmp_path / "w.jsonl")), FileWitness)
    for bad, message in [
        ("relative/path", "absolute path"),
        ("ftp://host/x", "file:///path, http"),
        (f"file://{tmp_path}/missing-dir/w.jsonl", "cannot open the audit witness"),
        ("https:///no-host", "names no host"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            open_witness(bad)


def break_witness(path: Path) -> None:
    """The witness refuses writes (a directory where its file was; file modes do not stop root)."""
    path.unlink(missing_ok=True)
    path.mkdir()


async def test_witness_failures_are_counted_and_retried(svc: KeyService, tmp_path: Path) -> None:
    path = tmp_path / "w" / "witness.jsonl"
    path.parent.mkdir()
    seen: list[bool] = []
    log = AuditLog(
        svc, checkpoint_every=2, checkpoint_interval=0.05, witness=open_witness(str(path)), on_witness=seen.append
    )
    await log.start()
    break_witness(path)
    try:
        for i in range(1, 5):
            await log.append(event(i))  # fail-open (the default): appends go on
        await asyncio.sleep(0.2)
        assert log.witness_failures >= 1 and log.witness_behind and False in seen
    finally:
        path.rmdir()
    for _ in range(100):  # the checkpoint timer retries
        await asyncio.sleep(0.05)
        if not log.witness_behind:
            break
    assert not log.witness_behind
    await log.stop()
    witnessed = {cp.seq for cp in read_witness(str(path))}
    assert {cp.seq for cp in await svc.store.audit_checkpoints(log.chain_id)} <= witnessed
    assert (await log.verify()).ok


async def test_witness_fail_closed_stops_appends(svc: KeyService, tmp_path: Path) -> None:
    path = tmp_path / "w" / "witness.jsonl"
    path.parent.mkdir()
    log = AuditLog(
        svc, checkpoint_every=1, checkpoint_interval=0.05, witness=open_witness(str(path)), witness_fail_closed=True
    )
    await log.start()
    break_witness(path)
    try:
        await log.append(event(1))  # stored; its checkpoint cannot be witnessed
        for _ in range(100):
            await asyncio.sleep(0.01)
            if log.witness_behind:
                break
        with pytest.raises(AuditUnavailable, match="witness"):
            await log.append(event(2))
    finally:
        path.rmdir()
    for _ in range(100):
        await asyncio.sleep(0.05)
        if not log.witness_behind:
            break
    await log.append(event(3))  # the witness took the backlog: appends work again
    await log.stop()
    assert (await log.verify(witness=read_witness(str(path)))).ok


async def test_refusals_under_flood_are_bounded(svc: KeyService) -> None:
    log = AuditLog(svc)
    await log.start()
    refusals = RefusalAudit(log, per_second=10, interval=1.0)
    context = RequestContext("req", "192.0.2.7")
    for _ in range(5000):
        await refusals.refused(
            principal="anonymous", tenant="default", action="auth:Authenticate", resource="-", result="denied",
            detail="unknown-key", context=context, inputs=["skms_0000000000000000_secret"],
        )  # fmt: skip
    await refusals.flush()
    await log.stop()
    records = await svc.store.read_audit(AuditFilter(action="auth:Authenticate"), 10_000, None)
    events = [json.loads(r.event) for r in records]
    individual = [e for e in events if "count" not in e]
    summaries = [e for e in events if "count" in e]
    assert len(individual) <= 20 and 1 <= len(summaries) <= 3  # 5,000 refusals in one or two intervals
    assert len(individual) + sum(e["count"] for e in summaries) == 5000  # every refusal is accounted for
    assert all(e["detail"] == "unknown-key" and e["source"] == "192.0.2.7" for e in events)
    assert all(e["input_hashes"] for e in individual) and "secret" not in json.dumps(events)
    assert (refusals.seen, refusals.individual + refusals.suppressed) == (5000, 5000)
    assert (await log.verify()).ok


async def test_refusals_from_many_sources_are_bounded(svc: KeyService) -> None:
    log = AuditLog(svc)
    await log.start()
    refusals = RefusalAudit(log, per_second=10, global_per_second=50, max_keys=20)
    for i in range(2000):
        await refusals.refused(
            principal="anonymous", tenant="default", action="auth:Authenticate", resource="-", result="denied",
            detail="malformed", context=RequestContext(f"r{i}", f"10.0.{i // 250}.{i % 250}"),
        )  # fmt: skip
    await refusals.flush()
    await log.stop()
    events = [json.loads(r.event) for r in await svc.store.read_audit(AuditFilter(), 10_000, None)]
    assert len(events) <= 50 + 21
    assert sum(e.get("count", 1) for e in events) == 2000


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_cli_names_what_is_missing(witnessed: Witnessed) -> None:
    await witnessed.delete_records("seq > ?", 25)
    await witnessed.delete_checkpoints("seq > ?", 20)
    public = (await witnessed.log.checkpoint_public_key()).hex()
    base = [sys.executable, "-m", "skms.audit.verify", "--database", witnessed.svc.store.url, "--public-key", public]
    done = subprocess.run([*base], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "no witness" in done.stdout
    done = subprocess.run([*base, "--witness", str(witnessed.path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"FAILED: chain {witnessed.id}, record 26: truncated" in done.stdout
    assert "records 26 to 35 were removed" in done.stdout and "compared with 4 witness checkpoints" in done.stdout


async def test_stripping_the_signed_predecessor_is_detected(witnessed: Witnessed) -> None:
    # Hiding a deleted checkpoint by clearing the next one's prev_seq breaks that one's signature.
    await witnessed.delete_checkpoints("seq = ?", 20)
    await sql(witnessed.svc.store, "UPDATE audit_checkpoints SET prev_seq = NULL WHERE chain_id = ? AND seq = 30",
              witnessed.id)  # fmt: skip
    for report in await witnessed.without_witness():
        kind, seq, detail = problem_of(report, witnessed.id)
        assert (kind, seq) == ("checkpoint", 30) and "bad signature" in detail


class _Collector(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if self.status == 200:
            type(self).received.append(body)
        self.send_response(self.status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


async def test_http_witness(svc: KeyService) -> None:
    _Collector.received = []
    _Collector.status = 200
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/skms/witness?user=ignored"
        log = AuditLog(svc, checkpoint_every=5, checkpoint_interval=3600, witness=open_witness(url))
        await log.start()
        for i in range(1, 13):
            await log.append(event(i))
        for _ in range(200):  # checkpoints go to the witness off the writer's path
            if log.witness_sent == 2:
                break
            await asyncio.sleep(0.01)
        _Collector.status = 503  # the collector refuses for a while: counted, retried at the end
        await log.append(event(13))
        await log.stop()
        assert log.witness_failures >= 1
        lines = parse_witness(b"".join(_Collector.received).decode())
        assert [cp.seq for cp in lines] == [5, 10]
        _Collector.status = 200
        assert (await log.verify(witness=lines)).ok
        await sql(svc.store, "DELETE FROM audit_records WHERE chain_id = ? AND seq > 7", log.chain_id)
        await sql(svc.store, "DELETE FROM audit_checkpoints WHERE chain_id = ? AND seq > 5", log.chain_id)
        report = await log.verify(witness=lines)
        assert problem_of(report, log.chain_id)[:2] == ("truncated", 8)
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_syslog_witness(svc: KeyService, tmp_path: Path) -> None:
    path = tmp_path / "log.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.settimeout(5)
    try:
        log = AuditLog(svc, checkpoint_every=3, checkpoint_interval=3600, witness=open_witness(f"syslog://{path}"))
        await log.start()
        for i in range(1, 7):
            await log.append(event(i))
        await log.stop()
        messages = [receiver.recv(4096) for _ in range(2)]
    finally:
        receiver.close()
    assert all(m.startswith(b"<37>skms-audit: {") for m in messages)
    lines = parse_witness("\n".join(m.decode() for m in messages))
    assert [cp.seq for cp in lines] == [3, 6]
    assert (await log.verify(witness=lines)).ok


async def test_offline_reads_a_database_from_before_migration_7(tmp_path: Path) -> None:
    """Checkpoints written before they signed their predecessor (v1, no prev_seq column) still verify."""
    import hashlib
    import sqlite3

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from skms.audit import canonical
    from skms.audit.chain import checkpoint_message, genesis
    from skms.storage import migrations

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for statement in migrations.statements(5, "BLOB", "REAL"):  # the audit tables as migration 5 made them
        conn.execute(statement)
    signer, chain_id = Ed25519PrivateKey.generate(), "old-host-1-abcd"
    prev = genesis(chain_id)
    for seq in range(1, 4):
        e = event(seq)
        data = canonical(e)
        prev = hashlib.sha256(prev + data).digest()
        conn.execute(
            "INSERT INTO audit_records VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (chain_id, seq, e.time, e.tenant, e.principal, e.action, e.resource, e.result, data.decode(), prev,
             b"\0" * 32, 1),
        )  # fmt: skip
    signature = signer.sign(checkpoint_message(chain_id, 3, prev, b"\0" * 32, 5.0))
    conn.execute(
        "INSERT INTO audit_checkpoints VALUES (?,?,?,?,?,?,?)", (chain_id, 3, 5.0, prev, b"\0" * 32, 1, signature)
    )
    conn.commit()
    conn.close()
    report = await verify_offline(str(path), signer.public_key().public_bytes_raw())
    assert report.ok and report.chains[0].last_checkpoint_seq == 3, report
