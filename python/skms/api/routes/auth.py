"""/v1/auth/token (OAuth 2.0 client credentials, RFC 6749 §4.4) and /v1/auth/jwks.json."""

import base64
import json
from typing import Any
from urllib.parse import parse_qs

from litestar import Request, Response, get, post
from litestar.datastructures import State

from skms.api.refusals import audit_authentication_failure, auth_reason
from skms.auth import TokenIssuer
from skms.errors import SKMSError


def _oauth_error(error: str, description: str, status: int = 400) -> Response[Any]:
    headers = {"Cache-Control": "no-store"}
    if error == "invalid_client":
        headers["WWW-Authenticate"] = 'Basic realm="skms"'
    return Response({"error": error, "error_description": description}, status_code=status, headers=headers)


async def _refused(
    request: Request[Any, Any, Any], description: str, reason: str, resource: str, secret: str
) -> Response[Any]:
    """401 invalid_client, audited like every failed authentication (never the secret)."""
    await audit_authentication_failure(request.scope, reason, resource, secret)
    return _oauth_error("invalid_client", description, 401)


@post("/v1/auth/token", tags=["auth"], summary="OAuth 2.0 client credentials: a short-lived JWT", status_code=200)
async def token(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("application/json"):
            form = {k: str(v) for k, v in json.loads(body or b"{}").items()}
        else:
            form = {k: v[0] for k, v in parse_qs(body.decode(), strict_parsing=False).items()}
    except (ValueError, AttributeError, UnicodeDecodeError):
        return _oauth_error("invalid_request", "the body is neither form-encoded nor a JSON object")
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return await _refused(request, "malformed Basic credentials", "malformed", "-", "")
    if form.get("grant_type") != "client_credentials":
        return _oauth_error("unsupported_grant_type", "only grant_type=client_credentials is supported")
    if not client_id or not client_secret:
        return await _refused(request, "client_id and client_secret are required", "missing-credentials",
                              f"oauth-client:{client_id or '-'}", client_secret or "")  # fmt: skip
    issuer: TokenIssuer = state.tokens
    try:
        result = await issuer.issue(client_id, client_secret)
    except SKMSError as e:
        return await _refused(request, str(e), auth_reason(e), f"oauth-client:{client_id}", client_secret)
    return Response(result, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@get("/v1/auth/jwks.json", tags=["auth"], summary="The public keys that sign this server's tokens")
async def jwks(state: State) -> dict[str, Any]:
    issuer: TokenIssuer = state.tokens
    return await issuer.jwks()
