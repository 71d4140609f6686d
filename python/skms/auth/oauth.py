"""OAuth 2.0 client credentials: short-lived JWTs signed by an Ed25519 key that SKMS manages.

A registered client is an API key whose principal is the client; ``client_id`` is
the key's id and ``client_secret`` the key's token. The signing key
(``__system``/``oauth-signing``) rotates like any key; every enabled version is
in the JWKS (``kid`` = key id prefix and version), so tokens signed before a
rotation still verify until they expire.
"""

import json
import time
from typing import Any

from skms._native import ed25519
from skms.auth.api_keys import SYSTEM_TENANT, ApiKeyManager, Principal
from skms.auth.jwt import Issuer
from skms.crypto.keys import b64url
from skms.errors import NotFound, Unauthenticated
from skms.keys import KeyService

SIGNING_KEY = "oauth-signing"
TOKEN_SECONDS = 900
SIGNING_ROTATION = 30 * 24 * 3600


class TokenIssuer:
    def __init__(self, service: KeyService, api_keys: ApiKeyManager, issuer: str, audience: str = "skms") -> None:
        self._service = service
        self._api_keys = api_keys
        self.issuer = issuer
        self.audience = audience
        # Its tokens act only in the tenant of the client they were issued to, and only while that
        # client (an API key) is neither revoked nor expired: `vouch` checks on every use.
        self.self_issuer = Issuer(
            issuer, audience, roles_claim="roles", loader=self.jwks, max_lifetime=TOKEN_SECONDS, vouch=self.vouch
        )

    async def vouch(self, claims: dict[str, Any], principal: Principal) -> Principal:
        """The principal of a verified token of ours: its client's, as the client is now."""
        client_id = claims.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise Unauthenticated("the token names no OAuth client (client_id)")
        client = await self._api_keys.active_client(client_id)
        if client.tenant != principal.tenant or client.principal != principal.id:
            raise Unauthenticated("the token's tenant or subject is not that of the client it was issued to")
        return Principal(client.principal, client.tenant, tuple(client.roles), kind="jwt")

    async def _signing_key(self) -> tuple[str, Any]:
        try:
            record, version, material = await self._service.raw_material(SYSTEM_TENANT, SIGNING_KEY, None)
        except NotFound:
            await self._service.create_key(
                SYSTEM_TENANT, SIGNING_KEY, "ed25519", policy={"rotation_period": SIGNING_ROTATION}
            )
            record, version, material = await self._service.raw_material(SYSTEM_TENANT, SIGNING_KEY, None)
        return f"{record.id[:8]}-v{version}", material

    async def jwks(self) -> dict[str, Any]:
        """Every enabled version of the signing key as an OKP JWK."""
        try:
            info = await self._service.get_key(SYSTEM_TENANT, SIGNING_KEY)
        except NotFound:
            await self._signing_key()
            info = await self._service.get_key(SYSTEM_TENANT, SIGNING_KEY)
        keys = [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "use": "sig",
                "alg": "EdDSA",
                "kid": f"{info.id[:8]}-v{v.version}",
                "x": b64url(v.public_key),
            }
            for v in info.versions
            if v.state == "enabled" and v.public_key is not None
        ]
        return {"keys": keys}

    async def issue(self, client_id: str, client_secret: str) -> dict[str, Any]:
        principal = await self._api_keys.authenticate(client_secret)
        if not client_secret.startswith(f"skms_{client_id}_"):
            raise Unauthenticated("client_id does not match the client secret")
        now = int(time.time())
        client = await self._service.store.get_api_key(client_id)
        expires = now + TOKEN_SECONDS
        if client.expires_at is not None:
            expires = min(expires, int(client.expires_at))
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": principal.id,
            "tenant": principal.tenant,
            "roles": list(principal.roles),
            "iat": now,
            "nbf": now,
            "exp": expires,
            "client_id": client_id,
        }
        token = await self.sign(claims)
        return {"access_token": token, "token_type": "Bearer", "expires_in": expires - now}

    async def sign(self, claims: dict[str, Any]) -> str:
        """``claims`` as a JWT signed with the current signing key (EdDSA)."""
        kid, seed = await self._signing_key()
        header = b64url(json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": kid}, separators=(",", ":")).encode())
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = ed25519.sign(seed, f"{header}.{payload}".encode())
        return f"{header}.{payload}.{b64url(signature)}"
