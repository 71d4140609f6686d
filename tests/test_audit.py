"""The audit log on SQLite and PostgreSQL: append, query, filters, pagination, export, group commit,
checkpoints, key rotation, several writers, fail closed, and no plaintext in records."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

from keys_support import EPOCH, OpenService, sql
from skms.audit import SYSTEM_TENANT, AuditEvent, AuditLog, canonical
from skms.audit.log import CHECKPOINT_KEY, MAC_KEY
from skms.context import RequestContext
from skms.errors import AuditUnavailable, InvalidInput, StorageError
from skms.keys import KeyService
from skms.storage.base import AuditFilter, AuditRow
from skms.storage.sqlite import SqliteStore

pytestmark = pytest.mark.anyio


def event(i: int, **fields: Any) -> AuditEvent:
    values: dict[str, Any] = {
        "time": EPOCH + i,
        "request_id": f"req-{i}",
        "principal": f"user{i % 3}",
        "tenant": "acme" if i % 2 else "beta",
        "action": "key:Sign" if i % 4 else "key:Decrypt",
        "resource": f"key:k{i % 5}",
        "result": "allowed" if i % 5 else "denied",
        "key_version": i % 3 or None,
        "source": "10.0.0.7",
    }
    values.update(fields)
    return AuditEvent(**values)


@pytest.fixture
async def audit(svc: KeyService) -> AsyncIterator[AuditLog]:
    log = AuditLog(svc, checkpoint_every=10, checkpoint_interval=3600)
    await log.start()
    yield log
    await log.stop()


async def count_records(store: Any) -> int:
    return len(await store.read_audit(AuditFilter(), 100_000, None))


# -- the event ---------------------------------------------------------------------------------


def test_canonical_encoding_sorted_compact() -> None:
    e = AuditEvent(time=1.5, principal="p", tenant="t", action="key:Sign", resource="key:x", result="allowed")
    data = canonical(e)
    assert b" " not in data
    parsed = json.loads(data)
    assert list(parsed) == sorted(parsed)
    assert set(parsed) == {
        "time", "request_id", "principal", "tenant", "action", "resource", "key_version", "result", "source",
        "input_hashes",
    }  # fmt: skip
    assert data == json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# -- append, query, filters, pagination, export --------------------------------------------------


async def test_append_and_query_roundtrip(audit: AuditLog) -> None:
    sent = [event(i) for i in range(1, 6)]
    for e in sent:
        await audit.append(e)
    records, cursor = await audit.query()
    assert cursor is None
    assert [r.event for r in records] == sent
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert {r.chain_id for r in records} == {audit.chain_id}
    assert all(len(bytes.fromhex(r.hash)) == 32 for r in records)


async def test_record_builds_the_event_from_the_request(audit: AuditLog) -> None:
    ctx = RequestContext(request_id="r-42", source="192.0.2.1")
    await audit.record(
        principal="alice", tenant="acme", action="key:Sign", resource="key:payments", result="allowed",
        key_version=3, inputs=[b"message to sign"], context=ctx,
    )  # fmt: skip
    [rec], _ = await audit.query()
    e = rec.event
    assert (e.request_id, e.source, e.principal, e.key_version) == ("r-42", "192.0.2.1", "alice", 3)
    assert e.input_hashes == [audit.input_hash(b"message to sign")]
    assert abs(e.time - time.time()) < 60


async def test_input_hash_is_hmac_under_the_derived_input_key(audit: AuditLog, svc: KeyService) -> None:
    """HMAC-SHA256(HMAC-SHA256(audit MAC key, label), input), base64url without padding; str as UTF-8."""
    _, _, material = await svc.raw_material(SYSTEM_TENANT, MAC_KEY, None)
    input_key = hmac.new(material.expose_secret(), b"skms-audit-input-hash-v1", hashlib.sha256).digest()
    for value in (b"", b"message to sign", os.urandom(1000), "pässwörd"):
        raw = value.encode() if isinstance(value, str) else value
        expected = base64.urlsafe_b64encode(hmac.new(input_key, raw, hashlib.sha256).digest()).rstrip(b"=").decode()
        assert audit.input_hash(value) == expected


async def test_query_filters(audit: AuditLog) -> None:
    sent = [event(i) for i in range(1, 41)]
    await asyncio.gather(*(audit.append(e) for e in sent))

    async def got(**flt: Any) -> list[AuditEvent]:
        records, _ = await audit.query(limit=1000, **flt)
        return [r.event for r in records]

    assert await got() == sent
    assert await got(tenant="acme") == [e for e in sent if e.tenant == "acme"]
    assert await got(principal="user1") == [e for e in sent if e.principal == "user1"]
    assert await got(action="key:Decrypt") == [e for e in sent if e.action == "key:Decrypt"]
    assert await got(action="key:*") == sent
    assert await got(action="wallet:*") == []
    assert await got(resource="key:k3") == [e for e in sent if e.resource == "key:k3"]
    assert await got(result="denied") == [e for e in sent if e.result == "denied"]
    assert await got(since=EPOCH + 10, until=EPOCH + 20) == [e for e in sent if EPOCH + 10 <= e.time < EPOCH + 20]
    assert await got(tenant="beta", result="allowed", since=EPOCH + 30) == [
        e for e in sent if e.tenant == "beta" and e.result == "allowed" and e.time >= EPOCH + 30
    ]
    await audit.append(event(99, result="error:NotFound"))
    assert [e.result for e in await got(result="error:*")] == ["error:NotFound"]


async def test_pagination(audit: AuditLog, open_service: OpenService) -> None:
    # Two writers with equal timestamps: pages must neither repeat nor skip records.
    other = AuditLog(await open_service(), checkpoint_interval=3600)
    await other.start()
    try:
        for i in range(1, 13):
            await audit.append(event(i))
            await other.append(event(i, principal="other"))
    finally:
        await other.stop()
    seen: list[tuple[str, int]] = []
    cursor: str | None = None
    pages = 0
    while True:
        records, cursor = await audit.query(limit=5, cursor=cursor)
        seen += [(r.chain_id, r.seq) for r in records]
        pages += 1
        if cursor is None:
            break
    assert pages == 5
    assert len(seen) == len(set(seen)) == 24
    times = [r.event.time for r in (await audit.query(limit=100))[0]]
    assert times == sorted(times)
    filtered, cursor = await audit.query(principal="other", limit=12)
    assert len(filtered) == 12 and cursor is None


async def test_query_rejects_bad_arguments(audit: AuditLog) -> None:
    for limit in (0, 1001, -1):
        with pytest.raises(InvalidInput):
            await audit.query(limit=limit)
    for cursor in ("not a cursor", base64.urlsafe_b64encode(b'{"a":1}').decode()):
        with pytest.raises(InvalidInput):
            await audit.query(cursor=cursor)


async def test_export_jsonl(audit: AuditLog) -> None:
    sent = [event(i) for i in range(1, 26)]
    await asyncio.gather(*(audit.append(e) for e in sent))
    lines = [line async for line in audit.export_jsonl(page_size=7)]
    assert len(lines) == 25 and all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    parsed = [json.loads(line) for line in lines]
    assert [p["seq"] for p in parsed] == list(range(1, 26))
    for p, e in zip(parsed, sent, strict=True):
        assert p["chain_id"] == audit.chain_id and len(p["hash"]) == len(p["mac"]) == 64
        assert (
            msgspec.convert({k: v for k, v in p.items() if k not in ("chain_id", "seq", "hash", "mac")}, AuditEvent)
            == e
        )
    only = [json.loads(line) async for line in audit.export_jsonl(tenant="acme", result="denied")]
    assert only and all(p["tenant"] == "acme" and p["result"] == "denied" for p in only)


# -- group commit and checkpoints -----------------------------------------------------------------


def count_transactions(store: Any) -> list[int]:
    """Wraps the store's append_audit: the list gets each call's number of rows."""
    calls: list[int] = []
    original = store.append_audit

    async def counted(rows: Sequence[AuditRow]) -> None:
        calls.append(len(rows))
        await original(rows)

    store.append_audit = counted
    return calls


async def test_group_commit_1000_concurrent_appends(svc: KeyService) -> None:
    audit = AuditLog(svc, checkpoint_interval=3600)
    await audit.start()
    calls = count_transactions(svc.store)

    async def client(i: int) -> None:
        await asyncio.sleep(0.001 * (i % 10))  # arrivals spread over several writes
        await audit.append(event(i))

    await asyncio.gather(*(client(i) for i in range(1000)))
    await audit.stop()
    assert sum(calls) == 1000
    assert 1 < len(calls) <= 100, calls  # far fewer transactions than records
    rows = await sql(svc.store, "SELECT chain_id, seq FROM audit_records ORDER BY seq")
    assert {r[0] for r in rows} == {audit.chain_id}
    assert [r[1] for r in rows] == list(range(1, 1001))
    report = await audit.verify()
    assert report.ok and report.records_checked == 1000 and report.mac_checked
    assert audit.transactions == len(calls) and audit.records_written == 1000


async def test_a_busy_writer_waits_for_the_group_to_grow(svc: KeyService) -> None:
    """After a batch of several records the writer waits ``group_delay`` before its next commit, so
    records arriving meanwhile share one; a lone record on an idle writer is written at once."""
    audit = AuditLog(svc, checkpoint_interval=3600, group_delay=0.5)
    await audit.start()
    calls = count_transactions(svc.store)
    await audit.append(event(0))  # idle: no wait (a wait would show as a later, larger commit)
    await asyncio.gather(*(audit.append(event(i)) for i in range(1, 9)))
    trickle = []
    for i in range(10):  # while the busy writer waits
        trickle.append(asyncio.create_task(audit.append(event(100 + i))))
        await asyncio.sleep(0.005)
    await asyncio.gather(*trickle)
    await audit.stop()
    assert calls == [1, 8, 10]  # without the wait the trickle would take several commits
    assert (await audit.verify()).ok


async def test_append_returns_only_once_stored(audit: AuditLog) -> None:
    await audit.append(event(1))
    assert await count_records(audit._store) == 1
    await asyncio.gather(*(audit.append(event(i)) for i in range(2, 50)))
    assert await count_records(audit._store) == 49


async def test_checkpoints_every_n_records_and_on_stop(svc: KeyService) -> None:
    audit = AuditLog(svc, checkpoint_every=10, checkpoint_interval=3600)
    await audit.start()
    for i in range(1, 26):
        await audit.append(event(i))
    assert [c.seq for c in await svc.store.audit_checkpoints(audit.chain_id)] == [10, 20]
    await audit.stop()
    checkpoints = await svc.store.audit_checkpoints(audit.chain_id)
    assert [c.seq for c in checkpoints] == [10, 20, 25]
    rows = await svc.store.read_audit_chain(audit.chain_id, 0, 100)
    assert all(bytes(c.hash) == bytes(rows[c.seq - 1].hash) for c in checkpoints)
    assert {c.key_version for c in checkpoints} == {1}


async def test_checkpoint_timer(svc: KeyService) -> None:
    audit = AuditLog(svc, checkpoint_every=1000, checkpoint_interval=0.05)
    await audit.start()
    try:
        await audit.append(event(1))
        await audit.append(event(2))
        for _ in range(100):
            if await svc.store.audit_checkpoints(audit.chain_id):
                break
            await asyncio.sleep(0.02)
        assert [c.seq for c in await svc.store.audit_checkpoints(audit.chain_id)] == [2]
    finally:
        await audit.stop()
    assert [c.seq for c in await svc.store.audit_checkpoints(audit.chain_id)] == [2]  # nothing new to sign


async def test_internal_keys_created_once(audit: AuditLog, svc: KeyService, open_service: OpenService) -> None:
    await audit.append(event(1))
    mac = await svc.store.get_key(SYSTEM_TENANT, MAC_KEY)
    cp = await svc.store.get_key(SYSTEM_TENANT, CHECKPOINT_KEY)
    assert (mac.type, cp.type) == ("hmac-sha256", "ed25519")
    public = await audit.checkpoint_public_key()
    assert len(public) == 32
    second = AuditLog(await open_service())
    await second.start()
    await second.append(event(2))
    await second.stop()
    assert await second.checkpoint_public_key() == public
    assert (await svc.store.get_key(SYSTEM_TENANT, MAC_KEY)).id == mac.id


async def test_several_writers_keep_one_chain_each(svc: KeyService, open_service: OpenService) -> None:
    logs = [AuditLog(s, checkpoint_every=7, checkpoint_interval=3600) for s in [svc, await open_service()]]
    for log in logs:
        await log.start()
    await asyncio.gather(*(log.append(event(i)) for i in range(30) for log in logs))
    for log in logs:
        await log.stop()
    chains = await svc.store.audit_chains()
    assert sorted(chains) == sorted(log.chain_id for log in logs)
    report = await logs[0].verify()
    assert report.ok and report.records_checked == 60 and len(report.chains) == 2
    assert all(c.records == 30 and c.last_checkpoint_seq == 30 and c.unanchored == 0 for c in report.chains)


async def test_key_rotation_keeps_old_records_verifiable(svc: KeyService) -> None:
    first = AuditLog(svc, checkpoint_every=5)
    await first.start()
    for i in range(8):
        await first.append(event(i))
    await first.stop()
    old_public = await first.checkpoint_public_key()
    await svc.rotate_key(SYSTEM_TENANT, MAC_KEY)
    await svc.rotate_key(SYSTEM_TENANT, CHECKPOINT_KEY)
    second = AuditLog(svc, checkpoint_every=5)
    await second.start()
    for i in range(8):
        await second.append(event(i))
    await second.stop()
    new_public = await second.checkpoint_public_key()
    assert new_public != old_public and await second.checkpoint_public_key(1) == old_public
    versions = await sql(svc.store, "SELECT DISTINCT mac_version FROM audit_records ORDER BY 1")
    assert [v[0] for v in versions] == [1, 2]
    report = await second.verify()
    assert report.ok and report.records_checked == 16 and report.mac_checked


# -- fail closed ------------------------------------------------------------------------------------


async def test_fail_closed_when_the_store_refuses(audit: AuditLog, svc: KeyService) -> None:
    await audit.append(event(1))
    first_chain = audit.chain_id
    original = svc.store.append_audit

    async def broken(rows: Sequence[AuditRow]) -> None:
        raise StorageError("disk full")

    svc.store.append_audit = broken  # type: ignore[method-assign]
    results = await asyncio.gather(*(audit.append(event(i)) for i in range(2, 12)), return_exceptions=True)
    assert all(isinstance(r, AuditUnavailable) for r in results), results
    assert "disk full" in str(results[0])
    assert await count_records(svc.store) == 1
    svc.store.append_audit = original  # type: ignore[method-assign]
    await audit.append(event(20))  # the store is back: writing goes on, on a new chain
    assert audit.chain_id != first_chain
    report = await audit.verify()
    assert report.ok and report.records_checked == 2, report
    # The committed tail of the abandoned chain got its checkpoint once writes worked again.
    assert [c.seq for c in await svc.store.audit_checkpoints(first_chain)] == [1]


async def test_fail_closed_when_the_table_is_gone(audit: AuditLog, svc: KeyService) -> None:
    await audit.append(event(1))
    await sql(svc.store, "DROP TABLE audit_records")
    with pytest.raises(AuditUnavailable):
        await audit.append(event(2))


async def test_fail_closed_when_writes_are_refused(audit: AuditLog, svc: KeyService) -> None:
    await audit.append(event(1))
    if isinstance(svc.store, SqliteStore):  # the connection may only read, as on a read-only file system
        await sql(svc.store, "PRAGMA query_only = ON")
    else:  # the server refuses the insert
        await sql(
            svc.store,
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'read-only'; END $$",
        )
        await sql(svc.store, "CREATE TRIGGER refuse BEFORE INSERT ON audit_records EXECUTE FUNCTION refuse()")
    results = await asyncio.gather(*(audit.append(event(i)) for i in range(2, 6)), return_exceptions=True)
    assert all(isinstance(r, AuditUnavailable) for r in results), results
    assert await count_records(svc.store) == 1


async def test_fail_closed_when_sealed_and_not_running(svc: KeyService, keyfile: str) -> None:
    audit = AuditLog(svc)
    with pytest.raises(AuditUnavailable):
        await audit.append(event(1))  # not started
    await audit.start()
    await audit.append(event(1))
    svc.sealer.seal()
    with pytest.raises(AuditUnavailable):
        await audit.append(event(2))
    with pytest.raises(AuditUnavailable):
        audit.input_hash(b"x")
    await svc.sealer.unseal(keyfile=keyfile)
    await audit.append(event(3))
    await audit.stop()
    with pytest.raises(AuditUnavailable):
        await audit.append(event(4))
    report = await audit.verify()
    assert report.ok and report.records_checked == 2


async def test_invalid_event_fails_alone(audit: AuditLog) -> None:
    bad = [event(1, result="ok"), event(2, principal=object()), event(3, tenant=None)]
    results = await asyncio.gather(*(audit.append(e) for e in [event(0), *bad, event(4)]), return_exceptions=True)
    assert results[0] is None and results[-1] is None
    assert all(isinstance(r, InvalidInput) for r in results[1:-1])
    assert [r.seq for r in (await audit.query())[0]] == [1, 2]


# -- no plaintext ---------------------------------------------------------------------------------


async def test_records_never_contain_plaintext(audit: AuditLog, svc: KeyService) -> None:
    secrets = [os.urandom(32), b"correct horse battery staple 7731", "pässwörd-€-0042".encode()]
    for i, secret in enumerate(secrets):
        await audit.record(
            principal="alice", tenant="acme", action="key:Encrypt", resource="key:k", result="allowed",
            inputs=[secret, secret.hex()],
        )  # fmt: skip
        await audit.append(event(i, input_hashes=[audit.input_hash(secret)]))
    await audit.stop()
    hashes = await audit.hash_inputs(*secrets)
    assert len(set(hashes)) == 3 and hashes == [audit.input_hash(s) for s in secrets]  # deterministic
    assert all(h != base64.urlsafe_b64encode(hashlib.sha256(s).digest()).rstrip(b"=").decode()
               for h, s in zip(hashes, secrets, strict=True))  # fmt: skip
    rows = await sql(svc.store, "SELECT * FROM audit_records")
    rows += await sql(svc.store, "SELECT * FROM audit_checkpoints")
    dump = repr(rows).encode()
    forms = [f(s) for s in secrets for f in (bytes, bytes.hex, lambda b: base64.b64encode(b).decode(),
                                             lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode())]  # fmt: skip
    for form in forms:
        needle = form if isinstance(form, bytes) else form.encode()
        assert needle not in dump
        for row in rows:
            for value in row:
                if isinstance(value, bytes | memoryview):
                    assert needle not in bytes(value)
                elif isinstance(value, str):
                    assert needle.decode(errors="ignore") not in value
    if isinstance(svc.store, SqliteStore):  # the file itself, and its write-ahead log
        for path in Path(svc.store.path).parent.glob(Path(svc.store.path).name + "*"):
            content = path.read_bytes()
            for form in forms:
                assert (form if isinstance(form, bytes) else form.encode()) not in content, path
