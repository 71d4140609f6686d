"""OAuth 2.0 client credentials (RFC 6749 §4.4): ``POST /v1/auth/token`` issues short-lived EdDSA
JWTs signed by an SKMS-managed key (``__system``/``oauth-signing``) whose JWKS is at
``GET /v1/auth/jwks.json``. A registered client is an API key: ``client_id`` is the key id,
``client_secret`` the whole API key token."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

import skms.auth.jwt as jwt_module
from security_support import Harness, assert_401, assert_403, bearer, harness
from skms.auth.api_keys import SYSTEM_TENANT
from skms.auth.oauth import SIGNING_KEY, TOKEN_SECONDS


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    header, payload, signature = token.split(".")
    return (
        json.loads(unb64url(header)),
        json.loads(unb64url(payload)),
        f"{header}.{payload}".encode(),
        unb64url(signature),
    )


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with harness(tmp_path_factory.mktemp("oauth")) as h:
        h.create_key("oauth-target", "ed25519")
        yield h


@pytest.fixture(scope="module")
def client(h: Harness) -> dict[str, str]:
    """A registered client with the crypto-user role."""
    token = h.token("billing-client", ["crypto-user"])
    return {"client_id": token.split("_")[1], "client_secret": token}


def token_request(h: Harness, **form: str) -> httpx.Response:
    return h.client.post("/v1/auth/token", data=form)


def issue(h: Harness, client: dict[str, str]) -> str:
    r = token_request(h, grant_type="client_credentials", **client)
    assert r.status_code == 200, r.text
    access: str = r.json()["access_token"]
    return access


def jwks(h: Harness) -> dict[str, Any]:
    r = h.client.get("/v1/auth/jwks.json")
    assert r.status_code == 200
    out: dict[str, Any] = r.json()
    return out


def verify_with_jwks(h: Harness, token: str) -> dict[str, Any]:
    """Verifies the token's signature independently, with the published JWKS."""
    header, claims, signed, signature = decode(token)
    assert header["alg"] == "EdDSA"
    [entry] = [k for k in jwks(h)["keys"] if k["kid"] == header["kid"]]
    ed25519.Ed25519PublicKey.from_public_bytes(unb64url(entry["x"])).verify(signature, signed)
    return claims


def test_form_encoded_request(h: Harness, client: dict[str, str]) -> None:
    r = token_request(h, grant_type="client_credentials", **client)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == TOKEN_SECONDS
    claims = verify_with_jwks(h, body["access_token"])
    assert claims["iss"] == "skms" and claims["aud"] == "skms"
    assert claims["sub"] == "billing-client" and claims["tenant"] == "default"
    assert claims["roles"] == ["crypto-user"] and claims["client_id"] == client["client_id"]
    assert claims["exp"] - claims["iat"] == TOKEN_SECONDS
    assert abs(claims["iat"] - time.time()) < 60
    assert client["client_secret"] not in r.text


def test_http_basic_and_json_requests(h: Harness, client: dict[str, str]) -> None:
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    r = h.client.post("/v1/auth/token", data={"grant_type": "client_credentials"},
                      headers={"Authorization": f"Basic {basic}"})  # fmt: skip
    assert r.status_code == 200, r.text
    verify_with_jwks(h, r.json()["access_token"])
    r = h.client.post("/v1/auth/token", json={"grant_type": "client_credentials", **client})
    assert r.status_code == 200, r.text


def test_access_token_is_a_bearer_token_with_the_clients_roles(h: Harness, client: dict[str, str]) -> None:
    access = issue(h, client)
    r = h.client.post("/v1/keys/oauth-target/sign", json={"input": "AA=="}, headers=bearer(access))
    assert r.status_code == 200, r.text
    body = assert_403(h.client.post("/v1/keys", json={"name": "x", "type": "ed25519"}, headers=bearer(access)),
                      "key:Create")  # fmt: skip
    assert body["detail"].startswith("billing-client ")
    # A forged variant of it is refused.
    header, payload, signature = access.split(".")
    claims = json.loads(unb64url(payload))
    claims["roles"] = ["admin"]
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_401(h.client.get("/v1/keys", headers=bearer(f"{header}.{forged_payload}.{signature}")))


def oauth_error(r: httpx.Response, status: int, error: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["error"] == error, body
    assert isinstance(body.get("error_description"), str)
    if error == "invalid_client":
        assert r.headers["www-authenticate"].lower().startswith("basic")


def test_wrong_secret(h: Harness, client: dict[str, str]) -> None:
    secret = client["client_secret"]
    wrong = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    oauth_error(token_request(h, grant_type="client_credentials", client_id=client["client_id"], client_secret=wrong),
                401, "invalid_client")  # fmt: skip
    oauth_error(token_request(h, grant_type="client_credentials", client_id=client["client_id"],
                              client_secret="not-a-key"), 401, "invalid_client")  # fmt: skip


def test_mismatched_client_id(h: Harness, client: dict[str, str]) -> None:
    other = h.token("other-client", ["admin"])
    # Another client's id with this client's secret, and the other way round.
    oauth_error(token_request(h, grant_type="client_credentials", client_id=other.split("_")[1],
                              client_secret=client["client_secret"]), 401, "invalid_client")  # fmt: skip
    oauth_error(token_request(h, grant_type="client_credentials", client_id=client["client_id"], client_secret=other),
                401, "invalid_client")  # fmt: skip
    oauth_error(token_request(h, grant_type="client_credentials", client_id="", client_secret=other),
                401, "invalid_client")  # fmt: skip


@pytest.mark.parametrize("grant", ["password", "authorization_code", "refresh_token", "CLIENT_CREDENTIALS", ""])
def test_unsupported_grant_type(h: Harness, client: dict[str, str], grant: str) -> None:
    oauth_error(token_request(h, grant_type=grant, **client), 400, "unsupported_grant_type")


def test_missing_or_malformed_client_credentials(h: Harness, client: dict[str, str]) -> None:
    oauth_error(token_request(h, grant_type="client_credentials"), 401, "invalid_client")
    oauth_error(token_request(h, grant_type="client_credentials", client_id=client["client_id"]), 401, "invalid_client")
    r = h.client.post("/v1/auth/token", data={"grant_type": "client_credentials"},
                      headers={"Authorization": "Basic %%%not-base64"})  # fmt: skip
    oauth_error(r, 401, "invalid_client")
    r = h.client.post("/v1/auth/token", content=b'{"grant_type":', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_revoked_client_gets_no_token(h: Harness) -> None:
    created = h.api_key("revoked-client", ["crypto-user"])
    creds = {"client_id": created["api_key"]["id"], "client_secret": created["token"]}
    assert token_request(h, grant_type="client_credentials", **creds).status_code == 200
    assert h.client.delete(f"/v1/auth/api-keys/{creds['client_id']}", headers=h.admin).status_code == 204
    oauth_error(token_request(h, grant_type="client_credentials", **creds), 401, "invalid_client")


def test_jwks_lists_the_signing_key_and_nothing_secret(h: Harness, client: dict[str, str]) -> None:
    issue(h, client)
    keys = jwks(h)["keys"]
    assert keys
    info = h.run(h.app.state.service.get_key, SYSTEM_TENANT, SIGNING_KEY)
    enabled = [v.version for v in info.versions if v.state == "enabled"]
    assert sorted(k["kid"] for k in keys) == sorted(f"{info.id[:8]}-v{v}" for v in enabled)
    for key in keys:
        assert set(key) == {"kty", "crv", "use", "alg", "kid", "x"}
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
        assert len(unb64url(key["x"])) == 32


def rotate(h: Harness) -> None:
    h.run(h.app.state.service.rotate_key, SYSTEM_TENANT, SIGNING_KEY)


def test_rotation_keeps_old_tokens_and_signs_new_ones_with_the_new_key(
    h: Harness, client: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jwt_module, "REFETCH_SECONDS", 0.0)
    old = issue(h, client)
    assert h.client.get("/v1/keys", headers=bearer(old)).status_code == 200
    old_kid = decode(old)[0]["kid"]
    rotate(h)
    new = issue(h, client)
    new_kid = decode(new)[0]["kid"]
    assert new_kid != old_kid
    assert new_kid.rsplit("-v", 1)[0] == old_kid.rsplit("-v", 1)[0]
    assert int(new_kid.rsplit("-v", 1)[1]) == int(old_kid.rsplit("-v", 1)[1]) + 1
    kids = {k["kid"] for k in jwks(h)["keys"]}
    assert {old_kid, new_kid} <= kids
    verify_with_jwks(h, old)
    verify_with_jwks(h, new)
    assert h.client.get("/v1/keys", headers=bearer(new)).status_code == 200
    assert h.client.get("/v1/keys", headers=bearer(old)).status_code == 200


def test_token_signed_after_rotation_works_at_once(h: Harness, client: dict[str, str]) -> None:
    old = issue(h, client)
    assert h.client.get("/v1/keys", headers=bearer(old)).status_code == 200  # the JWKS is cached now
    rotate(h)
    new = issue(h, client)
    assert h.client.get("/v1/keys", headers=bearer(new)).status_code == 200


def test_token_does_not_outlive_the_clients_api_key(h: Harness) -> None:
    created = h.api_key("expiring-client", ["auditor"], ttl=60)
    creds = {"client_id": created["api_key"]["id"], "client_secret": created["token"]}
    access = issue(h, creds)
    assert decode(access)[1]["exp"] <= created["api_key"]["expires_at"] + 1


# -- issue 13 defects 8 and 9: a token is bound to its client, as the client is now ---------------------------


def _own_claims(h: Harness, created: dict[str, Any], **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": "skms", "aud": "skms", "sub": created["api_key"]["principal"], "tenant": "default",
              "roles": created["api_key"]["roles"], "iat": now, "nbf": now, "exp": now + 300,
              "client_id": created["api_key"]["id"]}  # fmt: skip
    claims.update(extra)
    return {k: v for k, v in claims.items() if v is not None}


def test_own_tokens_are_bound_to_the_tenant_and_subject_of_their_client(h: Harness) -> None:
    """Signed with SKMS's own key, yet naming another tenant or subject than the client's: refused."""
    created = h.api_key("tenant-bound-client", ["crypto-user"])
    sign = h.app.state.tokens.sign
    r = h.client.post("/v1/keys/oauth-target/sign", json={"input": "AA=="},
                      headers=bearer(h.run(sign, _own_claims(h, created))))  # fmt: skip
    assert r.status_code == 200, r.text
    admin = h.api_key("an-admin", ["admin"])
    forged = {
        "another tenant": _own_claims(h, created, tenant="acme"),
        "no tenant claim, client not in the issuer's default": _own_claims(h, created, tenant=None, sub="x"),
        "another subject": _own_claims(h, created, sub="an-admin"),
        "another client's roles under its id": _own_claims(h, created, client_id=admin["api_key"]["id"]),
        "no client": _own_claims(h, created, client_id=None),
        "a client id that is not a string": _own_claims(h, created, client_id=7),
        "an unknown client": _own_claims(h, created, client_id="00000000deadbeef"),
        "longer than the token lifetime": _own_claims(h, created, exp=int(time.time()) + TOKEN_SECONDS + 120),
        "exp 1e999 (inf)": _own_claims(h, created, exp=float("inf")),
    }
    for case, claims in forged.items():
        body = assert_401(h.client.get("/v1/keys", headers=bearer(h.run(sign, claims))))
        assert body["detail"], case


def test_tokens_of_a_revoked_client_stop_working(h: Harness) -> None:
    created = h.api_key("soon-revoked-client", ["crypto-user"])
    creds = {"client_id": created["api_key"]["id"], "client_secret": created["token"]}
    access = issue(h, creds)
    sign = {"input": "AA=="}
    assert h.client.post("/v1/keys/oauth-target/sign", json=sign, headers=bearer(access)).status_code == 200
    assert h.client.delete(f"/v1/auth/api-keys/{creds['client_id']}", headers=h.admin).status_code == 204
    body = assert_401(h.client.post("/v1/keys/oauth-target/sign", json=sign, headers=bearer(access)))
    assert "revoked" in body["detail"], body
