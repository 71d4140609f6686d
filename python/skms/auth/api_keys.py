"""API keys: ``skms_<id>_<secret>`` tokens, shown once, stored as a keyed hash.

The hash is HMAC-SHA256 under a pepper that is itself an SKMS-managed key
(``hmac-sha256`` in the internal tenant), so a stolen database does not let
anyone test guesses offline. Tokens are compared in constant time.
"""

import asyncio
import base64
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from skms._native import SecretBytes
from skms.crypto import symmetric
from skms.errors import NotFound, Unauthenticated
from skms.keys.service import KeyService
from skms.storage.base import ApiKeyRecord

SYSTEM_TENANT = "__system"
PEPPER_KEY = "api-key-pepper"
PREFIX = "skms_"
#: A verified token (and a client record behind an OAuth token) is trusted this long without a
#: store read, in each worker: the bound within which a revocation reaches every worker and node
#: (Redis makes it immediate). A second of revocation lag at most, with room for the store read.
AUTH_CACHE_SECONDS = 0.5
#: The ``tenant`` of revocation notices on the cross-node invalidation hooks (``KeyService.on_change``);
#: no key lives in it (tenants starting with ``__`` are SKMS's own).
REVOCATION_SCOPE = "__api-keys"


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    tenant: str
    roles: tuple[str, ...] = ()
    kind: str = "api-key"
    attributes: dict[str, str] = field(default_factory=dict)


class ApiKeyManager:
    def __init__(self, service: KeyService) -> None:
        self._service = service
        self._pepper: SecretBytes | None = None
        #: key id -> (trusted until, SHA-256 of the whole token, principal)
        self._verified: dict[str, tuple[float, bytes, Principal]] = {}
        #: key id -> (trusted until, record): the clients behind OAuth tokens
        self._records: dict[str, tuple[float, ApiKeyRecord]] = {}
        #: key id -> the store read under way (concurrent misses share one read)
        self._reading: dict[str, asyncio.Future[ApiKeyRecord]] = {}
        service.sealer.on_seal.append(self._forget)

    def _forget(self) -> None:
        self._pepper = None
        self._verified.clear()
        self._records.clear()

    def forget(self, scope: str, key_id: str) -> None:
        """Drops what this worker trusts of ``key_id`` (a revocation here or on another node).

        Shaped as a ``KeyService.on_change`` / Redis invalidation hook: other scopes are ignored.
        """
        if scope == REVOCATION_SCOPE:
            self._verified.pop(key_id, None)
            self._records.pop(key_id, None)

    async def _read(self, key_id: str) -> ApiKeyRecord:
        """The stored record; concurrent callers for one key id share one store read."""
        pending = self._reading.get(key_id)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this request was cancelled
                # the reading request was cancelled (its client left): read here instead
        future: asyncio.Future[ApiKeyRecord] = asyncio.get_running_loop().create_future()
        self._reading[key_id] = future
        try:
            record = await self._service.store.get_api_key(key_id)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as e:
            future.set_exception(e)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            if self._reading.get(key_id) is future:
                del self._reading[key_id]
        future.set_result(record)
        return record

    async def _get_pepper(self) -> SecretBytes:
        if self._pepper is None:
            try:
                _, _, material = await self._service.raw_material(SYSTEM_TENANT, PEPPER_KEY, None)
            except NotFound:
                await self._service.create_key(SYSTEM_TENANT, PEPPER_KEY, "hmac-sha256")
                _, _, material = await self._service.raw_material(SYSTEM_TENANT, PEPPER_KEY, None)
            self._pepper = material  # native HMACs on it: no copy outlives a seal
        return self._pepper

    async def create(
        self,
        tenant: str,
        principal: str,
        roles: list[str],
        description: str = "",
        ttl: float | None = None,
    ) -> tuple[str, ApiKeyRecord]:
        """A new API key; the token is returned this once."""
        key_id = os.urandom(8).hex()
        secret = os.urandom(32)
        now = time.time()
        record = ApiKeyRecord(
            id=key_id, tenant=tenant, principal=principal,
            secret_hash=symmetric.mac("hmac-sha256", await self._get_pepper(), secret), roles=list(roles),
            description=description, created_at=now, expires_at=None if ttl is None else now + ttl,
        )  # fmt: skip
        await self._service.store.put_api_key(record)
        token = f"{PREFIX}{key_id}_{base64.urlsafe_b64encode(secret).rstrip(b'=').decode()}"
        return token, record

    async def authenticate(self, token: str) -> Principal:
        if not token.startswith(PREFIX) or token.count("_") < 2:
            raise Unauthenticated("the bearer token is not an SKMS API key")
        key_id, _, encoded = token[len(PREFIX) :].partition("_")
        now = time.time()
        # A token verified lately is known by its SHA-256, compared in constant time: one C call
        # per request instead of decoding and HMAC-ing it under the pepper again.
        fingerprint = hashlib.sha256(token.encode()).digest()
        cached = self._verified.get(key_id)
        if cached is not None and cached[0] > now and hmac.compare_digest(cached[1], fingerprint):
            return cached[2]
        try:
            secret = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError:
            raise Unauthenticated("the API key is malformed") from None
        # One spelling per secret: base64 ignores the spare bits of the last character, so
        # without this check the same secret would have other token spellings.
        if base64.urlsafe_b64encode(secret).rstrip(b"=").decode() != encoded:
            raise Unauthenticated("the API key is malformed")
        try:
            record = await self._read(key_id)
        except NotFound:
            raise Unauthenticated("unknown API key") from None
        expected = symmetric.mac("hmac-sha256", await self._get_pepper(), secret)
        if not hmac.compare_digest(record.secret_hash, expected):
            raise Unauthenticated("unknown API key")
        _check_active(record, now, "API key")
        principal = Principal(record.principal, record.tenant, tuple(record.roles))
        # Trusted from the time the read began: a revocation committed during the read counts.
        self._verified[key_id] = (_until(record, now), fingerprint, principal)
        return principal

    async def active_client(self, key_id: str) -> ApiKeyRecord:
        """The record of an OAuth client (an API key) that is neither revoked nor expired.

        Checked on every use of a token SKMS issued, within :data:`AUTH_CACHE_SECONDS`, so that
        revoking the client also ends the tokens issued to it.
        """
        now = time.time()
        cached = self._records.get(key_id)
        if cached is not None and cached[0] > now:
            record = cached[1]
        else:
            try:
                record = await self._read(key_id)
            except NotFound:
                raise Unauthenticated("the token's OAuth client is unknown") from None
            self._records[key_id] = (_until(record, now), record)
        _check_active(record, now, "OAuth client")
        return record

    async def list(self, tenant: str | None) -> list[ApiKeyRecord]:
        return await self._service.store.list_api_keys(tenant)

    async def revoke(self, key_id: str) -> None:
        await self._service.store.revoke_api_key(key_id, time.time())
        self.forget(REVOCATION_SCOPE, key_id)
        # Other workers and nodes: at once through Redis when configured, else within AUTH_CACHE_SECONDS.
        hooks: list[Callable[[str, str], None]] = self._service.on_change
        for hook in hooks:
            hook(REVOCATION_SCOPE, key_id)


def _check_active(record: ApiKeyRecord, now: float, what: str) -> None:
    if record.revoked_at is not None:
        raise Unauthenticated(f"the {what} was revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise Unauthenticated(f"the {what} expired")


def _until(record: ApiKeyRecord, now: float) -> float:
    until = now + AUTH_CACHE_SECONDS
    return until if record.expires_at is None else min(until, record.expires_at)
