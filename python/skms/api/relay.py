"""Unseal relay between the worker processes of one ``skms serve``.

Every worker holds the root key in its own memory, but an unseal request
reaches one worker. The parent process gives all workers a random relay key
(``SKMS_RELAY_KEY``, inherited, never stored); the worker that unseals writes the
root keys wrapped under it to a 0600 file in the runtime directory, and the
others pick them up within half a second. Sealing removes the file, and the
other workers seal too.
"""

import asyncio
import contextlib
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skms._native import SecretBytes
from skms.keys import KeyService

POLL_SECONDS = 0.5


class UnsealRelay:
    def __init__(self, service: KeyService, path: str, key: bytes) -> None:
        self._service = service
        self._path = path
        self._key = AESGCM(key)
        self._task: asyncio.Task[None] | None = None
        self._seen: float | None = None

    @classmethod
    def from_environment(cls, service: KeyService) -> "UnsealRelay | None":
        key_hex = os.environ.get("SKMS_RELAY_KEY")
        path = os.environ.get("SKMS_RELAY_FILE")
        if not key_hex or not path:
            return None
        return cls(service, path, bytes.fromhex(key_hex))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def publish(self) -> None:
        roots = {str(rid): key.expose_secret().hex() for rid, key in self._service.sealer._roots.items()}
        payload = json.dumps({"current": self._service.sealer._root_id, "roots": roots}).encode()
        nonce = os.urandom(12)
        blob = nonce + self._key.encrypt(nonce, payload, b"skms-relay")
        tmp = f"{self._path}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, self._path)
        self._seen = os.stat(self._path).st_mtime

    async def retract(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._path)
        self._seen = None

    async def _poll(self) -> None:
        sealer = self._service.sealer
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                mtime = os.stat(self._path).st_mtime
            except FileNotFoundError:
                if self._seen is not None and not sealer.sealed:
                    sealer.seal()
                self._seen = None
                continue
            if mtime == self._seen:
                continue
            with open(self._path, "rb") as f:
                blob = f.read()
            try:
                payload = json.loads(self._key.decrypt(blob[:12], blob[12:], b"skms-relay"))
            except (InvalidTag, ValueError):
                continue
            sealer._roots = {int(k): SecretBytes(bytes.fromhex(v)) for k, v in payload["roots"].items()}
            sealer._root_id = int(payload["current"])
            self._seen = mtime
