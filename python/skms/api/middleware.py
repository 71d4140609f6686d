"""ASGI middleware: request ids, structured access logs, metrics, and API-key authentication."""

import json
import logging
import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from skms.api.bodies import WITH_BODY
from skms.api.metrics import observe
from skms.api.problems import problem_of, request_id_from, send_problem
from skms.api.refusals import audit_bad_input, audit_failed_authentication
from skms.auth import Principal
from skms.context import CURRENT, RequestContext
from skms.errors import SKMSError, Unauthenticated

log = logging.getLogger("skms.access")

#: Who every request is when the security layer is off (Settings.insecure_no_security).
INSECURE_PRINCIPAL = Principal("insecure-no-security", "default", ("admin",), kind="none")

#: Routes that answer without credentials.
PUBLIC = frozenset({"/v1/sys/health", "/v1/sys/ready", "/v1/sys/seal-status", "/v1/sys/unseal", "/v1/sys/init",
                    "/v1/auth/token", "/v1/auth/jwks.json", "/metrics", "/schema", "/schema/openapi.json"})  # fmt: skip


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id of the request being served."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": CURRENT.get().request_id,
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry, separators=(",", ":"))


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("skms")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def _route_template(scope: Scope) -> str:
    template = scope.get("path_template")
    return str(template) if template else "unmatched"


def _key_type(scope: Scope) -> str:
    name = scope.get("path_params", {}).get("name")
    user = scope.get("user")
    if not name or user is None:
        return "-"
    return scope["app"].state.service.cached_type(user.tenant, name) or "-"


class PublicAdmission:
    """In-flight public requests with a body, in all and per source address (one worker)."""

    def __init__(self) -> None:
        self.total = 0
        self.by_source: dict[str, int] = {}

    def refusal(self, source: str, settings: Any) -> str | None:
        if self.total >= settings.max_in_flight_public:
            return "too many unauthenticated requests in progress; retry shortly"
        if self.by_source.get(source, 0) >= settings.max_in_flight_per_source:
            return "too many requests in progress from this address; retry shortly"
        return None

    def enter(self, source: str) -> None:
        self.total += 1
        self.by_source[source] = self.by_source.get(source, 0) + 1

    def leave(self, source: str) -> None:
        self.total -= 1
        left = self.by_source[source] - 1
        if left:
            self.by_source[source] = left
        else:
            del self.by_source[source]


class RequestMiddleware:
    """Request id in a header and every log line; access log and metrics after the response.

    Admission control: past ``max_in_flight`` concurrent requests in this worker, a request is
    answered 503 with Retry-After at once instead of queueing without bound. Public routes that
    take a body count apart (:class:`PublicAdmission`).
    """

    in_flight = 0
    public_admission = PublicAdmission()

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = request_id_from(incoming)
        state = scope["app"].state
        relay = state.get("unseal_relay")
        if relay is not None:
            relay.check()  # a seal or unseal on another worker holds for this request already
        settings = state.settings
        client = scope.get("client")
        source = client[0] if client else "-"
        # Public routes that read a body have a budget of their own, and each source a share of it:
        # unauthenticated callers, however slow or many, never take the slots of authenticated ones.
        public = scope["path"] in PUBLIC and scope.get("method") in WITH_BODY
        if public:
            refusal = self.public_admission.refusal(source, settings)
        elif RequestMiddleware.in_flight >= settings.max_in_flight:
            refusal = "the server is at capacity; retry shortly"
        else:
            refusal = None
        if refusal is not None:
            problem = {"type": "https://skms.dev/problems/overloaded", "title": "Overloaded", "status": 503,
                       "detail": refusal}  # fmt: skip
            await send_problem(send, problem, {b"retry-after": b"1", b"x-request-id": request_id.encode("latin-1"),
                                                b"connection": b"close"})  # fmt: skip
            return
        token = CURRENT.set(RequestContext(request_id, client[0] if client else None))
        if public:
            self.public_admission.enter(source)
        else:
            RequestMiddleware.in_flight += 1
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if public:
                self.public_admission.leave(source)
            else:
                RequestMiddleware.in_flight -= 1
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            key_type = _key_type(scope)
            observe(route, key_type, status, elapsed)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "request",
                    extra={
                        "fields": {
                            "method": scope.get("method"),
                            "route": route,
                            "status": status,
                            "ms": round(elapsed * 1000, 3),
                        }
                    },
                )
            CURRENT.reset(token)


class AuthMiddleware:
    """Resolves ``Authorization: Bearer <api-key>`` to a Principal in ``scope["user"]``.

    Public routes pass without credentials; every other route answers 401 problem+json.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"] in PUBLIC:
            await self.app(scope, receive, send)
            return
        try:
            headers = dict(scope.get("headers", []))
            state = scope["app"].state
            forwarded = headers.get(b"x-client-cert")
            if forwarded:  # the certificate a trusted TLS-terminating proxy verified (mTLS)
                certificates = getattr(state, "client_certificates", None)
                client = scope.get("client")
                if certificates is not None and certificates.trusts(client[0] if client else None):
                    scope["user"] = certificates.principal(forwarded.decode("latin-1"))
                    await self.app(scope, receive, audit_bad_input(scope, send))
                    return
            header = headers.get(b"authorization", b"").decode("latin-1")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise Unauthenticated("authentication required: send Authorization: Bearer <api-key>")
            token = token.strip()
            if token.startswith("skms_"):
                scope["user"] = await state.api_keys.authenticate(token)
            else:
                scope["user"] = await state.jwt.verify(token)
        except SKMSError as e:
            await audit_failed_authentication(scope, e)  # bounded under flood; never the token
            await send_problem(send, problem_of(e))
            return
        await self.app(scope, receive, audit_bad_input(scope, send))


class NoAuthMiddleware:
    """``insecure_no_security`` (benchmarking on loopback): every request is :data:`INSECURE_PRINCIPAL`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            scope["user"] = INSECURE_PRINCIPAL
        await self.app(scope, receive, send)
