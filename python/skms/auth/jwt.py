"""JWT bearer tokens: EdDSA/Ed25519, ES256 (P-256) and RS256, verified against issuers' JWKS.

Parsing, JWK import and signature checks are joserfc's (a maintained JOSE library); which
algorithm a key may verify, and every claim rule, are SKMS's:

- refused: ``alg: none``, HMAC algorithms (a public key can never be used as an HMAC secret),
  an ``alg`` that does not match the key's type, ``crit``/``b64`` headers, unknown ``kid``, bad
  signatures, the wrong ``iss`` or ``aud``;
- ``exp`` is required; ``exp``, ``nbf`` and ``iat`` must be finite numbers (not strings, booleans,
  ``1e999`` or NaN); a token lives at most its issuer's ``max_lifetime`` (``exp`` - ``iat``, or
  ``exp`` - now without ``iat``) and is used only within ``nbf``..``exp`` (with a small clock skew);
- an issuer is bound to its tenants: a ``tenant`` claim naming any other tenant is refused, so an
  issuer trusted for one tenant never reaches another. SKMS's own tokens are also checked against
  the client they were issued to (``vouch``): its tenant, and that it is not revoked.

Issuers' JWKS come from a file or a URL (cached, refetched when an unknown ``kid`` appears, at
most every 30 s). Every failure is :class:`Unauthenticated` (401), never a server error.
"""

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc import jws
from joserfc.errors import JoseError, UnsupportedAlgorithmError
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from skms.auth.api_keys import Principal
from skms.errors import InvalidInput, Unauthenticated

CLOCK_SKEW = 60.0
REFETCH_SECONDS = 30.0
#: Accepted ``alg`` values and the key each needs (``EdDSA`` and RFC 9864's ``Ed25519`` alike, for
#: Ed25519 keys only).
ALGORITHMS = {"EdDSA": "Ed25519", "Ed25519": "Ed25519", "ES256": "P-256", "RS256": "RSA"}
#: NumericDate claims beyond this many seconds are nonsense (and past what a float holds exactly).
MAX_NUMERIC_DATE = 2**53
#: Longest lifetime accepted of an external issuer's tokens unless configured (``jwt_max_lifetime``).
DEFAULT_MAX_LIFETIME = 86_400.0

Key = OKPKey | ECKey | RSAKey
#: (tenant claim and identity checked so far) -> the principal, or Unauthenticated.
Vouch = Callable[[dict[str, Any], Principal], Awaitable[Principal]]


class AlgorithmRegistry(JWSRegistry):
    """joserfc's registry narrowed to :data:`ALGORITHMS`.

    joserfc warns on every use of ``EdDSA`` (deprecated by RFC 9864 for its curve ambiguity);
    SKMS accepts it for Ed25519 keys only, so the warning does not apply.
    """

    def get_alg(self, name: str) -> JWSAlgModel:
        if name not in ALGORITHMS or name not in self.algorithms:
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


#: Unregistered header parameters are ignored (RFC 7515 §4); ``crit`` ones are refused below.
REGISTRY = AlgorithmRegistry(algorithms=list(ALGORITHMS), strict_check_header=False)


def key_from_jwk(jwk: dict[str, Any]) -> tuple[frozenset[str], Key]:
    """(the algorithms it may verify, the public key) of a JWK; they follow from the key type alone."""
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if jwk.get("use", "sig") != "sig":
        raise InvalidInput(f"the JWK is for {jwk.get('use')!r}, not signatures")
    if kty == "OKP" and crv == "Ed25519":
        curve = "Ed25519"
    elif kty == "EC" and crv == "P-256":
        curve = "P-256"
    elif kty == "RSA":
        curve = "RSA"
    else:
        raise InvalidInput(f"unsupported JWK (kty={kty!r}, crv={crv!r}); use Ed25519, P-256 or RSA")
    try:
        key = JWKRegistry.import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError) as e:
        raise InvalidInput(f"the JWK cannot be imported ({type(e).__name__})") from None
    if isinstance(key, RSAKey) and key.public_key.key_size < 2048:
        raise InvalidInput("RSA JWKs must be at least 2048 bits")
    if not isinstance(key, OKPKey | ECKey | RSAKey):
        raise InvalidInput(f"unsupported JWK (kty={kty!r})")
    algorithms = frozenset(a for a, c in ALGORITHMS.items() if c == curve)
    if "alg" in jwk and jwk["alg"] not in algorithms:
        raise InvalidInput(f"the JWK names alg {jwk['alg']!r}, which its key type does not allow")
    return algorithms, key


@dataclass
class Issuer:
    """A trusted token issuer."""

    issuer: str
    audience: str
    jwks_file: str | None = None
    jwks_url: str | None = None
    #: Claim holding the roles (a list, or a space-separated string such as OAuth "scope").
    roles_claim: str = "roles"
    #: Tenant of the tokens without a "tenant" claim.
    tenant: str = "default"
    #: Tenants a "tenant" claim may name (``{tenant}`` when None and there is no ``vouch``); None
    #: with a ``vouch``: the vouch decides (SKMS's own issuer: the tenant of the token's client).
    tenants: frozenset[str] | None = None
    #: Longest ``exp`` - ``iat`` (or ``exp`` - now) accepted, seconds.
    max_lifetime: float = DEFAULT_MAX_LIFETIME
    #: Checks a verified token against what the issuer knows now (SKMS's own: the client).
    vouch: Vouch | None = None
    keys: dict[str, tuple[frozenset[str], Key]] = field(default_factory=dict)
    fetched_at: float = 0.0
    static_keys: dict[str, dict[str, Any]] | None = None
    #: Produces the JWKS (for this server's own signing key, which rotates).
    loader: Callable[[], Awaitable[dict[str, Any]]] | None = None

    def __post_init__(self) -> None:
        if self.tenants is None and self.vouch is None:
            self.tenants = frozenset({self.tenant})
        elif self.tenants is not None:
            self.tenants = frozenset(self.tenants) | {self.tenant}

    async def key(self, kid: str) -> tuple[frozenset[str], Key]:
        # This server's own keys (a loader) are local: reread at once after a rotation.
        if kid not in self.keys and (self.loader is not None or time.monotonic() - self.fetched_at > REFETCH_SECONDS):
            try:
                await self.refresh()
            except (OSError, ValueError, RecursionError, httpx.HTTPError) as e:
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
        entries = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(entries, list):
            raise ValueError("the JWKS is not an object with a list of keys")
        keys = {}
        for jwk in entries:
            if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
                try:
                    keys[jwk["kid"]] = key_from_jwk(jwk)
                except InvalidInput:
                    continue  # one bad key does not take the issuer's other keys down
        self.keys = keys


def _refuse_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    """A NumericDate claim (RFC 7519 §2): absent, or a finite number of seconds since the epoch."""
    if name not in claims:
        return None
    value = claims[name]
    # bool is an int in Python; 1e999 decodes to inf; huge ints overflow a float; NaN fails the range.
    if type(value) not in (int, float) or not -MAX_NUMERIC_DATE <= value <= MAX_NUMERIC_DATE:
        raise Unauthenticated(f"the JWT claim {name!r} must be a finite number of seconds since the epoch")
    return float(value)


def _check_times(claims: dict[str, Any], now: float, max_lifetime: float) -> None:
    exp = _numeric_date(claims, "exp")
    nbf = _numeric_date(claims, "nbf")
    iat = _numeric_date(claims, "iat")
    if exp is None:
        raise Unauthenticated("the JWT has no expiry (exp)")
    if iat is not None and iat > now + CLOCK_SKEW:
        raise Unauthenticated("the JWT is issued in the future (iat)")
    lifetime = exp - (iat if iat is not None else now)
    if lifetime > max_lifetime:
        raise Unauthenticated(
            f"the JWT lives {lifetime:.0f} s (exp - {'iat' if iat is not None else 'now'}); "
            f"its issuer's tokens may live at most {max_lifetime:.0f} s"
        )
    if now > exp + CLOCK_SKEW:
        raise Unauthenticated("the JWT expired")
    if nbf is not None and now + CLOCK_SKEW < nbf:
        raise Unauthenticated("the JWT is not valid yet (nbf)")


class JwtVerifier:
    def __init__(self, issuers: list[Issuer]) -> None:
        self.issuers = {i.issuer: i for i in issuers}

    def add(self, issuer: Issuer) -> None:
        self.issuers[issuer.issuer] = issuer

    async def verify(self, token: str, now: float | None = None) -> Principal:
        if token.count(".") != 2:
            raise Unauthenticated("the bearer token is neither an API key nor a JWT")
        try:
            signed = jws.extract_compact(token.encode("ascii"), registry=REGISTRY)
            header = signed.headers()
            claims = json.loads(signed.payload, parse_constant=_refuse_constants)
        except (JoseError, ValueError, TypeError, AttributeError, RecursionError):
            raise Unauthenticated("the JWT is not a compact JWS with a JSON header and payload") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise Unauthenticated("the JWT header and payload must be JSON objects")
        try:
            REGISTRY.check_header(header)  # registered parameters have their registered types
        except (JoseError, ValueError, TypeError):
            raise Unauthenticated("the JWT header has a malformed parameter") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            shown = alg[:32] if isinstance(alg, str) else alg
            raise Unauthenticated(f"JWT algorithm {shown!r} is not accepted (EdDSA, ES256 or RS256)")
        if "crit" in header or "b64" in header:
            raise Unauthenticated("the JWT has critical or b64 header parameters, which SKMS does not take")
        iss = claims.get("iss")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise Unauthenticated("the JWT issuer is not trusted")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthenticated("the JWT has no key id (kid)")
        key_algorithms, key = await issuer.key(kid)
        if alg not in key_algorithms:
            raise Unauthenticated(f"the JWT says {alg} but its key is for {'/'.join(sorted(key_algorithms))}")
        try:
            valid = jws.validate_compact(signed, key, registry=REGISTRY)
        except (JoseError, ValueError, TypeError):
            valid = False
        if not valid:
            raise Unauthenticated("the JWT signature is invalid")
        _check_times(claims, time.time() if now is None else now, issuer.max_lifetime)
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
        principal = Principal(subject, _tenant(claims, issuer), tuple(roles), kind="jwt")
        if issuer.vouch is not None:
            principal = await issuer.vouch(claims, principal)
        return principal


def _tenant(claims: dict[str, Any], issuer: Issuer) -> str:
    """The tenant a verified token acts in: one its issuer is bound to, never another."""
    if "tenant" not in claims:
        return issuer.tenant
    tenant = claims["tenant"]
    if not isinstance(tenant, str) or not tenant:
        raise Unauthenticated("the JWT claim 'tenant' must be a non-empty string")
    if tenant.startswith("__"):
        raise Unauthenticated("tenants starting with __ are internal to SKMS")
    if issuer.tenants is not None and tenant not in issuer.tenants:
        raise Unauthenticated(f"the JWT names tenant {tenant[:64]!r}, which its issuer is not trusted for")
    return tenant


__all__ = ["ALGORITHMS", "CLOCK_SKEW", "REFETCH_SECONDS", "Issuer", "JwtVerifier", "key_from_jwk"]
