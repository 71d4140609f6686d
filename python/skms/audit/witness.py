"""Witnesses: copies of the audit checkpoints kept where the database cannot rewrite them.

Hash chains and signed checkpoints show that records were changed, but someone with write
access to the database can delete the tail of a chain together with its checkpoints, or a
whole chain, and leave a log that verifies. A witness holds a copy of every checkpoint as
it is signed; :func:`skms.audit.chain.verify_source` then requires every chain the witness
knows to be in the database and to reach the newest witnessed record with the same hash.

``audit_witness`` (one setting) names the sink:

* ``file:///path`` (or an absolute path): appends one JSON line per checkpoint to the file
  (created 0600), with ``fsync``: best on another volume or host (NFS, a log shipper).
* ``http://…`` / ``https://…``: POSTs each checkpoint as JSON (for example to a collector
  or another node); the receiver keeps the lines for ``--witness``.
* ``syslog:///dev/log`` or ``syslog://host:port`` (UDP): one syslog message per
  checkpoint; a syslog file holding them is itself a witness file.

Every form writes the same line, ``{"type": "skms-audit-checkpoint", …}``, and
:func:`read_witness` accepts any file holding such lines (other lines, such as the rest of
a syslog file, are skipped). A witness holds nothing secret: checkpoints are signatures
over public hashes.
"""

import asyncio
import json
import logging
import os
import socket
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from skms.errors import InvalidInput, StorageError
from skms.storage.base import AuditCheckpoint

log = logging.getLogger("skms.audit")

#: The ``type`` of a witness line.
LINE_TYPE = "skms-audit-checkpoint"
#: Seconds an HTTP or syslog witness may take per checkpoint.
TIMEOUT = 5.0
#: Longest line read from a witness file (a checkpoint line is about 500 bytes).
MAX_LINE = 4096


def encode_checkpoint(cp: AuditCheckpoint) -> bytes:
    """The witness line of a checkpoint: compact JSON, keys sorted, ending in a newline."""
    body = {
        "type": LINE_TYPE, "chain_id": cp.chain_id, "seq": cp.seq, "time": cp.time, "hash": bytes(cp.hash).hex(),
        "mac": bytes(cp.mac).hex(), "key_version": cp.key_version, "signature": bytes(cp.signature).hex(),
        "prev_seq": cp.prev_seq,
    }  # fmt: skip
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def decode_checkpoint(body: Any) -> AuditCheckpoint:
    """A checkpoint from the JSON object of a witness line; InvalidInput naming what is wrong."""
    if not isinstance(body, dict) or body.get("type") != LINE_TYPE:
        raise InvalidInput(f"a witness checkpoint is a JSON object with type {LINE_TYPE!r}")
    try:
        chain_id, seq, t = body["chain_id"], body["seq"], body["time"]
        key_version, prev_seq = body["key_version"], body.get("prev_seq")
        hash_, mac, signature = (bytes.fromhex(body[k]) for k in ("hash", "mac", "signature"))
    except (KeyError, TypeError, ValueError):
        raise InvalidInput(
            "a witness checkpoint needs chain_id, seq, time, hash, mac, key_version, signature"
        ) from None
    ints = [seq, key_version] + ([] if prev_seq is None else [prev_seq])
    if (
        not isinstance(chain_id, str)
        or not chain_id
        or any(type(i) is not int or i < 0 for i in ints)
        or type(t) not in (int, float)
        or len(hash_) != 32
        or len(mac) != 32
        or len(signature) != 64
    ):
        raise InvalidInput("a witness checkpoint has a field of the wrong type or length")
    return AuditCheckpoint(chain_id, seq, float(t), hash_, mac, key_version, signature, prev_seq)


def parse_witness(text: str, name: str = "the witness") -> list[AuditCheckpoint]:
    """The checkpoints in the lines of ``text``: witness lines, possibly behind a syslog prefix."""
    found: list[AuditCheckpoint] = []
    for number, line in enumerate(text.splitlines(), 1):
        start = line.find("{")
        if start < 0 or LINE_TYPE not in line:
            continue  # not a checkpoint (another syslog message, a blank line)
        if len(line) > MAX_LINE:
            raise InvalidInput(f"{name}, line {number}: longer than {MAX_LINE} characters")
        try:
            body = json.loads(line[start:])
        except ValueError:
            raise InvalidInput(f"{name}, line {number}: a damaged checkpoint (not JSON)") from None
        try:
            found.append(decode_checkpoint(body))
        except InvalidInput as e:
            raise InvalidInput(f"{name}, line {number}: {e}") from None
    return found


def witness_path(spec: str) -> str:
    """The file of ``file:///path``, or ``spec`` itself when it is a path."""
    if spec.startswith("file://"):
        parts = urlsplit(spec)
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise InvalidInput(f"a file witness is file:///absolute/path, got {spec!r}")
        return parts.path
    if "://" in spec:
        raise InvalidInput(f"only a file witness can be read back; got {_redacted(spec)}")
    return spec


def read_witness(spec: str) -> list[AuditCheckpoint]:
    """Every checkpoint in a witness file (``file:///path`` or a path); blocking (use a thread)."""
    path = witness_path(spec)
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise StorageError(f"cannot read the witness {path}: {e.strerror}") from None
    return parse_witness(text, path)


def _redacted(spec: str) -> str:
    """A sink for logs and errors: scheme, host and path only (never credentials or a query)."""
    parts = urlsplit(spec)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class Witness(Protocol):
    """Where :class:`skms.audit.AuditLog` sends each checkpoint it signs."""

    #: The sink without credentials, for logs.
    name: str

    async def send(self, checkpoint: AuditCheckpoint) -> None:
        """Returns once the witness holds the checkpoint; raises (any exception) when it could not."""
        ...

    async def checkpoints(self) -> list[AuditCheckpoint] | None:
        """What the witness holds, when it can be read back from here (a file); else None."""
        ...

    async def close(self) -> None: ...


class FileWitness:
    """Appends each checkpoint line to a file (O_APPEND: the workers of a server may share it)."""

    def __init__(self, path: str) -> None:
        if not os.path.isabs(path):
            raise InvalidInput(f"the witness file must be an absolute path, got {path!r}")
        self.path = path
        self.name = f"file://{path}"

    def check(self) -> None:
        """Opens the file for appending once (creating it 0600), so that a wrong path stops the start."""
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
        except OSError as e:
            raise InvalidInput(f"cannot open the audit witness {self.path} for appending: {e.strerror}") from None

    def _append(self, line: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)  # one write of one line: appends of several workers do not interleave
            os.fsync(fd)
        finally:
            os.close(fd)

    async def send(self, checkpoint: AuditCheckpoint) -> None:
        await asyncio.to_thread(self._append, encode_checkpoint(checkpoint))

    async def checkpoints(self) -> list[AuditCheckpoint] | None:
        return await asyncio.to_thread(read_witness, self.path)

    async def close(self) -> None:
        return None


class HttpWitness:
    """POSTs each checkpoint line (``application/json``) to a URL; any 2xx answer is an acknowledgement."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = _redacted(url)
        self._client: httpx.AsyncClient | None = None

    async def send(self, checkpoint: AuditCheckpoint) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
        response = await self._client.post(
            self.url, content=encode_checkpoint(checkpoint), headers={"content-type": "application/json"}
        )
        if not 200 <= response.status_code < 300:
            raise StorageError(f"the witness {self.name} answered {response.status_code}")

    async def checkpoints(self) -> list[AuditCheckpoint] | None:
        return None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class SyslogWitness:
    """One syslog message (facility auth, severity notice) per checkpoint: a Unix socket or UDP."""

    #: <PRI> of facility auth (4) and severity notice (5).
    PRI = b"<37>"

    def __init__(self, spec: str) -> None:
        parts = urlsplit(spec)
        self.name = _redacted(spec)
        self._unix: str | None = None
        self._udp: tuple[str, int] | None = None
        if parts.hostname:
            self._udp = (parts.hostname, parts.port or 514)
        elif parts.path:
            self._unix = parts.path
        else:
            raise InvalidInput(f"a syslog witness is syslog:///dev/log or syslog://host:port, got {spec!r}")

    def _emit(self, message: bytes) -> None:
        if self._unix is not None:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.settimeout(TIMEOUT)
                s.connect(self._unix)
                s.send(message)
            return
        assert self._udp is not None
        with socket.socket(socket.AF_INET6 if ":" in self._udp[0] else socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(TIMEOUT)
            s.sendto(message, self._udp)

    async def send(self, checkpoint: AuditCheckpoint) -> None:
        line = encode_checkpoint(checkpoint).rstrip(b"\n")
        await asyncio.to_thread(self._emit, self.PRI + b"skms-audit: " + line)

    async def checkpoints(self) -> list[AuditCheckpoint] | None:
        return None

    async def close(self) -> None:
        return None


def open_witness(spec: str) -> Witness:
    """The witness a setting names: ``file:///path`` (or a path), ``http(s)://…`` or ``syslog://…``."""
    spec = spec.strip()
    scheme = urlsplit(spec).scheme.lower() if "://" in spec else ""
    if scheme in ("", "file"):
        witness = FileWitness(witness_path(spec))
        witness.check()
        return witness
    if scheme in ("http", "https"):
        if not urlsplit(spec).hostname:
            raise InvalidInput(f"the HTTP witness URL names no host: {_redacted(spec)}")
        return HttpWitness(spec)
    if scheme == "syslog":
        return SyslogWitness(spec)
    raise InvalidInput(f"audit_witness is file:///path, http(s)://… or syslog://…, got a {scheme!r} URL")
