"""JWT bearer tokens: EdDSA (Ed25519), ES256 (P-256) and RS256, verified against issuers' JWKS.

Refused: ``alg: none``, HMAC algorithms (so a public key can never be used as an
HMAC secret), an ``alg`` that does not match the key's type, unknown ``kid``,
bad signatures, and tokens outside ``nbf``/``exp`` (with a small clock skew), or
with the wrong ``iss`` or ``aud``. Issuers' JWKS come from a file or a URL
(cached, refetched when an unknown ``kid`` appears, at most every 30 s).
"""

import base64
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from skms.auth.api_keys import Principal
from skms.errors import InvalidInput, Unauthenticated

CLOCK_SKEW = 60.0
REFETCH_SECONDS = 30.0
ALGORITHMS = ("EdDSA", "ES256", "RS256")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise Unauthenticated("the token is not valid base64url") from None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(text: str) -> int:
    return int.from_bytes(b64url_decode(text), "big")


def key_from_jwk(jwk: dict[str, Any]) -> tuple[str, Any]:
    """(algorithm, public key) of a JWK; the algorithm follows from the key type alone."""
    kty = jwk.get("kty")
    if kty == "OKP" and jwk.get("crv") == "Ed25519":
        return "EdDSA", ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    if kty == "EC" and jwk.get("crv") == "P-256":
        numbers = ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), ec.SECP256R1())
        return "ES256", numbers.public_key()
    if kty == "RSA":
        key = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
        if key.key_size < 2048:
            raise InvalidInput("RSA JWKs must be at least 2048 bits")
        return "RS256", key
    raise InvalidInput(f"unsupported JWK (kty={kty!r}, crv={jwk.get('crv')!r}); use Ed25519, P-256 or RSA")


def _verify(alg: str, key: Any, signed: bytes, signature: bytes) -> bool:
    try:
        if alg == "EdDSA":
            key.verify(signature, signed)
        elif alg == "ES256":
            if len(signature) != 64:
                return False
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        elif alg == "RS256":
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
        return True
    except InvalidSignature:
        return False


@dataclass
class Issuer:
    """A trusted token issuer."""

    issuer: str
    audience: str
    jwks_file: str | None = None
    jwks_url: str | None = None
    #: Claim holding the roles (a list, or a space-separated string such as OAuth "scope").
    roles_claim: str = "roles"
    #: Tenant for this issuer's principals (or the claim "tenant" when present).
    tenant: str = "default"
    keys: dict[str, tuple[str, Any]] = field(default_factory=dict)
    fetched_at: float = 0.0
    static_keys: dict[str, dict[str, Any]] | None = None
    #: Produces the JWKS (for this server's own signing key, which rotates).
    loader: Callable[[], Awaitable[dict[str, Any]]] | None = None

    async def key(self, kid: str) -> tuple[str, Any]:
        # This server's own keys (a loader) are local: reread at once after a rotation.
        if kid not in self.keys and (self.loader is not None or time.monotonic() - self.fetched_at > REFETCH_SECONDS):
            try:
                await self.refresh()
            except (OSError, ValueError, httpx.HTTPError) as e:
                raise Unauthenticated(f"the issuer's keys could not be fetched ({type(e).__name__})") from None
        try:
            return self.keys[kid]
        except KeyError:
            raise Unauthenticated("the token's key id (kid) is unknown to its issuer") from None

    async def refresh(self) -> None:
        self.fetched_at = time.monotonic()
        if self.loader is not None:
            jwks = await self.loader()
        elif self.static_keys is not None:
            jwks = {"keys": list(self.static_keys.values())}
        elif self.jwks_file:
            with open(self.jwks_file) as f:
                jwks = json.load(f)
        elif self.jwks_url:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(self.jwks_url)
                response.raise_for_status()
                jwks = response.json()
        else:
            return
        keys = {}
        for jwk in jwks.get("keys", []):
            if "kid" in jwk:
                try:
                    keys[jwk["kid"]] = key_from_jwk(jwk)
                except (InvalidInput, KeyError, ValueError):
                    continue
        self.keys = keys


class JwtVerifier:
    def __init__(self, issuers: list[Issuer]) -> None:
        self.issuers = {i.issuer: i for i in issuers}

    def add(self, issuer: Issuer) -> None:
        self.issuers[issuer.issuer] = issuer

    async def verify(self, token: str, now: float | None = None) -> Principal:
        parts = token.split(".")
        if len(parts) != 3:
            raise Unauthenticated("the bearer token is neither an API key nor a JWT")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
        except ValueError:
            raise Unauthenticated("the JWT header or payload is not JSON") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise Unauthenticated("the JWT header and payload must be JSON objects")
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise Unauthenticated(f"JWT algorithm {alg!r} is not accepted (EdDSA, ES256 or RS256)")
        iss = claims.get("iss")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise Unauthenticated("the JWT issuer is not trusted")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthenticated("the JWT has no key id (kid)")
        key_alg, key = await issuer.key(kid)
        if key_alg != alg:
            raise Unauthenticated(f"the JWT says {alg} but its key is for {key_alg}")
        if not _verify(alg, key, f"{parts[0]}.{parts[1]}".encode(), b64url_decode(parts[2])):
            raise Unauthenticated("the JWT signature is invalid")
        now = time.time() if now is None else now
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float):
            raise Unauthenticated("the JWT has no expiry (exp)")
        if now > exp + CLOCK_SKEW:
            raise Unauthenticated("the JWT expired")
        if isinstance(nbf, int | float) and now + CLOCK_SKEW < nbf:
            raise Unauthenticated("the JWT is not valid yet (nbf)")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if issuer.audience not in audiences:
            raise Unauthenticated("the JWT is for another audience")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise Unauthenticated("the JWT has no subject (sub)")
        raw_roles = claims.get(issuer.roles_claim, [])
        if isinstance(raw_roles, str):
            roles = raw_roles.split()
        elif isinstance(raw_roles, list):
            roles = [r for r in raw_roles if isinstance(r, str)]
        else:
            raise Unauthenticated(f"the JWT claim {issuer.roles_claim!r} must be a list or a string")
        tenant = claims.get("tenant") if isinstance(claims.get("tenant"), str) else issuer.tenant
        if str(tenant).startswith("__"):
            raise Unauthenticated("tenants starting with __ are internal to SKMS")
        return Principal(subject, str(tenant), tuple(roles), kind="jwt")


def sign_jwt(claims: dict[str, Any], kid: str, private_key: ed25519.Ed25519PrivateKey) -> str:
    """An EdDSA-signed JWT (what the OAuth token endpoint issues)."""
    header = b64url(json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": kid}, separators=(",", ":")).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = private_key.sign(f"{header}.{payload}".encode())
    return f"{header}.{payload}.{b64url(signature)}"
