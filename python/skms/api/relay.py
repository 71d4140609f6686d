"""Unseal relay between the worker processes of one ``skms serve``.

Every worker holds the root key in its own memory, but an unseal request
reaches one worker. The parent process gives all workers a random relay key
(``SKMS_RELAY_KEY``, inherited, never stored); the worker that unseals writes the
root keys wrapped under it to a 0600 file in the runtime directory, and the
others pick them up before their next request (and within half a second when idle). Sealing writes a "sealed" state the
same way, and the other workers seal too. A root rotation publishes again: the unsealed workers
take the new set of roots, and the unseal key with it (so that any worker can rotate, and reread
a record another node rotated).

Root keys are encrypted one by one natively from their SecretBytes and opened into SecretBytes:
no worker ever holds one as a Python object (hex string or bytes), whose memory would outlive a seal.
"""

import asyncio
import json
import os

from skms._native import SecretBytes
from skms.crypto import symmetric as native
from skms.crypto.memory import take
from skms.errors import IntegrityError
from skms.keys import KeyService

POLL_SECONDS = 0.5
_AEAD = "aes256-gcm"


class UnsealRelay:
    def __init__(self, service: KeyService, path: str, key: SecretBytes) -> None:
        self._service = service
        self._path = path
        self._key = key
        self._task: asyncio.Task[None] | None = None
        self._seen: tuple[int, int] | None = None

    @classmethod
    def from_environment(cls, service: KeyService) -> "UnsealRelay | None":
        key_hex = os.environ.get("SKMS_RELAY_KEY")
        path = os.environ.get("SKMS_RELAY_FILE")
        if not key_hex or not path:
            return None
        return cls(service, path, take(bytes.fromhex(key_hex)))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def publish(self) -> None:
        """Tells the other workers this worker is unsealed, with the root keys (and the unseal key)."""
        held, current, opener = self._service.sealer.held()
        roots = {
            str(rid): native.aead_encrypt(_AEAD, self._key, key, _root_aad(rid)).hex() for rid, key in held.items()
        }
        payload: dict[str, object] = {"state": "unsealed", "current": current, "roots": roots}
        if opener is not None:
            payload["opener"] = native.aead_encrypt(_AEAD, self._key, opener, b"skms-relay-opener").hex()
        self._write(payload)

    async def retract(self) -> None:
        """Tells the other workers to seal."""
        self._write({"state": "sealed"})

    def _write(self, payload: dict[str, object]) -> None:
        blob = native.aead_encrypt(_AEAD, self._key, json.dumps(payload).encode(), b"skms-relay")
        tmp = f"{self._path}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, self._path)
        stat = os.stat(self._path)
        self._seen = (stat.st_ino, stat.st_mtime_ns)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            self.check()

    def check(self) -> None:
        """Follows the relay file if it changed: run before every request, so a seal or unseal on any
        worker holds for the next request on every worker (a stat when nothing changed)."""
        try:
            stat = os.stat(self._path)
        except FileNotFoundError:
            return
        version = (stat.st_ino, stat.st_mtime_ns)  # each write replaces the file: a new inode
        if version == self._seen:
            return
        with open(self._path, "rb") as f:
            blob = f.read()
        self._seen = version
        try:
            payload = json.loads(native.aead_decrypt(_AEAD, self._key, blob, b"skms-relay"))
        except (IntegrityError, ValueError):
            return  # another server's file (another relay key), or a partial write
        sealer = self._service.sealer
        if payload.get("state") == "sealed":
            if not sealer.sealed:
                sealer.seal()
        else:  # an unseal, or a rotation: an unsealed worker takes the new roots too
            opener = payload.get("opener")
            sealer.adopt(
                {
                    int(k): native.aead_decrypt_secret(_AEAD, self._key, bytes.fromhex(v), _root_aad(int(k)))
                    for k, v in payload["roots"].items()
                },
                int(payload["current"]),
                native.aead_decrypt_secret(_AEAD, self._key, bytes.fromhex(opener), b"skms-relay-opener")
                if opener
                else None,
            )


def _root_aad(root_id: int) -> bytes:
    return f"skms-relay-root:{root_id}".encode()
