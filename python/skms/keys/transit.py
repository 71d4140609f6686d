"""The ``transit`` seal: auto-unseal by another SKMS server, as Vault's transit seal does.

At ``init`` the store's unseal key (32 random bytes, which wraps the root keys as with every
method) is encrypted by an ``aes256-gcm`` key on another SKMS server (the *transit server*); the
seal record keeps that ciphertext, the server's address and the key's name, never the token. At
start the server asks the transit server to decrypt it, and is unsealed with no operator.

The associated data of that ciphertext binds the seal's own random id: another ciphertext of the
same transit key (another store's unseal key) put into this record does not decrypt.

Where the transit server is, and the token, are server configuration only (``transit_*``
settings), never request input: a request naming an address would make this server call anywhere
(SSRF). The token is read from an environment variable or a 0600 file at each call (a rotated
file is picked up), is never a setting's value, and never reaches a log or an error message.

When the transit server is unreachable, sealed or refuses the token, the server keeps running
sealed and tries again with exponential back-off (at most ``transit_retry_max`` seconds apart),
as Vault does; ``/v1/sys/ready`` and the log say why. An operator's seal stops the retries.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import ssl
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

from skms._native import SecretBytes
from skms.crypto.memory import exposed, take
from skms.errors import (
    Forbidden,
    IntegrityError,
    InvalidInput,
    NotFound,
    Sealed,
    SKMSError,
    TransitUnavailable,
    Unauthenticated,
    UnsealFailed,
)

if TYPE_CHECKING:
    from skms.client import Client
    from skms.keys.seal import Sealer

log = logging.getLogger("skms.seal")

#: The transit key's type: AES-256-GCM, so the wrap is authenticated and binds associated data.
KEY_TYPE = "aes256-gcm"
#: Seconds one call to the transit server may take.
TIMEOUT = 10.0
#: First wait before retrying an auto-unseal; doubled each time up to ``transit_retry_max``.
FIRST_RETRY = 0.5
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_TOKEN_MAX = 4096
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def seal_aad(seal_id: str) -> bytes:
    """Associated data of the wrapped unseal key: this seal's id, so no other ciphertext fits."""
    return b"skms-transit-seal:" + seal_id.encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class TransitConfig:
    """The transit server, its key and where the token is (a variable's name or a 0600 file).

    ``ca_file`` verifies the server's certificate (default: the system's CAs); ``client_cert``
    and ``client_key`` present a client certificate (mTLS). Plain ``http`` only to loopback:
    the token must not cross a network in the clear.
    """

    address: str
    key: str
    token_env: str | None = None
    token_file: str | None = None
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    retry_max: float = 30.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"transit_address must be http(s)://host[:port], got {self.address!r}")
        if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
            raise InvalidInput("transit_address is scheme://host[:port] only: no credentials, path or query")
        try:
            parts.port  # noqa: B018 - raises on a port out of range
        except ValueError:
            raise InvalidInput(f"transit_address has a bad port: {self.address!r}") from None
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            raise InvalidInput("transit_address must be https:// (the token would cross the network in the clear)")
        if not _KEY_NAME.fullmatch(self.key):
            raise InvalidInput(f"transit_key must be a key name on the transit server, got {self.key!r}")
        if (self.token_env is None) == (self.token_file is None):
            # The token itself is never a setting: it would end up on command lines and in config dumps.
            raise InvalidInput("give exactly one of transit_token_env (a variable's name) and transit_token_file")
        if self.token_env is not None and not _ENV_NAME.fullmatch(self.token_env):
            raise InvalidInput(f"transit_token_env must be an environment variable's name, got {self.token_env!r}")
        if self.token_file is not None and not self.token_file:
            raise InvalidInput("transit_token_file must be a path")
        if (self.client_cert is None) != (self.client_key is None):
            raise InvalidInput("transit_client_cert and transit_client_key go together")
        if (self.ca_file or self.client_cert) and parts.scheme != "https":
            raise InvalidInput("transit_ca_file and transit_client_cert need an https:// transit_address")
        for name in ("ca_file", "client_cert", "client_key"):
            path = getattr(self, name)
            if path is not None and not os.path.isfile(path):
                raise InvalidInput(f"transit_{name} {path!r}: no such file")
        if not 1.0 <= self.retry_max <= 3600.0:
            raise InvalidInput("transit_retry_max must be 1 to 3600 seconds")

    @property
    def base(self) -> str:
        return self.address.rstrip("/")

    def read_token(self) -> str:
        """The token, read now. Errors name where it should be, never the token."""
        if self.token_env is not None:
            token = os.environ.get(self.token_env, "").strip()
            if not token:
                raise TransitUnavailable(f"the transit token variable {self.token_env} is not set or empty", "token")
            where = f"variable {self.token_env}"
        else:
            assert self.token_file is not None
            try:
                fd = os.open(self.token_file, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError as e:
                raise TransitUnavailable(f"cannot read the transit token file: {e.strerror}", "token") from None
            try:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    raise TransitUnavailable(f"the transit token file {self.token_file} is not a file", "token")
                if stat.S_IMODE(info.st_mode) & 0o077:
                    raise TransitUnavailable(
                        f"the transit token file {self.token_file} is readable by group or others: chmod 600 it",
                        "token",
                    )
                raw = os.read(fd, _TOKEN_MAX + 2)
            finally:
                os.close(fd)
            token = raw.decode("utf-8", "replace").strip()
            where = f"file {self.token_file}"
            if not token:
                raise TransitUnavailable(f"the transit token file {self.token_file} is empty", "token")
        if len(token) > _TOKEN_MAX or not token.isprintable():
            raise TransitUnavailable(f"the transit token in {where} is too long or not printable", "token")
        return token

    def ssl_context(self) -> ssl.SSLContext | bool:
        if urlsplit(self.address).scheme != "https":
            return True
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.client_cert is not None:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context


class TransitSeal:
    """Encrypts and decrypts this store's unseal key with the transit server's key (blocking calls:
    the seal runs them on its own thread, off the event loop)."""

    def __init__(self, config: TransitConfig) -> None:
        self.config = config
        # httpx logs each request at INFO through the root logger: not the server's JSON lines, and
        # one per retry. Its warnings and errors still pass.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").level))
        #: Why the last auto-unseal failed (one word, see TransitUnavailable.reason), or None.
        self.last_failure: str | None = None

    def __repr__(self) -> str:
        return f"TransitSeal(address={self.config.base!r}, key={self.config.key!r})"

    def _client(self) -> Client:
        from skms.client import Client

        return Client(self.config.base, self.config.read_token(), timeout=TIMEOUT, retries=0,
                      verify=self.config.ssl_context())  # fmt: skip

    def wrap(self, unseal_key: SecretBytes, aad: bytes) -> str:
        """The unseal key encrypted by the transit key (``skms:vN:…``); checks the key's type first."""
        with self._client() as client, _mapped(self.config.key):
            try:
                key_type: str | None = client.get_key(self.config.key).type
            except Forbidden:
                key_type = None  # a token for encrypt and decrypt only: the round trip at init still checks
            if key_type is not None and key_type != KEY_TYPE:
                raise InvalidInput(f"the transit key {self.config.key!r} is {key_type}, not {KEY_TYPE}")
            with exposed(unseal_key) as plaintext:  # wiped after the call
                # msgspec encodes a bytearray as it does bytes (base64): no unwiped copy is made here.
                return client.encrypt(self.config.key, cast(bytes, plaintext), associated_data=aad).ciphertext

    def unwrap(self, ciphertext: str, aad: bytes) -> SecretBytes:
        """The unseal key, decrypted by the transit server."""
        with self._client() as client, _mapped(self.config.key):
            try:
                plaintext = client.decrypt(self.config.key, ciphertext, associated_data=aad)
            except (IntegrityError, InvalidInput):
                raise UnsealFailed(
                    f"the transit key {self.config.key!r} does not open this store's unseal key "
                    "(another key of that name, or a seal record that was altered)"
                ) from None
        return take(plaintext)


class _mapped:
    """The client's errors as TransitUnavailable with a reason; never the token or the address."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        from skms.client import TransportError

        if error is None or isinstance(error, (TransitUnavailable, UnsealFailed)):
            return
        if isinstance(error, TransportError):
            if any(word in str(error) for word in ("SSL", "certificate", "TLS")):
                raise TransitUnavailable(
                    "the TLS handshake with the transit server failed (its certificate is not trusted, "
                    "or it refused ours: transit_ca_file, transit_client_cert)",
                    "tls",
                ) from None
            raise TransitUnavailable(
                f"the transit server is unreachable (no connection or no answer within {TIMEOUT:g} s)", "unreachable"
            ) from None
        if isinstance(error, Sealed):
            raise TransitUnavailable("the transit server is sealed", "sealed") from None
        if isinstance(error, Unauthenticated):
            raise TransitUnavailable(
                "the transit server refused the token (unknown, expired or revoked)", "token"
            ) from None
        if isinstance(error, Forbidden):
            raise TransitUnavailable(f"the transit token may not use the key {self.key!r}", "token") from None
        if isinstance(error, NotFound):
            raise TransitUnavailable(f"the transit server has no key {self.key!r}", "key") from None
        if isinstance(error, InvalidInput) and not isinstance(error, IntegrityError):
            return  # ours (the key's type): raised as it is
        if isinstance(error, SKMSError):
            raise TransitUnavailable(f"the transit server refused: {type(error).__name__}", "refused") from None


async def auto_unseal(sealer: Sealer, transit: TransitSeal) -> asyncio.Task[None] | None:
    """The server's own unseal through the transit server, at start.

    One try now; when it fails, a task that keeps trying (back-off doubling from FIRST_RETRY to
    ``retry_max`` seconds) until the store is unsealed, an operator seals it, or the server stops.
    The server meanwhile runs sealed (503 with the reason on /v1/sys/ready), as Vault does.
    """
    if await _attempt(sealer, transit, FIRST_RETRY):
        return None

    async def retry() -> None:
        delay = FIRST_RETRY
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, transit.config.retry_max)
            if await _attempt(sealer, transit, delay):
                return

    return asyncio.create_task(retry())


async def _attempt(sealer: Sealer, transit: TransitSeal, next_delay: float) -> bool:
    """True when done: unsealed, or nothing to do (not initialized, another method, an operator's seal)."""
    try:
        await sealer.auto_unseal()
    except (TransitUnavailable, UnsealFailed) as e:
        transit.last_failure = getattr(e, "reason", "refused")
        log.error(
            "auto-unseal by the transit server failed: %s; the store stays sealed, next try in %.1f s",
            e,
            next_delay,
            extra={"fields": {"transit_address": transit.config.base, "transit_key": transit.config.key,
                              "reason": transit.last_failure}},
        )  # fmt: skip
        return False
    except SKMSError as e:  # the store itself (unreachable database): try again too
        transit.last_failure = "store"
        log.error("auto-unseal failed: %s; next try in %.1f s", e, next_delay)
        return False
    if transit.last_failure is not None and not sealer.sealed:
        log.warning("auto-unseal by the transit server succeeded after failures")
    transit.last_failure = None
    return True


__all__ = ["KEY_TYPE", "TransitConfig", "TransitSeal", "auto_unseal", "seal_aad"]
