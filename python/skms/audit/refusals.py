"""Audit records of refused requests (failed authentication, bad input) that a flood cannot abuse.

Each refusal is recorded with its reason, but per (source, reason) only ``per_second``
individual records are written in each interval: the rest are counted, and at the end of
the interval one summary record (``count`` refusals, ``detail`` the reason) stands for them.
Keys tracked per interval are bounded too (past ``max_keys``, refusals count under one key
per reason), so that a flood from many addresses writes at most about
``global_per_second + max_keys`` records a second in each worker however many requests it sends.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from skms.audit.events import AuditEvent
from skms.audit.log import AuditLog
from skms.context import RequestContext
from skms.errors import SKMSError

log = logging.getLogger("skms.audit")

#: Individual records per (source, reason) and interval.
PER_SECOND = 10
#: Individual records per interval over all keys.
GLOBAL_PER_SECOND = 200
#: Distinct (source, reason) keys per interval before refusals count together.
MAX_KEYS = 256


@dataclass(slots=True)
class _Tally:
    written: int = 0
    suppressed: int = 0
    #: The fields of the summary: principal, tenant, action, resource, result, detail, source.
    fields: tuple[str, str, str, str, str, str, str] = ("", "", "", "", "", "", "")
    first_suppressed: float = 0.0
    request_ids: list[str] = field(default_factory=list)


class RefusalAudit:
    """Writes the audit records of refused requests through an :class:`AuditLog`, bounded under flood."""

    def __init__(
        self,
        audit: AuditLog,
        per_second: float = PER_SECOND,
        interval: float = 1.0,
        global_per_second: float = GLOBAL_PER_SECOND,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
        on_refusal: Callable[[str, bool], None] | None = None,
    ) -> None:
        self._audit = audit
        self._per_key = max(0, int(per_second * interval))
        self._global = max(0, int(global_per_second * interval))
        self._interval = interval
        self._max_keys = max_keys
        self._clock = clock
        self._on_refusal = on_refusal
        self._window = clock()
        self._written = 0
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._last_error = 0.0
        #: Refusals seen, individual records written, refusals counted into summaries, summaries written.
        self.seen = self.individual = self.suppressed = self.summaries = 0

    async def refused(
        self,
        *,
        principal: str,
        tenant: str,
        action: str,
        resource: str,
        result: str,
        detail: str,
        context: RequestContext,
        inputs: Sequence[bytes | str] = (),
        key: str | None = None,
    ) -> None:
        """Records one refusal (or counts it into the next summary). Refusals are tallied per
        ``key`` (the source address by default) and ``detail``. Never raises: the refusal's own
        answer goes out either way, and an audit that cannot be written is logged."""
        self.seen += 1
        source = context.source or "-"
        now = self._clock()
        if now - self._window >= self._interval:
            self._roll(now)
        tally_key = (key or source, detail)
        tally = self._tallies.get(tally_key)
        if tally is None:
            if len(self._tallies) >= self._max_keys:
                tally_key = ("*", detail)  # too many sources at once: count them together
                tally = self._tallies.get(tally_key)
                source = "*"
            if tally is None:
                tally = self._tallies[tally_key] = _Tally(
                    fields=(principal, tenant, action, "-", result, detail, source)
                )
        individual = tally.written < self._per_key and self._written < self._global
        if self._on_refusal is not None:
            self._on_refusal(result, individual)
        if not individual:
            if tally.suppressed == 0:
                tally.first_suppressed = time.time()
            tally.suppressed += 1
            self.suppressed += 1
            if len(tally.request_ids) < 3:
                tally.request_ids.append(context.request_id)
            self._schedule_flush()
            return
        tally.written += 1
        self._written += 1
        self.individual += 1
        event = AuditEvent(
            time=time.time(), request_id=context.request_id, principal=principal, tenant=tenant, action=action,
            resource=resource, result=result, source=context.source or "", detail=detail,
        )  # fmt: skip
        await self._write(event, inputs)

    async def _write(self, event: AuditEvent, inputs: Sequence[bytes | str] = ()) -> None:
        try:
            if inputs:
                event.input_hashes = await self._audit.hash_inputs(*inputs)
            await self._audit.append(event)
        except (SKMSError, OSError) as e:
            now = self._clock()
            if now - self._last_error >= 10.0:  # a flood against a sealed store logs once in a while
                self._last_error = now
                log.warning("audit: a refused request could not be recorded: %s", e)

    def _roll(self, now: float) -> list[AuditEvent]:
        """Starts a new interval; the summaries of the one that ended."""
        summaries = []
        for tally in self._tallies.values():
            if tally.suppressed:
                principal, tenant, action, resource, result, detail, source = tally.fields
                summaries.append(
                    AuditEvent(
                        time=time.time(),
                        request_id=",".join(tally.request_ids),
                        principal=principal,
                        tenant=tenant,
                        action=action,
                        resource=resource,
                        result=result,
                        source="" if source == "-" else source,
                        detail=detail,
                        count=tally.suppressed,
                    )
                )
        self._tallies.clear()
        self._written = 0
        self._window = now
        if summaries:
            self.summaries += len(summaries)
            task = asyncio.get_running_loop().create_task(self._write_all(summaries))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return summaries

    async def _write_all(self, summaries: list[AuditEvent]) -> None:
        for event in summaries:
            await self._write(event)

    def _schedule_flush(self) -> None:
        """A summary is written at the end of the interval even if no refusal follows."""
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        try:
            while any(t.suppressed for t in self._tallies.values()):
                await asyncio.sleep(max(0.0, self._window + self._interval - self._clock()) + 0.001)
                if self._clock() - self._window >= self._interval:
                    self._roll(self._clock())
        finally:
            self._flusher = None

    async def flush(self) -> None:
        """Writes the summaries of the current interval now (at shutdown, and in tests)."""
        if any(t.suppressed for t in self._tallies.values()):
            self._roll(self._clock())
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
