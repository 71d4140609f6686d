"""The one place that maps errors to HTTP: ``application/problem+json`` (RFC 9457)."""

import json
import logging
import math
import os
import re
from typing import Any, cast

from asyncpg.exceptions import CharacterNotInRepertoireError
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIResponse, Operation, Reference, Schema
from litestar.types import Send

from skms import errors
from skms.audit.events import was_audited
from skms.context import CURRENT, RequestContext

log = logging.getLogger("skms.api")
access_log = logging.getLogger("skms.access")

PROBLEM = "application/problem+json"
#: Where note_problem leaves (title, field, audited) in the request's scope.
PROBLEM_KEY = "skms_problem"
TYPE_BASE = "https://skms.dev/problems/"

# Most specific first: the first class that matches decides.
STATUS: list[tuple[type[errors.SKMSError], int]] = [
    (errors.Unauthenticated, 401),
    (errors.RateLimited, 429),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.UnknownAlgorithm, 422),
    (errors.AlgorithmNotAllowed, 422),
    (errors.Conflict, 409),
    (errors.InvalidState, 409),
    (errors.PolicyViolation, 422),
    (errors.UnsupportedOperation, 422),
    (errors.Sealed, 503),
    (errors.StorageError, 503),
    (errors.HsmUnavailable, 503),  # token removed, PIN refused, sessions lost: retry once it is back
    (errors.HsmConfigError, 503),
    (errors.TransitUnavailable, 503),  # the transit seal's server is down, sealed or refuses us
    (errors.HsmOperationRefused, 422),
    (errors.UnsealFailed, 400),
    (errors.StoreCorrupted, 500),  # before IntegrityError: corruption at rest is the server's fault
    (errors.IntegrityError, 400),
    (errors.InvalidInput, 400),
    (errors.InternalError, 500),
    (errors.HsmError, 500),  # after InvalidInput/IntegrityError: their HSM kinds keep those codes
]


def _kebab(name: str) -> str:
    return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")


def problem_of(exc: errors.SKMSError) -> dict[str, Any]:
    status = next((code for cls, code in STATUS if isinstance(exc, cls)), 500)
    kind = type(exc).__name__
    problem = {"type": TYPE_BASE + _kebab(kind), "title": kind, "status": status, "detail": str(exc)}
    field = getattr(exc, "field", None)
    if field:
        problem["field"] = field
    return problem


def request_id_from(incoming: str) -> str:
    """The client's X-Request-ID when it is usable, else a fresh one."""
    return incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else os.urandom(12).hex()


def _respond(
    problem: dict[str, Any], headers: dict[str, str] | None = None, request: Request[Any, Any, Any] | None = None
) -> Response[Any]:
    headers = dict(headers or {})
    if CURRENT.get().request_id == "-" and request is not None:
        # Answered by the router itself (unknown route or method): no middleware ran, so id and log it here.
        request_id = request_id_from(request.headers.get("x-request-id", ""))
        headers["x-request-id"] = request_id
        token = CURRENT.set(RequestContext(request_id, request.client.host if request.client else None))
        try:
            fields = {"method": request.method, "route": "unmatched", "status": problem["status"], "ms": 0.0}
            access_log.info("request", extra={"fields": fields})
        finally:
            CURRENT.reset(token)
    return Response(content=problem, status_code=problem["status"], media_type=PROBLEM, headers=headers)


def note_problem(request: Request[Any, Any, Any], problem: dict[str, Any], exc: Exception | None = None) -> None:
    """Leaves the answer's kind in the scope, for the audit record of a refused input
    (skms.api.refusals): title, field, and whether the security guard audited it already."""
    audited = was_audited(exc)
    cast(dict[str, Any], request.scope)[PROBLEM_KEY] = (problem["title"], str(problem.get("field", "")), audited)


def skms_error(request: Request[Any, Any, Any], exc: errors.SKMSError) -> Response[Any]:
    problem = problem_of(exc)
    note_problem(request, problem, exc)
    if problem["status"] >= 500:
        log.error("request failed: %s", problem["title"])
    headers = {"WWW-Authenticate": 'Bearer realm="skms"'} if problem["status"] == 401 else None
    if isinstance(exc, errors.RateLimited):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    return _respond(problem, headers)


def validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    problem: dict[str, Any] = {
        "type": TYPE_BASE + "validation",
        "title": "ValidationError",
        "status": 400,
        "detail": exc.detail,
    }
    extra = exc.extra if isinstance(exc.extra, list) else []
    fields = [e.get("key") for e in extra if isinstance(e, dict) and e.get("key")]
    messages = [e.get("message") for e in extra if isinstance(e, dict) and e.get("message")]
    if messages:
        problem["detail"] = "; ".join(str(m) for m in messages)
    detail = str(problem["detail"])
    named = _FIELD_IN_MESSAGE.search(detail)
    # The framework keeps the path of a nested error as the key ("policy"), "data" for the body itself.
    where = next((f for f in fields if f != "data"), "")
    if named:
        problem["field"] = f"{where}.{named.group(1)}" if where else named.group(1)
    elif where:
        problem["field"] = where
    else:  # the body as a whole: not an object, or missing
        problem["field"] = "body"
    if detail in ("'data'", "data"):
        problem["detail"] = "the request needs a JSON body"
    note_problem(request, problem)
    return _respond(problem)


_FIELD_IN_MESSAGE = re.compile(r"(?:unknown|missing required) field `([^`]+)`")


_HTTP_TITLES = {
    400: "InvalidInput",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    429: "RateLimited",
}


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    # Litestar's exception class names mean nothing to clients: a 400 is bad input.
    title = _HTTP_TITLES.get(status, "HTTPError")
    problem = {
        "type": TYPE_BASE + f"http-{status}",
        "title": title,
        "status": status,
        "detail": exc.detail,
    }
    note_problem(request, problem)
    return _respond(problem, getattr(exc, "headers", None), request)


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, UnicodeDecodeError | CharacterNotInRepertoireError):
        detail = (
            "the request body is not valid UTF-8 JSON"
            if isinstance(exc, UnicodeDecodeError)
            else "names and text fields cannot hold a NUL character"  # PostgreSQL text refuses it
        )
        problem = {"type": TYPE_BASE + "validation", "title": "InvalidInput", "status": 400, "detail": detail}
        note_problem(request, problem)
        return _respond(problem)
    log.exception("unhandled error")
    problem = {
        "type": TYPE_BASE + "internal",
        "title": "InternalError",
        "status": 500,
        "detail": "internal error; see the server log with this request id",
    }
    return _respond(problem)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    errors.SKMSError: skms_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    Exception: internal_error,
}


def document_problems(schema: OpenAPI) -> None:
    """Makes the generated OpenAPI document say what the server answers.

    Every operation's errors are ``application/problem+json`` (the framework documents its own
    validation body instead), and an untagged union of answers is ``anyOf``: a batch answer also
    satisfies a single-item answer whose fields are all optional, which ``oneOf`` forbids.
    """
    problem = OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))
    for path, path_item in (schema.paths or {}).items():
        if path == "/v1/auth/token":  # OAuth 2.0 errors have their own form (RFC 6749, 5.2)
            continue
        for method in ("get", "put", "post", "delete", "patch"):
            operation: Operation | None = getattr(path_item, method)
            if operation is None:
                continue
            responses = operation.responses if operation.responses is not None else {}
            for status, response in list(responses.items()):
                if not isinstance(response, OpenAPIResponse) or response.content is None:
                    continue
                if status.startswith(("4", "5")):
                    response.content = {PROBLEM: problem}
                for media in response.content.values():
                    union = media.schema
                    if isinstance(union, Schema) and union.one_of:
                        union.any_of, union.one_of = union.one_of, None
            responses.setdefault(
                "400",
                OpenAPIResponse(description="Bad request: the problem names the field", content={PROBLEM: problem}),
            )
            responses["default"] = OpenAPIResponse(
                description="An error: 401, 403, 404, 409, 413, 429, 503 (see the problem's type)",
                content={PROBLEM: problem},
            )
            operation.responses = responses


async def send_problem(send: Send, problem: dict[str, Any], extra: dict[bytes, bytes] | None = None) -> None:
    """A problem+json answer written straight to ASGI ``send``, for middleware that answers before the app."""
    body = json.dumps(problem).encode()
    headers = [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode())]
    headers += list((extra or {}).items())
    if problem["status"] == 401:
        headers.append((b"www-authenticate", b'Bearer realm="skms"'))
    start: Any = {"type": "http.response.start", "status": problem["status"], "headers": headers}
    await send(start)
    end: Any = {"type": "http.response.body", "body": body}
    await send(end)
