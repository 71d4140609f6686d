"""Issue 13 defect 9, against real ``skms serve`` processes (SQLite and PostgreSQL, 2 workers): a caller
acts only in the tenant its credential is bound to.

- A JWT issuer configured for tenant ``acme`` signs a token with ``"tenant": "default"``: refused (401),
  whatever roles it claims; without the claim it acts in ``acme`` and sees nothing of ``default``.
- An issuer bound to several tenants (``tenants``) reaches those and no other.
- ``exp``/``nbf``/``iat`` must be finite numbers, and a token may live at most ``jwt_max_lifetime``.
- No request body, query or header names the tenant of an API-key or JWT caller.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from security_support import b64url, jwk, make_jwt
from server_process import BACKENDS, ServerProcess, assert_problem, running_server

ISSUER_A = "https://idp-acme.example.test"  # bound to tenant "acme"
ISSUER_B = "https://idp-colours.example.test"  # bound to tenants "blue" (its default) and "green"
KEY_A = ed25519.Ed25519PrivateKey.generate()
KEY_B = ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp(f"tenants-{request.param}")
    jwks = directory / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk(KEY_A.public_key(), "a-1"), jwk(KEY_B.public_key(), "b-1")]}))
    issuers = [
        {"issuer": ISSUER_A, "audience": "skms", "jwks_file": str(jwks), "tenant": "acme"},
        {"issuer": ISSUER_B, "audience": "skms", "jwks_file": str(jwks), "tenants": ["blue", "green"]},
    ]
    with running_server(request.param, directory / "data", {"SKMS_JWT_ISSUERS": json.dumps(issuers)}) as s:
        admin = s.client()
        assert admin.post("/v1/keys", json={"name": "default-secret", "type": "ed25519"}).status_code == 201
        yield s


def jwt_for(issuer: str, **claims: Any) -> str:
    now = int(time.time())
    body: dict[str, Any] = {"iss": issuer, "aud": "skms", "sub": "idp-user", "iat": now, "exp": now + 300,
                            "roles": ["admin"]}  # fmt: skip
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    key, kid = (KEY_A, "a-1") if issuer == ISSUER_A else (KEY_B, "b-1")
    return make_jwt({"alg": "EdDSA", "typ": "JWT", "kid": kid}, body, key)


def raw_jwt(payload: str, issuer_key: ed25519.Ed25519PrivateKey = KEY_A, kid: str = "a-1") -> str:
    header = b64url(json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": kid}).encode())
    text = f"{header}.{b64url(payload.encode())}"
    return f"{text}.{b64url(issuer_key.sign(text.encode()))}"


def as_bearer(server: ServerProcess, token: str) -> httpx.Client:
    return server.client(token)


def assert_refused(response: httpx.Response, *words: str) -> dict[str, Any]:
    body = assert_problem(response, 401, title="Unauthenticated")
    for word in words:
        assert word in body["detail"], body
    return body


def test_an_issuer_cannot_reach_a_tenant_it_is_not_bound_to(server: ServerProcess) -> None:
    for tenant in ("default", "blue", "Default", "default ", "acme2"):
        c = as_bearer(server, jwt_for(ISSUER_A, tenant=tenant))
        assert_refused(c.get("/v1/keys"), "tenant", "not trusted for")
        assert_refused(c.get("/v1/auth/api-keys"))
        assert_refused(c.get("/v1/keys/default-secret"))
        assert_refused(c.post("/v1/keys/default-secret/sign", json={"input": "AA=="}))
        assert_refused(c.post("/v1/keys", json={"name": f"planted-{len(tenant)}", "type": "ed25519"}))
    admin = server.client()
    names = {k["name"] for k in admin.get("/v1/keys").json()["keys"]}
    assert not any(n.startswith("planted") for n in names), names


def test_without_a_claim_a_token_acts_in_its_issuers_tenant_only(server: ServerProcess) -> None:
    for token in (jwt_for(ISSUER_A), jwt_for(ISSUER_A, tenant="acme")):
        c = as_bearer(server, token)
        assert_problem(c.get("/v1/keys/default-secret"), 404)
        listed = c.get("/v1/auth/api-keys")
        assert listed.status_code == 200, listed.text
        assert listed.json()["api_keys"] == []  # none of the default tenant's admin keys
    acme = as_bearer(server, jwt_for(ISSUER_A))
    created = acme.post("/v1/keys", json={"name": "acme-key", "type": "ed25519"})
    assert created.status_code == 201, created.text
    assert_problem(server.client().get("/v1/keys/acme-key"), 404)  # the default tenant's admin does not see it
    assert acme.get("/v1/keys/acme-key").status_code == 200


def test_an_issuer_bound_to_several_tenants_reaches_those_and_no_other(server: ServerProcess) -> None:
    green = as_bearer(server, jwt_for(ISSUER_B, tenant="green"))
    assert green.post("/v1/keys", json={"name": "green-key", "type": "ed25519"}).status_code == 201
    blue = as_bearer(server, jwt_for(ISSUER_B))  # no claim: its default tenant, blue
    assert_problem(blue.get("/v1/keys/green-key"), 404)
    assert as_bearer(server, jwt_for(ISSUER_B, tenant="blue")).get("/v1/keys").status_code == 200
    for tenant in ("acme", "default", "__system", "__audit"):
        assert_refused(as_bearer(server, jwt_for(ISSUER_B, tenant=tenant)).get("/v1/keys"))
    for bad in (42, "", ["green"], {"t": "green"}, True, None):
        token = make_jwt({"alg": "EdDSA", "kid": "b-1"}, {**_claims(ISSUER_B), "tenant": bad}, KEY_B)
        assert_refused(as_bearer(server, token).get("/v1/keys"))


def _claims(issuer: str) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer, "aud": "skms", "sub": "idp-user", "iat": now, "exp": now + 300, "roles": ["admin"]}


def _raw(**raw: str) -> str:
    members = {k: json.dumps(v) for k, v in _claims(ISSUER_A).items()}
    members.update(raw)
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in members.items() if v) + "}"


NOW = int(time.time())


@pytest.mark.parametrize(
    "payload",
    [
        _raw(exp="1e999"),
        _raw(exp="NaN"),
        _raw(exp="-Infinity"),
        _raw(exp='"9999999999"'),
        _raw(exp="true"),
        _raw(exp="9" * 500),
        _raw(nbf="1e999"),
        _raw(nbf="NaN"),
        _raw(iat="-1e999"),
        _raw(iat="false"),
        _raw(exp=str(NOW + 2 * 86_400)),  # past the default jwt_max_lifetime of 24 h
        _raw(iat="", exp=str(NOW + 2 * 86_400)),  # no iat: exp - now
    ],
    ids=[
        "exp-1e999",
        "exp-NaN",
        "exp--inf",
        "exp-string",
        "exp-true",
        "exp-huge-int",
        "nbf-1e999",
        "nbf-NaN",
        "iat--1e999",
        "iat-false",
        "lifetime-48h",
        "lifetime-48h-no-iat",
    ],
)
def test_numeric_dates_are_finite_and_within_the_maximum_lifetime(server: ServerProcess, payload: str) -> None:
    assert_refused(as_bearer(server, raw_jwt(payload)).get("/v1/keys"))


def test_no_body_query_or_header_chooses_the_tenant(server: ServerProcess) -> None:
    """Credentials bind the tenant: a 'tenant' anywhere else is refused or has no effect."""
    acme = as_bearer(server, jwt_for(ISSUER_A))
    r = acme.post("/v1/keys", json={"name": "smuggled", "type": "ed25519", "tenant": "default"})
    assert_problem(r, 400)
    listed = acme.get("/v1/keys", params={"tenant": "default"})
    assert listed.status_code == 200
    assert "default-secret" not in {k["name"] for k in listed.json()["keys"]}
    for header in ("X-Tenant", "X-SKMS-Tenant", "Tenant"):
        r = acme.get("/v1/keys/default-secret", headers={header: "default"})
        assert_problem(r, 404)
    # A client certificate header from a source that is no trusted proxy is not a credential.
    anonymous = server.client("")
    assert_problem(anonymous.get("/v1/keys", headers={"X-Client-Cert": "-----BEGIN%20CERTIFICATE-----"}), 401)
    # An API key of tenant default stays in default whatever the body says.
    admin = server.client()
    assert_problem(admin.post("/v1/auth/api-keys", json={"principal": "p", "roles": [], "tenant": "acme"}), 400)
