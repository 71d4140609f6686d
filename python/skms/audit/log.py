"""AuditLog: the tamper-evident, fail-closed record of every request (see :mod:`skms.audit`).

One writer per process keeps its own chain (``chain_id`` made at start). ``append`` returns
only once the record is durably stored: appends that arrive while a write is in flight are
buffered and written together in one ``append_audit`` call (group commit), then every
waiter is released; while busy, the writer waits ``group_delay`` before each commit so
that groups grow; if the write fails, every waiter of that batch gets
:class:`~skms.errors.AuditUnavailable` and the writer continues on a fresh chain.
"""

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from skms._native import SecretBytes
from skms.audit import chain, events
from skms.audit.events import AuditEvent, AuditRecord, VerifyReport
from skms.context import RequestContext
from skms.crypto import registry, symmetric
from skms.crypto.asymmetric import Ed25519Key, Ed25519PublicKey
from skms.crypto.keys import b64url
from skms.crypto.random import run_generation
from skms.errors import AuditUnavailable, Conflict, IntegrityError, InvalidInput, NotFound, Sealed
from skms.keys.service import KeyService
from skms.storage.base import AuditCheckpoint, AuditFilter, AuditRow

if TYPE_CHECKING:
    from skms.audit.witness import Witness

log = logging.getLogger("skms.audit")

SYSTEM_TENANT = "__system"
MAC_KEY = "audit-mac"
CHECKPOINT_KEY = "audit-checkpoint"
MAX_QUERY = 1000
_INPUT_HASH_LABEL = b"skms-audit-input-hash-v1"
_NO_CONTEXT = RequestContext()
#: Seconds a busy writer waits before the next group commit (MySQL's binlog_group_commit_sync_delay,
#: PostgreSQL's commit_delay): every commit costs about 90 us of CPU however few records it holds,
#: so under load fewer, larger groups leave more of the machine to the requests.
GROUP_DELAY = 0.001
#: A batch at least this large means several requests wait at once: the writer is busy.
BUSY_BATCH = 4
#: Checkpoints kept for a witness that does not answer; past this, older ones of each chain go
#: (the newest of every chain is kept: it alone anchors the chain's length).
WITNESS_BACKLOG = 1000

# (canonical JSON text, canonical bytes, the indexed fields, the waiter)
_Pending = tuple[str, bytes, tuple[float, str, str, str, str, str], "asyncio.Future[None]"]


def new_chain_id() -> str:
    """``{hostname}-{pid}-{8 hex}``: unique per writer and start."""
    return f"{socket.gethostname()}-{os.getpid()}-{os.urandom(4).hex()}"


def _encode_cursor(row: AuditRow) -> str:
    raw = msgspec.json.encode([row.time, row.chain_id, row.seq])
    return b64url(raw)


_MAX_CHAIN_ID = 512


def _decode_cursor(cursor: str) -> tuple[float, str, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        t, chain_id, seq = msgspec.json.decode(raw, type=tuple[float, str, int])
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidInput("the audit cursor is malformed") from None
    # Only values a stored row can hold: a seq past int64 fails inside the database driver (a 500).
    if not 0 <= seq < 2**63 or not 0 < len(chain_id) <= _MAX_CHAIN_ID or "\x00" in chain_id:
        raise InvalidInput("the audit cursor is malformed")
    return t, chain_id, seq


class AuditLog:
    """The audit log of one process on a :class:`KeyService`'s store.

    ``checkpoint_every`` records or ``checkpoint_interval`` seconds (whichever comes first)
    and on :meth:`stop`, the newest record is signed with the checkpoint key.
    """

    def __init__(
        self,
        service: KeyService,
        *,
        checkpoint_every: int = 1000,
        checkpoint_interval: float = 10.0,
        max_batch: int = 5000,
        group_delay: float = GROUP_DELAY,
        clock: Callable[[], float] | None = None,
        witness: "Witness | None" = None,
        witness_fail_closed: bool = False,
        on_witness: Callable[[bool], None] | None = None,
    ) -> None:
        """``witness`` receives every signed checkpoint (:mod:`skms.audit.witness`), off the
        writer's path; a failure is logged and counted (``on_witness(False)``) and retried at the
        next tick. With ``witness_fail_closed``, appends fail (AuditUnavailable) while the witness
        holds checkpoints back, as they do while the database does."""
        if checkpoint_every < 1 or checkpoint_interval <= 0 or max_batch < 1 or group_delay < 0:
            raise InvalidInput(
                "checkpoint_every, checkpoint_interval and max_batch must be positive, group_delay not negative"
            )
        self._service = service
        self._store = service.store
        self._every = checkpoint_every
        self._interval = checkpoint_interval
        self._max_batch = max_batch
        self._group_delay = group_delay
        self._last_batch = 0
        self._clock = clock or service.clock
        self._running = False
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        # Keys (dropped when the store is sealed).
        self._mac_key: SecretBytes | None = None
        self._mac_version = 0
        self._input_key: SecretBytes | None = None
        self._signer: tuple[Ed25519Key, int] | None = None
        # The chain: committed state only.
        self._new_chain()
        # Chains left behind by failed writes whose committed tails still need a checkpoint:
        # (chain id, seq, hash, mac, seq of the chain's last checkpoint).
        self._orphans: list[tuple[str, int, bytes, bytes, int]] = []
        self._witness = witness
        self._witness_fail_closed = witness_fail_closed
        self._on_witness = on_witness
        self._witness_queue: list[AuditCheckpoint] = []
        self._witness_task: asyncio.Task[None] | None = None
        #: True from a failed delivery to the witness until the backlog is delivered.
        self.witness_behind = False
        self.witness_sent = 0
        self.witness_failures = 0
        #: Transactions written (append_audit calls that succeeded), for metrics.
        self.transactions = 0
        self.records_written = 0

    # -- lifecycle ----------------------------------------------------------------------------

    def _new_chain(self) -> None:
        self._chain_id = new_chain_id()
        self._seq = 0
        self._hash = self._mac = chain.genesis(self._chain_id)
        self._cp_seq = 0

    @property
    def chain_id(self) -> str:
        """The chain this process writes now (a new one after a failed write)."""
        return self._chain_id

    @property
    def running(self) -> bool:
        return self._running

    @property
    def witness(self) -> "Witness | None":
        return self._witness

    async def start(self) -> None:
        """Starts a new chain and the checkpoint timer; loads the keys now if the store is unsealed."""
        if self._running:
            return
        self._new_chain()
        self._service.sealer.on_seal.append(self._forget)
        self._running = True
        self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="skms-audit-checkpoints")
        if not self._service.sealer.sealed:
            await self._keys()

    async def stop(self) -> None:
        """Writes what is buffered, signs a final checkpoint and stops; later appends fail."""
        if not self._running:
            return
        self._running = False
        if self._writer is not None:
            await asyncio.shield(self._writer)
        if self._ticker is not None:
            # Under the lock: a ticker cancelled while storing a checkpoint could leave it in the
            # database but never sent to the witness.
            async with self._lock:
                self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        try:
            async with self._lock:
                await self._checkpoint_locked()
        except Exception as e:
            log.warning("audit: the final checkpoint of chain %s failed: %s", self._chain_id, e)
        if self._witness is not None:
            # The final checkpoint anchors the whole chain: give the witness a moment to take it.
            with contextlib.suppress(Exception):
                if self._witness_task is not None:
                    await asyncio.wait_for(asyncio.shield(self._witness_task), timeout=10.0)
                await asyncio.wait_for(self._deliver(), timeout=10.0)
            with contextlib.suppress(Exception):
                await self._witness.close()
        with contextlib.suppress(ValueError):
            self._service.sealer.on_seal.remove(self._forget)

    def _forget(self) -> None:
        self._mac_key = self._input_key = None
        self._signer = None

    # -- keys -----------------------------------------------------------------------------------

    async def _material(self, name: str, type: str, version: int | None = None) -> tuple[int, SecretBytes]:
        service = self._service
        try:
            _, number, material = await service.raw_material(SYSTEM_TENANT, name, version)
            return number, material
        except NotFound:
            if version is not None:
                raise
        alg = registry.get(type)
        generated = (await run_generation(alg.key_class.generate)).export_secret(alg.storage_format)
        with contextlib.suppress(Conflict):  # another node created it first
            await service.insert_material(SYSTEM_TENANT, name, type, generated)
        _, number, material = await service.raw_material(SYSTEM_TENANT, name, None)
        return number, material

    async def _keys(self) -> None:
        """Loads (creating on first use) the audit MAC key and the checkpoint signing key."""
        if self._mac_key is None:
            version, material = await self._material(MAC_KEY, "hmac-sha256")
            # Native MACs on SecretBytes: no copy of an audit key outlives the seal (see skms.crypto.memory).
            self._input_key = symmetric.mac_secret("hmac-sha256", material, _INPUT_HASH_LABEL)
            self._mac_key, self._mac_version = material, version
        if self._signer is None:
            version, material = await self._material(CHECKPOINT_KEY, "ed25519")
            self._signer = (Ed25519Key(material), version)

    async def checkpoint_public_key(self, version: int | None = None) -> bytes:
        """The raw Ed25519 public key (32 bytes) checkpoints are signed with (newest version by default).

        Give it to :func:`skms.audit.verify_offline` or ``python -m skms.audit.verify``.
        """
        keys = await self._public_keys()
        if not keys:
            await self._keys()
            keys = await self._public_keys()
        if version is None:
            version = max(keys)
        if version not in keys:
            raise NotFound(f"the checkpoint key has no version {version}")
        return keys[version]

    async def _public_keys(self) -> dict[int, bytes]:
        try:
            record = await self._store.get_key(SYSTEM_TENANT, CHECKPOINT_KEY)
        except NotFound:
            return {}
        return {v.version: v.public_key for v in await self._store.get_versions(record.id) if v.public_key}

    async def hash_inputs(self, *values: bytes | str) -> list[str]:
        """:meth:`input_hash` of each value, loading the audit key first if needed."""
        if self._input_key is None:
            try:
                await self._keys()
            except Sealed as e:
                raise AuditUnavailable(f"the audit log cannot hash inputs: {e}") from None
        return [self.input_hash(v) for v in values]

    def input_hash(self, value: bytes | str) -> str:
        """A keyed hash of a request input for :attr:`AuditEvent.input_hashes` (never the input itself).

        HMAC-SHA256 under a key derived from the audit MAC key, base64url without padding:
        equal inputs give equal hashes, and nobody without the unsealed store can test guesses.
        """
        key = self._input_key
        if key is None:
            raise AuditUnavailable("the audit keys are not loaded (the store is sealed, or the log is not started)")
        # One native call: this runs for every input of every request.
        return b64url(symmetric.mac("hmac-sha256", key, value.encode() if isinstance(value, str) else value))

    # -- writing --------------------------------------------------------------------------------

    async def append(self, event: AuditEvent) -> None:
        """Stores ``event``; returns once it is durable. Raises AuditUnavailable when it could not be."""
        events.check(event)
        await self._enqueue(event)

    async def _enqueue(self, event: AuditEvent) -> None:
        """:meth:`append` of an event known to be well-formed (built by :meth:`record`)."""
        if not self._running:
            raise AuditUnavailable("the audit log is not running")
        if self.witness_behind and self._witness_fail_closed:
            raise AuditUnavailable("the audit witness does not take checkpoints (audit_witness_fail_closed)")
        data = events.canonical(event)
        fields = (float(event.time), event.tenant, event.principal, event.action, event.resource, event.result)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((data.decode(), data, fields, future))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain())
        await future

    async def record(
        self,
        principal: str,
        tenant: str,
        action: str,
        resource: str,
        result: str,
        key_version: int | None = None,
        inputs: Sequence[bytes | str] = (),
        context: RequestContext | None = None,
    ) -> None:
        """Builds the event of one request (request id and source from ``context``, keyed hashes of
        ``inputs``) and :meth:`append` s it: returns once it is durable, else raises AuditUnavailable."""
        if inputs and self._input_key is None:
            await self.hash_inputs()
        ctx = context or _NO_CONTEXT
        event = AuditEvent(
            time=time.time(), request_id=ctx.request_id, principal=principal, tenant=tenant, action=action,
            resource=resource, key_version=key_version, result=result, source=ctx.source or "",
            input_hashes=[self.input_hash(v) for v in inputs],
        )  # fmt: skip
        if not events.is_result(result):
            events.check(event)  # raises; every other field has its type from the signature
        await self._enqueue(event)

    async def _drain(self) -> None:
        try:
            async with self._lock:
                while True:
                    if self._last_batch >= BUSY_BATCH and len(self._pending) < self._max_batch:
                        # Busy: the next group (requests released by the last commit come back
                        # within moments) grows for a while; a writer that finds nothing stops.
                        self._last_batch = 0
                        await asyncio.sleep(self._group_delay)
                    if not self._pending:
                        break
                    batch = self._pending[: self._max_batch]
                    self._last_batch = len(batch)
                    del self._pending[: self._max_batch]
                    if not await self._write(batch):
                        continue
                    if self._orphans or self._seq - self._cp_seq >= self._every:
                        try:
                            await self._checkpoint_locked()
                        except Exception as e:
                            log.warning("audit: checkpoint of chain %s failed: %s", self._chain_id, e)
        finally:
            self._writer = None
            self._last_batch = 0  # idle now: the next record is written at once
            # Only left over when this task was cancelled (loop shutdown): nobody may wait forever.
            for *_, future in self._pending:
                if not future.done():
                    future.set_exception(AuditUnavailable("the audit writer stopped"))
            self._pending.clear()

    async def _write(self, batch: list[_Pending]) -> bool:
        try:
            if self._mac_key is None or self._signer is None:
                await self._keys()
            key, version, chain_id = self._mac_key, self._mac_version, self._chain_id
            assert key is not None
            h, m, seq = self._hash, self._mac, self._seq
            sha256, mac = hashlib.sha256, symmetric.mac
            rows: list[AuditRow] = []
            for text, data, fields, _ in batch:
                seq += 1
                h = sha256(h + data).digest()
                m = mac("hmac-sha256", key, m + data)
                rows.append(AuditRow(chain_id, seq, *fields, text, h, m, version))
            await self._store.append_audit(rows)
        except BaseException as e:
            log.error("audit: %d records could not be stored (failing their operations): %s", len(batch), e)
            # The batch may or may not have been committed: continue on a fresh chain, and sign the
            # committed tail of this one once the store accepts writes again.
            if self._seq > self._cp_seq:
                self._orphans.append((self._chain_id, self._seq, self._hash, self._mac, self._cp_seq))
            self._new_chain()
            message = f"the audit record could not be stored: {e}"
            for *_, future in batch:
                if not future.done():
                    future.set_exception(AuditUnavailable(message))
            if not isinstance(e, Exception):
                raise
            return False
        self._hash, self._mac, self._seq = h, m, seq
        self.transactions += 1
        self.records_written += len(rows)
        for *_, future in batch:
            if not future.done():
                future.set_result(None)
        return True

    async def checkpoint(self) -> AuditCheckpoint | None:
        """Signs the newest record of this process's chain now (None when nothing is new)."""
        async with self._lock:
            return await self._checkpoint_locked()

    async def _checkpoint_locked(self) -> AuditCheckpoint | None:
        while self._orphans:
            await self._sign_and_store(*self._orphans[0])
            del self._orphans[0]
        if self._seq <= self._cp_seq:
            return None
        checkpoint = await self._sign_and_store(self._chain_id, self._seq, self._hash, self._mac, self._cp_seq)
        self._cp_seq = checkpoint.seq
        return checkpoint

    async def _sign_and_store(self, chain_id: str, seq: int, h: bytes, m: bytes, prev_seq: int) -> AuditCheckpoint:
        if self._signer is None:
            await self._keys()
        assert self._signer is not None
        signer, version = self._signer
        now = float(self._clock())
        signature = signer.sign(chain.checkpoint_message(chain_id, seq, h, m, now, prev_seq))
        checkpoint = AuditCheckpoint(chain_id, seq, now, h, m, version, signature, prev_seq)
        await self._store.put_audit_checkpoint(checkpoint)
        if self._witness is not None:
            self._witness_queue.append(checkpoint)
            if len(self._witness_queue) > WITNESS_BACKLOG:
                self._trim_witness_queue()
            if self._witness_task is None and not self.witness_behind:
                self._witness_task = asyncio.get_running_loop().create_task(self._deliver_task())
        return checkpoint

    # -- the witness ------------------------------------------------------------------------------

    def _trim_witness_queue(self) -> None:
        newest = {cp.chain_id: cp for cp in self._witness_queue}
        keep = set(map(id, newest.values()))
        excess = len(self._witness_queue) - WITNESS_BACKLOG
        kept: list[AuditCheckpoint] = []
        for cp in self._witness_queue:
            if excess > 0 and id(cp) not in keep:
                excess -= 1
                continue
            kept.append(cp)
        self._witness_queue = kept

    async def _deliver_task(self) -> None:
        try:
            await self._deliver()
        finally:
            self._witness_task = None

    async def _deliver(self) -> None:
        """Sends the queued checkpoints to the witness in order; stops at the first failure."""
        witness = self._witness
        if witness is None:
            return
        while self._witness_queue:
            cp = self._witness_queue[0]
            try:
                await witness.send(cp)
            except Exception as e:
                self.witness_failures += 1
                if self._on_witness is not None:
                    self._on_witness(False)
                if not self.witness_behind:
                    log.error(
                        "audit: the witness %s did not take the checkpoint of chain %s at %d (%s: %s); retrying",
                        witness.name, cp.chain_id, cp.seq, type(e).__name__, e,
                    )  # fmt: skip
                self.witness_behind = True
                return
            if self._witness_queue and self._witness_queue[0] is cp:
                del self._witness_queue[0]
            self.witness_sent += 1
            if self._on_witness is not None:
                self._on_witness(True)
        if self.witness_behind:
            log.warning("audit: the witness %s takes checkpoints again", witness.name)
        self.witness_behind = False

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if self._witness_queue and self._witness_task is None:
                self._witness_task = asyncio.get_running_loop().create_task(self._deliver_task())
            if self._seq > self._cp_seq or self._orphans:
                try:
                    async with self._lock:
                        await self._checkpoint_locked()
                except Exception as e:
                    log.warning("audit: checkpoint of chain %s failed: %s", self._chain_id, e)

    # -- reading --------------------------------------------------------------------------------

    async def query(
        self,
        tenant: str | None = None,
        principal: str | None = None,
        action: str | None = None,
        resource: str | None = None,
        result: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[AuditRecord], str | None]:
        """Records oldest first, filtered (exact values, or prefixes ending in ``*``; since <= time < until).

        Returns (page, next cursor); pass the cursor back for the next page (None: no more).
        """
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_QUERY:
            raise InvalidInput(f"limit must be 1 to {MAX_QUERY}, got {limit!r}")
        flt = AuditFilter(tenant, principal, action, resource, result, since, until)
        after = None if cursor is None else _decode_cursor(cursor)
        rows = await self._store.read_audit(flt, limit + 1, after)
        page = rows[:limit]
        records = [self._record(r) for r in page]
        return records, (_encode_cursor(page[-1]) if len(rows) > limit else None)

    @staticmethod
    def _record(row: AuditRow) -> AuditRecord:
        try:
            event = events.decode(row.event)
        except (msgspec.DecodeError, TypeError):
            raise IntegrityError(
                f"audit record {row.chain_id}:{row.seq} is malformed: run the audit verification"
            ) from None
        return AuditRecord(chain_id=row.chain_id, seq=row.seq, hash=bytes(row.hash).hex(), event=event)

    async def export_jsonl(
        self,
        tenant: str | None = None,
        principal: str | None = None,
        action: str | None = None,
        resource: str | None = None,
        result: str | None = None,
        since: float | None = None,
        until: float | None = None,
        page_size: int = MAX_QUERY,
    ) -> AsyncIterator[str]:
        """Records as JSON lines (each ending in a newline) for a SIEM: the event's fields plus
        ``chain_id``, ``seq``, ``hash`` and ``mac`` (hex)."""
        flt = AuditFilter(tenant, principal, action, resource, result, since, until)
        after: tuple[float, str, int] | None = None
        encoder = msgspec.json.Encoder(order="sorted")
        while True:
            rows = await self._store.read_audit(flt, page_size, after)
            for row in rows:
                line: dict[str, Any] = msgspec.to_builtins(self._record(row).event)
                line.update(chain_id=row.chain_id, seq=row.seq, hash=bytes(row.hash).hex(), mac=bytes(row.mac).hex())
                yield encoder.encode(line).decode() + "\n"
            if len(rows) < page_size:
                return
            after = (rows[-1].time, rows[-1].chain_id, rows[-1].seq)

    # -- verification -----------------------------------------------------------------------

    async def verify(
        self, chain_id: str | None = None, witness: Sequence[AuditCheckpoint] | None = None
    ) -> VerifyReport:
        """Checks every chain (or one): seq continuity, hash and MAC chains, checkpoint signatures
        and truncation. The MACs are checked only when the store is unsealed (``mac_checked``).

        ``witness``: checkpoints a witness kept; by default those of the configured witness when
        it can be read back (a file), so that deleted tails and chains are found too."""
        if witness is None and self._witness is not None:
            witness = await self._witness.checkpoints()
        public = {v: Ed25519PublicKey(k) for v, k in (await self._public_keys()).items()}

        async def public_keys(version: int) -> Sequence[Ed25519PublicKey]:
            key = public.get(version)
            return [] if key is None else [key]

        async def mac_keys(version: int) -> SecretBytes:
            if version == self._mac_version and self._mac_key is not None:
                return self._mac_key
            return (await self._material(MAC_KEY, "hmac-sha256", version))[1]

        return await chain.verify_source(
            self._store, public_keys, None if self._service.sealer.sealed else mac_keys, chain_id, witness=witness
        )
