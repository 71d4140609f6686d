"""``python -m skms.audit.verify``: offline verification of an audit log.

    python -m skms.audit.verify --database sqlite:///var/lib/skms/skms.db --public-key <hex or file> \
        [--witness /mnt/witness/skms-audit.jsonl]

``--public-key`` is the checkpoint public key: 64 hex digits, or a file holding the raw 32
bytes, the hex, or a PEM ``PUBLIC KEY``; repeat it for several versions of the key.
``--witness`` is the file an ``audit_witness`` kept (JSON lines, or a syslog file holding
them): chains, tails and checkpoints deleted from the database are then found too. Prints
the report (``--json`` for JSON) and exits 0 when the log is intact, 1 when it is not and 2
when it cannot be read.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from skms.audit.events import VerifyReport
from skms.audit.offline import verify_offline
from skms.audit.witness import read_witness
from skms.crypto.asymmetric import Ed25519PublicKey
from skms.errors import SKMSError


def parse_public_key(value: str) -> bytes:
    """Raw 32 bytes from hex, or from a file holding raw bytes, hex or PEM."""
    text = value.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    path = Path(value)
    if not path.is_file():
        raise ValueError(f"{value!r} is neither 64 hex digits nor a readable file")
    data = path.read_bytes()
    if len(data) == 32:
        return data
    if b"-----BEGIN" in data:
        raw = Ed25519PublicKey.load(data, "spki-pem").export("raw")
        assert isinstance(raw, bytes)
        return raw
    try:
        raw = bytes.fromhex(data.decode().strip())
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f"{value} holds no Ed25519 public key (raw, hex or PEM)") from None
    if len(raw) != 32:
        raise ValueError(f"{value} holds {len(raw)} bytes, not a 32-byte Ed25519 public key")
    return raw


def format_report(report: VerifyReport) -> str:
    """A human-readable report."""
    lines = []
    for c in report.chains:
        status = "ok" if c.ok else "BAD"
        witnessed = f", witnessed up to {c.witnessed_seq}" if report.witness_checked else ""
        lines.append(
            f"{status:3}  {c.chain_id}: {c.records} records checked, {c.checkpoints} checkpoints "
            f"(last at {c.last_checkpoint_seq}), {c.unanchored} after the last checkpoint{witnessed}"
        )
        if c.problem is not None:
            lines.append(f"     {c.problem.kind} at record {c.problem.seq}: {c.problem.detail}")
    lines.append(
        f"{len(report.chains)} chains, {report.records_checked} records checked; "
        f"MACs {'checked' if report.mac_checked else 'not checked (offline)'}; "
        + (
            f"compared with {report.witness_checkpoints} witness checkpoints"
            if report.witness_checked
            else "no witness (a tail deleted with its checkpoints, or a whole chain, would go unseen)"
        )
    )
    p = report.first_problem
    if p is None:
        lines.append("OK: the audit log is intact")
    else:
        lines.append(f"FAILED: chain {p.chain_id}, record {p.seq}: {p.kind}: {p.detail}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m skms.audit.verify", description="Verify an SKMS audit log offline (no unseal needed)."
    )
    parser.add_argument("--database", required=True, help="sqlite:///path, a SQLite file, or postgresql://…")
    parser.add_argument(
        "--public-key", required=True, action="append", help="checkpoint public key: hex, or a file (repeatable)"
    )
    parser.add_argument("--chain", help="verify this chain only")
    parser.add_argument(
        "--witness", help="the audit witness file (file:///path or a path): finds deleted tails and chains"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        keys = [parse_public_key(k) for k in args.public_key]
        witness = None if args.witness is None else read_witness(args.witness)
        report = asyncio.run(verify_offline(args.database, keys, args.chain, witness))
    except (SKMSError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
