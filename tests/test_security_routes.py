"""Every route of the app against a table of expected decisions for every built-in role.

The routes come from the app itself (``create_app(...).routes``, every HTTP method of every
path). Each (route, principal) cell is one test: the principals are an API key per built-in
role (admin, key-admin, crypto-user, wallet-operator, auditor) and one without any role. An
allowed call answers 2xx (a public route answers what it answers anyone, e.g. 409 for a second
init; the OpenAPI renderings anything but 401/403); a denied call answers 403 problem+json
naming the action and the principal. A route without an entry in
:data:`TABLE` fails :func:`test_table_covers_exactly_the_app_routes` and its own cells.

The same derived route list drives the authentication checks: every route but the public
ones answers 401 problem+json without credentials and with a bad token.

OPTIONS (added by Litestar to every path) follows one rule: public on public paths, and any
authenticated principal elsewhere (it reaches no service call).
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from security_support import (
    ALL_PRINCIPALS,
    NO_ROLE,
    PASSPHRASE,
    Harness,
    assert_401,
    assert_403,
    b64,
    bearer,
    harness,
    principal_name,
    settings_for,
)
from skms.api import create_app
from skms.authz.ratelimit import Limit, MemoryRateLimiter
from skms.keys.backup import create_backup_keypair

A, KA, CU, WO, AU = "admin", "key-admin", "crypto-user", "wallet-operator", "auditor"

#: Paths that answer without credentials (issue 7: health, ready, token and JWKS; and the
#: operator's bootstrap routes: seal status, init, unseal; Prometheus metrics; the OpenAPI document).
PUBLIC_PATHS = frozenset({"/v1/sys/health", "/v1/sys/ready", "/v1/sys/seal-status", "/v1/sys/init",
                          "/v1/sys/unseal", "/v1/auth/token", "/v1/auth/jwks.json", "/metrics", "/schema",
                          "/schema/openapi.json"})  # fmt: skip


def app_routes() -> list[tuple[str, str]]:
    """(method, path template) of every route of the app, OPTIONS included."""
    app = create_app(settings_for(Path("/nonexistent-skms-security-tests")))
    return sorted({(method, route.path) for route in app.routes for method in route.methods})  # type: ignore[attr-defined]


ROUTES = app_routes()


# -- fixture resources ---------------------------------------------------------------------------------


@dataclass
class Fixtures:
    """Keys, a wallet and a policy made by admin, and fresh resources per cell."""

    h: Harness
    enc: str = "t-enc"
    sig: str = "t-sig"
    mac: str = "t-mac"
    kem: str = "t-kem"
    wallet: str = "t-wallet"
    policy: str = "t-policy"
    ciphertext: str = ""
    signature: str = ""
    kem_ciphertext: str = ""
    backup_private: bytes = b""
    backup_public: bytes = b""
    #: A bundle of one key (``restored``), restored over itself by the allowed roles.
    bundle: str = ""
    counter: Iterator[int] = field(default_factory=itertools.count)

    def unique(self, stem: str) -> str:
        return f"{stem}-{next(self.counter)}"

    def fresh_key(self, kind: str = "aes256-gcm") -> str:
        name = self.unique("fresh")
        self.h.create_key(name, kind)
        return name

    def scheduled_key(self) -> str:
        name = self.fresh_key()
        r = self.h.client.delete(f"/v1/keys/{name}", headers=self.h.admin)
        assert r.status_code == 200, r.text
        return name

    def fresh_recipient(self) -> str:
        name = self.unique("r")
        body = {"name": name, "public_key": b64(self.backup_public)}
        r = self.h.client.post("/v1/backup/recipients", json=body, headers=self.h.admin)
        assert r.status_code == 201, r.text
        return name

    def fresh_api_key(self) -> str:
        key_id: str = self.h.api_key(self.unique("throwaway"), [])["api_key"]["id"]
        return key_id

    def fresh_policy(self) -> str:
        name = self.unique("pol")
        assert self.h.put_policy(name, [ALLOW_RANDOM]).status_code == 200
        return name

    def new_policy_request(self) -> Request:
        name = self.unique("pol")
        return f"/v1/authz/policies/{name}", {"name": name, "statements": [ALLOW_RANDOM]}, None

    def client_credentials(self, role: str) -> dict[str, str]:
        token = self.h.role_token(role)
        return {"grant_type": "client_credentials", "client_id": token.split("_")[1], "client_secret": token}


ALLOW_RANDOM = {"effect": "allow", "actions": ["misc:Random"], "resources": ["*"]}
DATA = b64(b"route table")

# -- the table -----------------------------------------------------------------------------------------

Request = tuple[str, dict[str, Any] | None, dict[str, Any] | None]  # path, JSON body, query
Build = Callable[[Fixtures, str], Request]


def is_2xx(status: int) -> bool:
    return 200 <= status < 300


@dataclass(frozen=True)
class Rule:
    #: The action checked (None: no authorization check).
    action: str | None
    #: Principals allowed (built-in role names, or NO_ROLE).
    allowed: frozenset[str]
    build: Build
    public: bool = False
    ok: Callable[[int], bool] = is_2xx
    after: Callable[[Fixtures], None] | None = None
    #: Cells expected to fail today (a bug): principal -> reason.
    known_bugs: dict[str, str] = field(default_factory=dict)


def rule(action: str, allowed: set[str], build: Build, **extra: Any) -> Rule:
    return Rule(action, frozenset(allowed), build, **extra)


def public(build: Build, ok: Callable[[int], bool] = is_2xx) -> Rule:
    return Rule(None, frozenset(ALL_PRINCIPALS), build, public=True, ok=ok)


def authenticated(build: Build) -> Rule:
    """Any authenticated principal; no authorization check (the OpenAPI renderings)."""
    return Rule(None, frozenset(ALL_PRINCIPALS), build, ok=lambda s: s not in (401, 403))


def path(p: str, body: dict[str, Any] | None = None, query: dict[str, Any] | None = None) -> Build:
    return lambda f, role: (p, body, query)


KEY_ADMIN = {A, KA}
KEY_READ = {A, KA, CU, AU}
CRYPTO = {A, CU}
WALLET = {A, WO}
MISC = {A, KA, CU, WO}
READ_POLICIES = {A, AU}
AUDIT = {A, AU}
ADMIN = {A}

K = "/v1/keys/{name:str}"
W = "/v1/wallets/{name:str}"

TABLE: dict[tuple[str, str], Rule] = {
    # keys: lifecycle
    ("POST", "/v1/keys"): rule(
        "key:Create", KEY_ADMIN, lambda f, r: ("/v1/keys", {"name": f.unique("new"), "type": "aes256-gcm"}, None)
    ),
    ("GET", "/v1/keys"): rule("key:List", KEY_READ, path("/v1/keys")),
    ("GET", K): rule("key:Get", KEY_READ, lambda f, r: (f"/v1/keys/{f.enc}", None, None)),
    ("PATCH", K): rule(
        "key:Update", KEY_ADMIN, lambda f, r: (f"/v1/keys/{f.fresh_key()}", {"labels": {"team": "x"}}, None)
    ),
    ("DELETE", K): rule("key:ScheduleDeletion", KEY_ADMIN, lambda f, r: (f"/v1/keys/{f.fresh_key()}", None, None)),
    ("POST", f"{K}/cancel-deletion"): rule(
        "key:CancelDeletion", KEY_ADMIN, lambda f, r: (f"/v1/keys/{f.scheduled_key()}/cancel-deletion", None, None)
    ),
    ("POST", f"{K}/rotate"): rule(
        "key:Rotate", KEY_ADMIN, lambda f, r: (f"/v1/keys/{f.fresh_key()}/rotate", None, None)
    ),
    ("POST", f"{K}/state"): rule(
        "key:SetState", KEY_ADMIN, lambda f, r: (f"/v1/keys/{f.fresh_key()}/state", {"state": "suspended"}, None)
    ),
    # keys: cryptography
    ("POST", f"{K}/encrypt"): rule(
        "key:Encrypt", CRYPTO, lambda f, r: (f"/v1/keys/{f.enc}/encrypt", {"plaintext": DATA}, None)
    ),
    ("POST", f"{K}/decrypt"): rule(
        "key:Decrypt", CRYPTO, lambda f, r: (f"/v1/keys/{f.enc}/decrypt", {"ciphertext": f.ciphertext}, None)
    ),
    ("POST", f"{K}/rewrap"): rule(
        "key:Rewrap", CRYPTO, lambda f, r: (f"/v1/keys/{f.enc}/rewrap", {"ciphertext": f.ciphertext}, None)
    ),
    ("POST", f"{K}/datakey"): rule("key:Datakey", CRYPTO, lambda f, r: (f"/v1/keys/{f.enc}/datakey", {}, None)),
    ("POST", f"{K}/sign"): rule("key:Sign", CRYPTO, lambda f, r: (f"/v1/keys/{f.sig}/sign", {"input": DATA}, None)),
    ("POST", f"{K}/verify"): rule(
        "key:Verify", CRYPTO, lambda f, r: (f"/v1/keys/{f.sig}/verify", {"input": DATA, "signature": f.signature}, None)
    ),
    ("POST", f"{K}/hmac"): rule("key:Mac", CRYPTO, lambda f, r: (f"/v1/keys/{f.mac}/hmac", {"input": DATA}, None)),
    ("POST", f"{K}/encapsulate"): rule(
        "key:Encapsulate", CRYPTO, lambda f, r: (f"/v1/keys/{f.kem}/encapsulate", None, None)
    ),
    ("POST", f"{K}/decapsulate"): rule(
        "key:Decapsulate",
        CRYPTO,
        lambda f, r: (f"/v1/keys/{f.kem}/decapsulate", {"ciphertext": f.kem_ciphertext}, None),
    ),
    # wallets
    ("POST", "/v1/wallets"): rule(
        "wallet:Create", WALLET, lambda f, r: ("/v1/wallets", {"name": f.unique("wallet"), "words": 12}, None)
    ),
    ("GET", W): rule(
        "wallet:Get",
        {A, WO, AU},
        lambda f, r: (f"/v1/wallets/{f.wallet}", None, None),
    ),
    ("GET", f"{W}/xpub"): rule(
        "wallet:Derive", WALLET, lambda f, r: (f"/v1/wallets/{f.wallet}/xpub", None, {"path": "m/44'/60'/0'"})
    ),
    ("POST", f"{W}/addresses"): rule(
        "wallet:Derive",
        WALLET,
        lambda f, r: (f"/v1/wallets/{f.wallet}/addresses", {"chain": "ethereum", "count": 1}, None),
    ),
    ("POST", f"{W}/sign"): rule(
        "wallet:Sign",
        WALLET,
        lambda f, r: (
            f"/v1/wallets/{f.wallet}/sign",
            {"scheme": "ethereum-personal", "chain": "ethereum", "payload": DATA},
            None,
        ),
    ),
    # API keys
    ("POST", "/v1/auth/api-keys"): rule(
        "auth:CreateApiKey", ADMIN, lambda f, r: ("/v1/auth/api-keys", {"principal": f.unique("p"), "roles": []}, None)
    ),
    ("GET", "/v1/auth/api-keys"): rule("auth:ListApiKeys", ADMIN, path("/v1/auth/api-keys")),
    ("DELETE", "/v1/auth/api-keys/{key_id:str}"): rule(
        "auth:RevokeApiKey", ADMIN, lambda f, r: (f"/v1/auth/api-keys/{f.fresh_api_key()}", None, None)
    ),
    # authorization
    ("GET", "/v1/authz/policies"): rule("authz:ReadPolicies", READ_POLICIES, path("/v1/authz/policies")),
    ("GET", "/v1/authz/policies/{name:str}"): rule(
        "authz:ReadPolicies", READ_POLICIES, lambda f, r: (f"/v1/authz/policies/{f.policy}", None, None)
    ),
    ("PUT", "/v1/authz/policies/{name:str}"): rule(
        "authz:ManagePolicies",
        ADMIN,
        lambda f, r: f.new_policy_request(),
    ),
    ("DELETE", "/v1/authz/policies/{name:str}"): rule(
        "authz:ManagePolicies", ADMIN, lambda f, r: (f"/v1/authz/policies/{f.fresh_policy()}", None, None)
    ),
    ("GET", "/v1/authz/principals/{name:str}"): rule(
        "authz:ReadPolicies", READ_POLICIES, path("/v1/authz/principals/somebody")
    ),
    ("PUT", "/v1/authz/principals/{name:str}"): rule(
        "authz:ManagePolicies",
        ADMIN,
        lambda f, r: (f"/v1/authz/principals/{f.unique('bound')}", {"roles": ["auditor"], "policies": []}, None),
    ),
    ("POST", "/v1/authz/simulate"): rule(
        "authz:Simulate",
        ADMIN,
        path("/v1/authz/simulate", {"principal": "somebody", "action": "key:Sign", "resource": "key:t-sig"}),
    ),
    # backup and restore (bundles of the tenant's keys for a registered backup recipient; issue 13:
    # the recipients and restoring, which can put known material under a key's name, are the admin's)
    ("POST", "/v1/backup"): rule(
        "key:Backup", KEY_ADMIN, path("/v1/backup", {"recipient": "escrow", "names": ["restored"]})
    ),
    ("POST", "/v1/backup/recipients"): rule(
        "backup:RegisterRecipient",
        ADMIN,
        lambda f, r: ("/v1/backup/recipients", {"name": f.unique("r"), "public_key": b64(f.backup_public)}, None),
    ),
    ("GET", "/v1/backup/recipients"): rule("backup:ListRecipients", {A, KA, WO, AU}, path("/v1/backup/recipients")),
    ("DELETE", "/v1/backup/recipients/{name:str}"): rule(
        "backup:DeleteRecipient", ADMIN, lambda f, r: (f"/v1/backup/recipients/{f.fresh_recipient()}", None, None)
    ),
    ("POST", "/v1/restore"): rule(
        "key:Restore",
        ADMIN,
        lambda f, r: (
            "/v1/restore",
            {"bundle": f.bundle, "backup_private_key": b64(f.backup_private), "overwrite": True},
            None,
        ),
    ),
    # audit (the log itself is tested in test_audit*.py; here only who may read and verify it)
    ("GET", "/v1/audit"): rule("audit:Read", AUDIT, path("/v1/audit", query={"limit": 5})),
    ("GET", "/v1/audit/verify"): rule("audit:Verify", AUDIT, path("/v1/audit/verify")),
    ("POST", "/v1/audit/verify"): rule("audit:Verify", AUDIT, path("/v1/audit/verify", {"witness": []})),
    # misc
    ("POST", "/v1/random"): rule("misc:Random", MISC, path("/v1/random", {"bytes": 16})),
    ("POST", "/v1/hash"): rule("misc:Hash", MISC, path("/v1/hash", {"algorithm": "sha256", "input": DATA})),
    # sys
    ("POST", "/v1/sys/seal"): rule("sys:Seal", ADMIN, path("/v1/sys/seal"), after=lambda f: f.h.unseal()),
    ("POST", "/v1/sys/rotate-root"): rule("sys:RotateRoot", ADMIN, path("/v1/sys/rotate-root")),
    ("GET", "/v1/sys/health"): public(path("/v1/sys/health")),
    ("GET", "/v1/sys/ready"): public(path("/v1/sys/ready")),
    ("GET", "/v1/sys/seal-status"): public(path("/v1/sys/seal-status")),
    # Already initialized: refused whoever asks, never 401/403.
    ("POST", "/v1/sys/init"): public(
        path("/v1/sys/init", {"method": "passphrase", "passphrase": "x" * 20}), ok=lambda s: s == 409
    ),
    ("POST", "/v1/sys/unseal"): public(path("/v1/sys/unseal", {"passphrase": PASSPHRASE}), ok=lambda s: s == 200),
    ("GET", "/metrics"): public(path("/metrics")),
    ("POST", "/v1/auth/token"): public(lambda f, r: ("/v1/auth/token", f.client_credentials(r), None)),
    ("GET", "/v1/auth/jwks.json"): public(path("/v1/auth/jwks.json")),
    # the OpenAPI document and its renderings
    ("GET", "/schema"): public(path("/schema")),
    ("GET", "/schema/openapi.json"): public(path("/schema/openapi.json")),
    ("GET", "/schema/openapi.yaml"): authenticated(path("/schema/openapi.yaml")),
    ("GET", "/schema/openapi.yml"): authenticated(path("/schema/openapi.yml")),
    ("GET", "/schema/swagger"): authenticated(path("/schema/swagger")),
    ("GET", "/schema/redoc"): authenticated(path("/schema/redoc")),
    ("GET", "/schema/rapidoc"): authenticated(path("/schema/rapidoc")),
    ("GET", "/schema/elements"): authenticated(path("/schema/elements")),
    ("GET", "/schema/oauth2-redirect.html"): authenticated(path("/schema/oauth2-redirect.html")),
    ("GET", "/schema/{path:str}"): authenticated(path("/schema/openapi.json")),
}


def options_rule(route_path: str) -> Rule:
    concrete = fill(route_path)
    return Rule(
        None, frozenset(ALL_PRINCIPALS), path(concrete), public=route_path in PUBLIC_PATHS,
        ok=lambda s: s not in (401, 403),
    )  # fmt: skip


def rule_for(method: str, route_path: str) -> Rule:
    if method == "OPTIONS":
        return options_rule(route_path)
    try:
        return TABLE[(method, route_path)]
    except KeyError:
        pytest.fail(f"{method} {route_path} has no entry in the route table: add its expected decisions", pytrace=False)


def fill(route_path: str) -> str:
    """A concrete path for a template (every parameter ``x``)."""
    return re.sub(r"\{[^}]+\}", "x", route_path)


# -- the checks ----------------------------------------------------------------------------------------


def test_table_covers_exactly_the_app_routes() -> None:
    routes = {(m, p) for m, p in ROUTES if m != "OPTIONS"}
    missing = sorted(routes - set(TABLE))
    stale = sorted(set(TABLE) - routes)
    assert not missing, f"routes without an entry in the table (add their expected decisions): {missing}"
    assert not stale, f"table entries for routes the app does not have: {stale}"
    # Every path has Litestar's OPTIONS and nothing else is generated.
    paths = {p for _, p in ROUTES}
    assert {p for m, p in ROUTES if m == "OPTIONS"} == paths
    # The public routes of the table are exactly the paths the middleware lets through.
    from skms.api.middleware import PUBLIC

    assert {p for (_, p), r in TABLE.items() if r.public} == PUBLIC_PATHS == set(PUBLIC)


def test_table_actions_exist() -> None:
    from skms.authz.policy import ALL_ACTIONS

    unknown = {r.action for r in TABLE.values() if r.action is not None} - ALL_ACTIONS
    assert not unknown


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixtures]:
    with harness(tmp_path_factory.mktemp("routes")) as h:
        # Hundreds of admin calls: no rate limit in this module.
        unlimited = Limit(1e9, 1e9)
        h.app.state.service.guard.limiter = MemoryRateLimiter(
            {"crypto": unlimited, "read": unlimited, "admin": unlimited}
        )
        f = Fixtures(h)
        h.create_key(f.enc, "aes256-gcm")
        h.create_key(f.sig, "ed25519")
        h.create_key(f.mac, "hmac-sha256")
        h.create_key(f.kem, "ml-kem-768")
        r = h.client.post("/v1/wallets", json={"name": f.wallet, "words": 12}, headers=h.admin)
        assert r.status_code == 201, r.text
        f.ciphertext = h.client.post(f"/v1/keys/{f.enc}/encrypt", json={"plaintext": DATA}, headers=h.admin).json()[
            "ciphertext"
        ]
        f.signature = h.client.post(f"/v1/keys/{f.sig}/sign", json={"input": DATA}, headers=h.admin).json()["signature"]
        f.kem_ciphertext = h.client.post(f"/v1/keys/{f.kem}/encapsulate", headers=h.admin).json()["ciphertext"]
        assert h.put_policy(f.policy, [ALLOW_RANDOM]).status_code == 200
        private, f.backup_public = create_backup_keypair()
        f.backup_private = private.expose_secret()
        h.create_key("restored", "ed25519", policy={"allow_backup": True})
        r = h.client.post(
            "/v1/backup/recipients", json={"name": "escrow", "public_key": b64(f.backup_public)}, headers=h.admin
        )
        assert r.status_code == 201, r.text
        r = h.client.post("/v1/backup", json={"recipient": "escrow", "names": ["restored"]}, headers=h.admin)
        assert r.status_code == 200, r.text
        f.bundle = r.json()["bundle"]
        for role in ALL_PRINCIPALS:
            h.role_token(role)
        yield f


def _cell_id(value: Any) -> str:
    return str(value).replace("{", "").replace("}", "").replace(":str", "") if isinstance(value, str) else str(value)


def _cells() -> list[Any]:
    cells = []
    for (method, route_path), role in itertools.product(ROUTES, ALL_PRINCIPALS):
        entry = TABLE.get((method, route_path))
        marks = []
        if entry is not None and role in entry.known_bugs:
            marks.append(pytest.mark.xfail(strict=True, reason=entry.known_bugs[role]))
        cells.append(pytest.param(method, route_path, role, marks=marks, id=f"{method} {_cell_id(route_path)} {role}"))
    return cells


@pytest.mark.parametrize(("method", "route_path", "role"), _cells())
def test_route_decision(fx: Fixtures, method: str, route_path: str, role: str) -> None:
    entry = rule_for(method, route_path)
    url, body, query = entry.build(fx, role)
    response = fx.h.client.request(method, url, json=body, params=query, headers=bearer(fx.h.role_token(role)))
    where = f"{method} {url} as {principal_name(role)}: {response.status_code} {response.text[:300]}"
    if role in entry.allowed:
        assert entry.ok(response.status_code), where
        if entry.after is not None:
            entry.after(fx)
    else:
        assert entry.action is not None
        assert response.status_code == 403, where
        body_out = assert_403(response, entry.action)
        assert principal_name(role) in body_out["detail"], body_out


def test_backup_and_restore_refuse_a_principal_without_rights_whatever_the_body(fx: Fixtures) -> None:
    nobody = bearer(fx.h.role_token(NO_ROLE))
    empty = fx.h.client.post("/v1/backup", json={"recipient": "escrow", "names": []}, headers=fx.h.admin)
    assert empty.status_code == 200, empty.text
    private = b64(fx.backup_private)
    attempts = {
        "backup of no key": ("/v1/backup", {"recipient": "escrow", "names": []}),
        "backup for an unknown recipient": ("/v1/backup", {"recipient": "nobody-knows", "names": []}),
        "restore of an empty bundle": (
            "/v1/restore",
            {"bundle": empty.json()["bundle"], "backup_private_key": private},
        ),
        "restore of garbage": ("/v1/restore", {"bundle": b64(b"x" * 64), "backup_private_key": private}),
    }
    answers = {
        what: fx.h.client.post(url, json=body, headers=nobody).status_code for what, (url, body) in attempts.items()
    }
    assert answers == dict.fromkeys(attempts, 403)


# -- authentication: 401 everywhere but the public routes ------------------------------------------------

PROTECTED = [(m, p) for m, p in ROUTES if p not in PUBLIC_PATHS]
BAD_TOKENS = {
    "none": None,
    "empty bearer": "Bearer ",
    "basic scheme": "Basic " + base64.b64encode(b"admin:admin").decode(),
    "unknown api key": "Bearer skms_0123456789abcdef_" + "A" * 43,
    "malformed api key": "Bearer skms_x",
    "garbage": "Bearer not-a-token",
    "garbage jwt": "Bearer e30.e30.AAAA",
    "unsigned jwt": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiIsImlzcyI6InNrbXMifQ.",
}


def test_public_and_protected_partition_the_routes() -> None:
    assert {p for _, p in ROUTES} - {p for _, p in PROTECTED} == PUBLIC_PATHS


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with harness(tmp_path_factory.mktemp("unauth")) as h:
        yield h


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
@pytest.mark.parametrize(("method", "route_path"), PROTECTED, ids=[f"{m} {_cell_id(p)}" for m, p in PROTECTED])
def test_protected_route_needs_credentials(plain: Harness, method: str, route_path: str, kind: str) -> None:
    header = BAD_TOKENS[kind]
    headers = {} if header is None else {"Authorization": header}
    body = {} if method in ("POST", "PUT", "PATCH") else None
    response = plain.client.request(method, fill(route_path), headers=headers, json=body)
    assert_401(response)


@pytest.mark.parametrize("route_path", sorted(PUBLIC_PATHS))
def test_public_route_answers_without_credentials(plain: Harness, route_path: str) -> None:
    methods = [m for m, p in ROUTES if p == route_path and m != "OPTIONS"]
    for method in methods:
        if route_path == "/v1/auth/token":
            body: Any = {"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
            response = plain.client.post(route_path, data=body)
            # The token endpoint's own answer (RFC 6749), not the middleware's 401 problem.
            assert response.json()["error"] == "invalid_client", response.text
            continue
        response = plain.client.request(method, route_path, json={} if method == "POST" else None)
        assert response.status_code != 401, f"{method} {route_path}: {response.status_code} {response.text[:200]}"
        assert response.status_code < 500, f"{method} {route_path}: {response.status_code} {response.text[:200]}"
