"""API keys: ``skms_<id>_<secret>`` tokens, shown once, stored as a keyed hash.

The hash is HMAC-SHA256 under a pepper that is itself an SKMS-managed key
(``hmac-sha256`` in the internal tenant), so a stolen database does not let
anyone test guesses offline. Tokens are compared in constant time.
"""

import base64
import hashlib
import hmac
import os
import time
from dataclasses import dataclass, field

from skms.errors import NotFound, Unauthenticated
from skms.keys.service import KeyService
from skms.storage.base import ApiKeyRecord

SYSTEM_TENANT = "__system"
PEPPER_KEY = "api-key-pepper"
PREFIX = "skms_"
#: A verified token is trusted this long without a store read; revocation takes effect within it.
AUTH_CACHE_SECONDS = 5.0


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
        self._pepper: bytes | None = None
        #: key id -> (trusted until, SHA-256 of the whole token, principal)
        self._verified: dict[str, tuple[float, bytes, Principal]] = {}
        service.sealer.on_seal.append(self._forget)

    def _forget(self) -> None:
        self._pepper = None
        self._verified.clear()

    async def _get_pepper(self) -> bytes:
        if self._pepper is None:
            try:
                _, _, material = await self._service._raw_material(SYSTEM_TENANT, PEPPER_KEY, None)
            except NotFound:
                await self._service.create_key(SYSTEM_TENANT, PEPPER_KEY, "hmac-sha256")
                _, _, material = await self._service._raw_material(SYSTEM_TENANT, PEPPER_KEY, None)
            self._pepper = material.expose_secret()
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
            secret_hash=hmac.digest(await self._get_pepper(), secret, "sha256"), roles=list(roles),
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
        try:
            record = await self._service.store.get_api_key(key_id)
        except NotFound:
            raise Unauthenticated("unknown API key") from None
        expected = hmac.digest(await self._get_pepper(), secret, "sha256")
        if not hmac.compare_digest(record.secret_hash, expected):
            raise Unauthenticated("unknown API key")
        if record.revoked_at is not None:
            raise Unauthenticated("the API key was revoked")
        if record.expires_at is not None and record.expires_at <= now:
            raise Unauthenticated("the API key expired")
        principal = Principal(record.principal, record.tenant, tuple(record.roles))
        until = now + AUTH_CACHE_SECONDS
        if record.expires_at is not None:
            until = min(until, record.expires_at)
        self._verified[key_id] = (until, fingerprint, principal)
        return principal

    async def list(self, tenant: str | None) -> list[ApiKeyRecord]:
        return await self._service.store.list_api_keys(tenant)

    async def revoke(self, key_id: str) -> None:
        await self._service.store.revoke_api_key(key_id, time.time())
        self._verified.pop(key_id, None)
