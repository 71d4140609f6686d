"""The hash chain of audit records, checkpoint messages, and the verifier (online and offline).

Per chain (one per writer process), record ``seq`` (1, 2, …) carries::

    hash = SHA-256(prev_hash ‖ event)               publicly recomputable
    mac  = HMAC-SHA256(audit_key, prev_mac ‖ event)  needs the unsealed store

where ``event`` is the canonical JSON of the event and, for seq 1, ``prev_hash`` =
``prev_mac`` = SHA-256("skms-audit-v1:" ‖ chain_id), which binds a chain to its id.
A checkpoint is an Ed25519 signature over :func:`checkpoint_message` of one record.
"""

import hashlib
import hmac
import json
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from skms.audit.events import ChainReport, Problem, VerifyReport
from skms.crypto.asymmetric import Ed25519PublicKey
from skms.errors import SKMSError
from skms.storage.base import AuditCheckpoint, AuditRow

#: Records read per page while verifying.
PAGE = 5000
_FIELDS = ("time", "tenant", "principal", "action", "resource", "result")


def genesis(chain_id: str) -> bytes:
    """The ``prev_hash`` and ``prev_mac`` of a chain's first record."""
    return hashlib.sha256(b"skms-audit-v1:" + chain_id.encode()).digest()


def checkpoint_message(chain_id: str, seq: int, hash: bytes, mac: bytes, time: float) -> bytes:
    """The bytes a checkpoint signs."""
    body = {"chain_id": chain_id, "seq": seq, "hash": hash.hex(), "mac": mac.hex(), "time": time}
    return b"skms-audit-checkpoint-v1\n" + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


class AuditSource(Protocol):
    """What the verifier reads: a :class:`~skms.storage.KeyStore` or an offline reader."""

    async def audit_chains(self) -> list[str]: ...

    async def read_audit_chain(self, chain_id: str, after_seq: int, limit: int) -> list[AuditRow]: ...

    async def audit_checkpoints(self, chain_id: str) -> list[AuditCheckpoint]: ...


#: version -> the audit MAC key of that version (online verification only).
MacKeys = Callable[[int], Awaitable[bytes]]
#: key version -> the checkpoint public keys that may have signed with it.
PublicKeys = Callable[[int], Awaitable[Sequence[Ed25519PublicKey]]]


def _signature_ok(keys: Sequence[Ed25519PublicKey], cp: AuditCheckpoint) -> bool:
    message = checkpoint_message(cp.chain_id, cp.seq, bytes(cp.hash), bytes(cp.mac), cp.time)
    for key in keys:
        try:
            if key.verify(message, bytes(cp.signature)):
                return True
        except (SKMSError, ValueError, TypeError):
            continue
    return False


def _field_problem(row: AuditRow) -> str | None:
    try:
        event: Any = json.loads(row.event)
    except (ValueError, TypeError):
        return "malformed"
    if not isinstance(event, dict):
        return "malformed"
    for name, stored in zip(_FIELDS, row[2:8], strict=True):
        if name not in event:
            return "malformed"
        value = event[name]
        same = (
            isinstance(value, int | float) and isinstance(stored, int | float) and float(value) == float(stored)
            if name == "time"
            else value == stored
        )
        if not same:
            return name
    return None


async def verify_chain(
    source: AuditSource,
    chain_id: str,
    public_keys: PublicKeys,
    mac_keys: MacKeys | None,
    page: int = PAGE,
) -> ChainReport:
    """Checks one chain from its first record; stops at the first problem."""
    checkpoints = await source.audit_checkpoints(chain_id)
    cp_index = 0
    prev_hash = prev_mac = genesis(chain_id)
    expected = 1
    macs: dict[int, bytes] = {}
    problem: Problem | None = None
    last_cp_seq = 0

    def bad(seq: int, kind: str, detail: str) -> Problem:
        return Problem(chain_id=chain_id, seq=seq, kind=kind, detail=detail)

    after: Any = 0
    while problem is None:
        rows = await source.read_audit_chain(chain_id, after, page)
        if not rows:
            break
        for row in rows:
            seq = row.seq
            if seq != expected:
                if isinstance(seq, int) and seq > expected:
                    problem = bad(expected, "deleted", f"record {expected} is missing: the chain goes on at {seq}")
                else:
                    problem = bad(
                        expected, "inserted", f"a record with seq {seq!r} stands where record {expected} belongs"
                    )
                break
            data = row.event.encode() if isinstance(row.event, str) else bytes(row.event)
            digest = hashlib.sha256(prev_hash + data).digest()
            if digest != bytes(row.hash):
                problem = bad(
                    seq,
                    "hash",
                    f"record {seq} does not hash to its stored value: it was changed, or records were "
                    "reordered, inserted or removed before it",
                )
                break
            if mac_keys is not None:
                key = macs.get(row.mac_version)
                if key is None:
                    try:
                        key = macs[row.mac_version] = await mac_keys(row.mac_version)
                    except SKMSError as e:
                        problem = bad(seq, "mac", f"record {seq} names audit key version {row.mac_version}: {e}")
                        break
                mac = hmac.digest(key, prev_mac + data, "sha256")
                if not hmac.compare_digest(mac, bytes(row.mac)):
                    problem = bad(
                        seq, "mac", f"record {seq} fails its keyed MAC: it was forged or changed and rehashed"
                    )
                    break
            else:
                mac = bytes(row.mac)
            field = _field_problem(row)
            if field == "malformed":
                problem = bad(seq, "malformed", f"record {seq} does not hold a canonical audit event")
                break
            if field is not None:
                problem = bad(seq, "field", f"the {field} column of record {seq} disagrees with its event")
                break
            while cp_index < len(checkpoints) and checkpoints[cp_index].seq <= seq:
                cp = checkpoints[cp_index]
                cp_index += 1
                if not _signature_ok(await public_keys(cp.key_version), cp):
                    problem = bad(cp.seq, "checkpoint", f"the checkpoint at record {cp.seq} has a bad signature")
                elif cp.seq != seq or bytes(cp.hash) != digest or bytes(cp.mac) != mac:
                    problem = bad(seq, "checkpoint", f"record {seq} differs from its signed checkpoint")
                else:
                    last_cp_seq = seq
                    continue
                break
            if problem is not None:
                break
            prev_hash, prev_mac = digest, mac
            expected += 1
        after = rows[-1].seq
        if isinstance(after, float) and not math.isfinite(after):
            break
    last = expected - 1
    if problem is None and cp_index < len(checkpoints):
        for cp in checkpoints[cp_index:]:
            if not _signature_ok(await public_keys(cp.key_version), cp):
                problem = bad(cp.seq, "checkpoint", f"the checkpoint at record {cp.seq} has a bad signature")
                break
        else:
            final = checkpoints[-1].seq
            problem = bad(
                last + 1,
                "truncated",
                f"the chain ends at record {last} but a signed checkpoint covers record {final}: "
                f"records {last + 1} to {final} were removed",
            )
    return ChainReport(
        chain_id=chain_id, records=last, last_seq=last, checkpoints=len(checkpoints),
        last_checkpoint_seq=last_cp_seq, unanchored=last - last_cp_seq, ok=problem is None, problem=problem,
    )  # fmt: skip


async def verify_source(
    source: AuditSource,
    public_keys: PublicKeys,
    mac_keys: MacKeys | None,
    chain_id: str | None = None,
    page: int = PAGE,
) -> VerifyReport:
    """Checks every chain (or one) of a source; the report names the first bad record."""
    chains = [chain_id] if chain_id is not None else await source.audit_chains()
    reports = [await verify_chain(source, c, public_keys, mac_keys, page) for c in chains]
    first = next((r.problem for r in reports if r.problem is not None), None)
    return VerifyReport(
        ok=first is None,
        chains=reports,
        records_checked=sum(r.records for r in reports),
        first_problem=first,
        mac_checked=mac_keys is not None,
    )
