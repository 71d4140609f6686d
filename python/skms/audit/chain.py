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

from skms._native import SecretBytes
from skms.audit.events import ChainReport, Problem, VerifyReport
from skms.crypto import symmetric
from skms.crypto.asymmetric import Ed25519PublicKey
from skms.errors import SKMSError
from skms.storage.base import AuditCheckpoint, AuditRow

#: Records read per page while verifying.
PAGE = 5000
_FIELDS = ("time", "tenant", "principal", "action", "resource", "result")


def genesis(chain_id: str) -> bytes:
    """The ``prev_hash`` and ``prev_mac`` of a chain's first record."""
    return hashlib.sha256(b"skms-audit-v1:" + chain_id.encode()).digest()


def checkpoint_message(
    chain_id: str, seq: int, hash: bytes, mac: bytes, time: float, prev_seq: int | None = None
) -> bytes:
    """The bytes a checkpoint signs: v2 also signs the seq of the chain's previous checkpoint
    (``prev_seq``, 0 for the first), so that a checkpoint deleted alone leaves a gap the next
    one names; v1 (``prev_seq`` None) is what checkpoints written before that signed."""
    body: dict[str, object] = {"chain_id": chain_id, "seq": seq, "hash": hash.hex(), "mac": mac.hex(), "time": time}
    if prev_seq is None:
        return b"skms-audit-checkpoint-v1\n" + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    body["prev_seq"] = prev_seq
    return b"skms-audit-checkpoint-v2\n" + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


class AuditSource(Protocol):
    """What the verifier reads: a :class:`~skms.storage.KeyStore` or an offline reader."""

    async def audit_chains(self) -> list[str]: ...

    async def read_audit_chain(self, chain_id: str, after_seq: int, limit: int) -> list[AuditRow]: ...

    async def audit_checkpoints(self, chain_id: str) -> list[AuditCheckpoint]: ...


#: version -> the audit MAC key of that version (online verification only).
MacKeys = Callable[[int], Awaitable[SecretBytes | bytes]]
#: key version -> the checkpoint public keys that may have signed with it.
PublicKeys = Callable[[int], Awaitable[Sequence[Ed25519PublicKey]]]


def _signature_ok(keys: Sequence[Ed25519PublicKey], cp: AuditCheckpoint) -> bool:
    message = checkpoint_message(cp.chain_id, cp.seq, bytes(cp.hash), bytes(cp.mac), cp.time, cp.prev_seq)
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


def _seqs(seqs: Sequence[int]) -> str:
    """``10, 20 and 30``: the seqs of checkpoints named in a report."""
    words = [str(x) for x in seqs]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


async def _witness_of(
    chain_id: str, witnessed: Sequence[AuditCheckpoint], public_keys: PublicKeys
) -> tuple[dict[int, AuditCheckpoint], Problem | None]:
    """The witness's checkpoints of a chain whose signatures hold, by seq; a forged one is a problem."""
    good: dict[int, AuditCheckpoint] = {}
    problem: Problem | None = None
    for w in sorted(witnessed, key=lambda c: c.seq):
        if w.chain_id != chain_id:
            continue
        if not _signature_ok(await public_keys(w.key_version), w):
            problem = problem or Problem(
                chain_id=chain_id, seq=w.seq, kind="witness",
                detail=f"the witness's checkpoint at record {w.seq} does not verify: the witness's copy is forged "
                "or damaged",
            )  # fmt: skip
            continue
        seen = good.get(w.seq)
        if seen is not None and (bytes(seen.hash), bytes(seen.mac)) != (bytes(w.hash), bytes(w.mac)):
            problem = problem or Problem(
                chain_id=chain_id, seq=w.seq, kind="witness",
                detail=f"the witness holds two different signed checkpoints at record {w.seq}",
            )  # fmt: skip
            continue
        good[w.seq] = w
    return good, problem


async def verify_chain(
    source: AuditSource,
    chain_id: str,
    public_keys: PublicKeys,
    mac_keys: MacKeys | None,
    page: int = PAGE,
    witnessed: Sequence[AuditCheckpoint] = (),
) -> ChainReport:
    """Checks one chain from its first record; stops at the first problem.

    ``witnessed`` are checkpoints of this chain a witness kept (see :mod:`skms.audit.witness`):
    the chain must reach each of them with the same hash, and the database must still hold
    them; without a witness, a cut tail whose checkpoints were deleted with it goes unseen.
    """
    checkpoints = await source.audit_checkpoints(chain_id)
    witness, witness_problem = await _witness_of(chain_id, witnessed, public_keys)
    cp_index = 0
    prev_hash = prev_mac = genesis(chain_id)
    expected = 1
    macs: dict[int, SecretBytes | bytes] = {}
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
                mac = symmetric.mac("hmac-sha256", key, prev_mac + data)
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
            w = witness.get(seq)
            if w is not None and (bytes(w.hash) != digest or bytes(w.mac) != mac):
                problem = bad(seq, "witness", f"record {seq} differs from the signed checkpoint the witness holds")
                break
            while cp_index < len(checkpoints) and checkpoints[cp_index].seq <= seq:
                cp = checkpoints[cp_index]
                cp_index += 1
                if not _signature_ok(await public_keys(cp.key_version), cp):
                    problem = bad(cp.seq, "checkpoint", f"the checkpoint at record {cp.seq} has a bad signature")
                elif cp.seq != seq or bytes(cp.hash) != digest or bytes(cp.mac) != mac:
                    problem = bad(seq, "checkpoint", f"record {seq} differs from its signed checkpoint")
                elif cp.prev_seq is not None and cp.prev_seq != last_cp_seq:
                    problem = _link_problem(chain_id, cp, last_cp_seq)
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
    if problem is None and witness:
        problem = _witness_problem(chain_id, last, checkpoints, witness)
    problem = problem or witness_problem
    return ChainReport(
        chain_id=chain_id, records=last, last_seq=last, checkpoints=len(checkpoints),
        last_checkpoint_seq=last_cp_seq, unanchored=last - last_cp_seq, ok=problem is None, problem=problem,
        witnessed_seq=max(witness, default=0),
    )  # fmt: skip


def _link_problem(chain_id: str, cp: AuditCheckpoint, last_cp_seq: int) -> Problem:
    """A checkpoint whose signed predecessor is not the checkpoint before it in the database."""
    assert cp.prev_seq is not None
    if cp.prev_seq > last_cp_seq:
        return Problem(
            chain_id=chain_id, seq=cp.prev_seq, kind="checkpoint-missing",
            detail=f"the checkpoint at record {cp.prev_seq} is missing: the signed checkpoint at record {cp.seq} "
            "names it as its predecessor",
        )  # fmt: skip
    return Problem(
        chain_id=chain_id, seq=cp.seq, kind="checkpoint",
        detail=f"the checkpoint at record {cp.seq} follows the one at record {cp.prev_seq}, but the database holds "
        f"another at record {last_cp_seq} between them",
    )  # fmt: skip


def _witness_problem(
    chain_id: str, last: int, checkpoints: Sequence[AuditCheckpoint], witness: dict[int, AuditCheckpoint]
) -> Problem | None:
    """What the witness holds that the (otherwise intact) chain lacks: records, checkpoints, the chain."""
    stored = {cp.seq for cp in checkpoints}
    gone = sorted(seq for seq in witness if seq not in stored)
    newest = max(witness)
    if newest > last:
        lost = f"; the checkpoints at record {_seqs(gone)} are gone too" if gone else ""
        if last == 0 and not checkpoints:
            return Problem(
                chain_id=chain_id, seq=1, kind="chain-missing",
                detail=f"the chain is gone from the database: the witness holds its signed checkpoint at record "
                f"{newest}, so records 1 to {newest} were removed{lost}",
            )  # fmt: skip
        return Problem(
            chain_id=chain_id, seq=last + 1, kind="truncated",
            detail=f"the chain ends at record {last} but the witness holds a signed checkpoint at record {newest}: "
            f"records {last + 1} to {newest} were removed{lost}",
        )  # fmt: skip
    if gone:
        return Problem(
            chain_id=chain_id, seq=gone[0], kind="checkpoint-missing",
            detail=f"the checkpoint{'s' if len(gone) > 1 else ''} at record {_seqs(gone)} "
            f"{'are' if len(gone) > 1 else 'is'} missing from the database; the witness holds "
            f"{'them' if len(gone) > 1 else 'it'}",
        )  # fmt: skip
    return None


async def verify_source(
    source: AuditSource,
    public_keys: PublicKeys,
    mac_keys: MacKeys | None,
    chain_id: str | None = None,
    page: int = PAGE,
    witness: Sequence[AuditCheckpoint] | None = None,
) -> VerifyReport:
    """Checks every chain (or one) of a source; the report names the first bad record.

    With ``witness`` (the checkpoints a witness kept), every chain the witness knows must
    still be in the source and reach the witnessed records with the same hashes.
    """
    by_chain: dict[str, list[AuditCheckpoint]] = {}
    for cp in witness or ():
        by_chain.setdefault(cp.chain_id, []).append(cp)
    chains = [chain_id] if chain_id is not None else sorted(set(await source.audit_chains()) | set(by_chain))
    reports = [await verify_chain(source, c, public_keys, mac_keys, page, by_chain.get(c, ())) for c in chains]
    first = next((r.problem for r in reports if r.problem is not None), None)
    return VerifyReport(
        ok=first is None,
        chains=reports,
        records_checked=sum(r.records for r in reports),
        first_problem=first,
        mac_checked=mac_keys is not None,
        witness_checked=witness is not None,
        witness_checkpoints=len(witness or ()),
    )
