"""Audit records of refused HTTP requests: failed authentication (401) and bad input (400, 413,
415, 422) from an authenticated caller, written through :class:`skms.audit.refusals.RefusalAudit`
(bounded under flood). Never the credential or the input: a failed authentication names the
reason, the source, the API key id when the token has one, and a keyed hash of the token."""

import re
from typing import Any, cast

from litestar.types import Message, Scope, Send

from skms.api.problems import PROBLEM_KEY
from skms.audit.refusals import RefusalAudit
from skms.auth import Principal
from skms.context import CURRENT
from skms.errors import SKMSError, Unauthenticated

#: The tenant whose auditors see failed authentications (no tenant is known before authentication).
REFUSAL_TENANT = "default"
AUTH_ACTION = "auth:Authenticate"
#: Answers that mean the caller's input was refused.
INVALID_STATUSES = frozenset({400, 413, 415, 422})

# Reasons, from the refusal's message (first match wins); the message itself is not recorded.
_REASONS = (
    ("authentication required", "missing-credentials"),
    ("revoked", "revoked"),
    ("expired", "expired"),
    ("unknown api key", "unknown-key"),
    ("signature", "bad-signature"),
    ("certificate", "bad-certificate"),
    ("does not match", "wrong-client"),
    ("could not be fetched", "issuer-unreachable"),
    ("key id", "unknown-key-id"),
    ("kid", "unknown-key-id"),
    ("tenant", "wrong-tenant"),
    ("issuer", "untrusted-issuer"),
    ("audience", "wrong-audience"),
    ("algorithm", "bad-algorithm"),
    ("not valid yet", "not-yet-valid"),
    ("in the future", "not-yet-valid"),
)
_API_KEY = re.compile(r"skms_([0-9a-f]{16})_")
_KINDS = {"keys": "key", "wallets": "wallet", "policies": "policy", "principals": "principal", "api-keys": "api-key"}
_TYPED = re.compile(r":\w+}")


def auth_reason(exc: SKMSError) -> str:
    """A short, fixed reason for a failed authentication."""
    text = str(exc).lower()
    # Everything else is a token of the wrong form (not an API key, not a compact JWS, claims missing).
    return next((reason for needle, reason in _REASONS if needle in text), "malformed")


def _refusals(scope: Scope) -> RefusalAudit | None:
    refusals: RefusalAudit | None = scope["app"].state.get("refusals")
    return refusals


async def audit_failed_authentication(scope: Scope, exc: SKMSError) -> None:
    """Records a 401 (the AuthMiddleware's refusal); other errors are not authentication failures."""
    if not isinstance(exc, Unauthenticated):
        return
    headers = dict(scope.get("headers", []))
    _, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    token = token.strip()
    if headers.get(b"x-client-cert"):
        resource = "mtls"
    elif not token:
        resource = "-"
    elif (match := _API_KEY.match(token)) is not None:
        resource = f"api-key:{match.group(1)}"  # the id is no secret: admins list it
    else:
        resource = "jwt" if token.count(".") == 2 else "token"
    await audit_authentication_failure(scope, auth_reason(exc), resource, token)


async def audit_authentication_failure(scope: Scope, reason: str, resource: str, credential: str = "") -> None:
    """Records a failed authentication: ``reason``, what was presented (``resource``) and a keyed
    hash of the ``credential`` (never the credential)."""
    refusals = _refusals(scope)
    if refusals is None:
        return
    await refusals.refused(
        principal="anonymous", tenant=REFUSAL_TENANT, action=AUTH_ACTION, resource=printable(resource),
        result="denied", detail=reason, context=CURRENT.get(), inputs=[credential] if credential else [],
    )  # fmt: skip


def printable(text: str, limit: int = 256) -> str:
    """Caller-chosen text made fit for an audit field: at most ``limit`` characters, no control characters."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


def _resource(scope: Scope, template: str) -> str:
    """``key:<name>`` and the like: the kind is the path segment before the name."""
    params = scope.get("path_params") or {}
    name = next((v for v in params.values() if isinstance(v, str)), None)
    if name is None:
        return "-"
    parts = template.split("/")
    at = next((i for i, p in enumerate(parts) if p.startswith("{")), 0)
    kind = _KINDS.get(parts[at - 1], parts[at - 1] or "resource") if at > 0 else "resource"
    return f"{kind}:{printable(name)}"


def audit_bad_input(scope: Scope, send: Send) -> Send:
    """``send`` that records a bad-input answer to an authenticated caller before it goes out
    (unless the security guard recorded it already, as it does for errors of the operation)."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] in INVALID_STATUSES:
            await _record_invalid(scope, message["status"])
        await send(message)

    return wrapped


async def _record_invalid(scope: Scope, status: int) -> None:
    user = scope.get("user")
    refusals = _refusals(scope)
    if refusals is None or not isinstance(user, Principal):
        return
    note: tuple[str, str, bool] | None = cast(dict[str, Any], scope).get(PROBLEM_KEY)
    if note is not None and note[2]:
        return
    title, field = (note[0], note[1]) if note is not None else (f"http-{status}", "")
    template = _TYPED.sub("}", str(scope.get("path_template") or scope.get("path", "")))
    await refusals.refused(
        principal=user.id, tenant=user.tenant, action=f"{scope.get('method', '')} {template}",
        resource=_resource(scope, template), result="invalid", detail=f"{title}: {field}" if field else title,
        context=CURRENT.get(), key=user.id,
    )  # fmt: skip
