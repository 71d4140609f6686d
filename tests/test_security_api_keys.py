"""API keys: created (token shown once), listed (never with secrets), revoked, expiring,
stored as a keyed hash, compared in constant time, bound to a principal and a tenant."""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

import skms.auth.api_keys as api_keys_module
from security_support import PASSPHRASE, Harness, assert_401, assert_403, assert_problem, bearer, harness, settings_for
from skms._native import SecretBytes
from skms.api import create_app
from skms.auth import ApiKeyManager
from skms.auth.api_keys import Principal
from skms.errors import Unauthenticated

TOKEN = re.compile(r"skms_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


def secret_of(token: str) -> bytes:
    encoded = token.split("_", 2)[2]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with harness(tmp_path_factory.mktemp("api-keys")) as h:
        yield h


def test_create_shows_the_token_once_and_binds_the_principal(h: Harness) -> None:
    r = h.client.post(
        "/v1/auth/api-keys",
        json={"principal": "svc-billing", "roles": ["crypto-user"], "description": "billing"},
        headers=h.admin,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    match = TOKEN.fullmatch(created["token"])
    assert match, created["token"]
    assert created["api_key"]["id"] == match.group(1)
    assert created["api_key"]["principal"] == "svc-billing"
    assert created["api_key"]["roles"] == ["crypto-user"]
    assert created["api_key"]["description"] == "billing"
    assert "expires_at" not in created["api_key"] and "revoked_at" not in created["api_key"]
    assert set(created["api_key"]) <= {"id", "principal", "roles", "description", "created_at", "expires_at",
                                       "revoked_at"}  # fmt: skip
    token = created["token"]
    assert h.client.get("/v1/keys", headers=bearer(token)).status_code == 200
    # The principal of the key is the caller: a refused action names it.
    body = assert_403(h.client.post("/v1/keys", json={"name": "x", "type": "ed25519"}, headers=bearer(token)),
                      "key:Create")  # fmt: skip
    assert body["detail"].startswith("svc-billing ")
    # Listed, never with the token, its secret or its hash.
    listing = h.client.get("/v1/auth/api-keys", headers=h.admin)
    assert listing.status_code == 200
    entry = next(k for k in listing.json()["api_keys"] if k["id"] == match.group(1))
    assert entry == created["api_key"]
    text = listing.text
    assert token not in text and match.group(2) not in text
    assert not any(word in text for word in ("secret", "hash", "token"))


def test_tokens_are_unique_and_random(h: Harness) -> None:
    tokens = [h.token("many", []) for _ in range(5)]
    assert len({t.split("_")[1] for t in tokens}) == 5
    assert len({secret_of(t) for t in tokens}) == 5
    assert all(len(secret_of(t)) == 32 for t in tokens)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"principal": "p", "roles": ["root"]}, "root"),
        ({"principal": "p", "roles": [], "ttl": 0}, "ttl"),
        ({"principal": "p", "roles": [], "ttl": -5}, "ttl"),
        ({"principal": "p", "roles": [], "scopes": ["x"]}, "scopes"),
        ({"roles": []}, "principal"),
    ],
)
def test_invalid_creation_requests(h: Harness, body: dict[str, Any], named: str) -> None:
    problem = assert_problem(h.client.post("/v1/auth/api-keys", json=body, headers=h.admin), 400)
    assert named in problem["detail"] or named in problem.get("field", ""), problem


def test_revoked_key_is_refused_at_once_on_the_same_node(h: Harness) -> None:
    created = h.api_key("to-revoke", ["auditor"])
    token, key_id = created["token"], created["api_key"]["id"]
    assert h.client.get("/v1/keys", headers=bearer(token)).status_code == 200  # now in the auth cache
    assert h.client.delete(f"/v1/auth/api-keys/{key_id}", headers=h.admin).status_code == 204
    body = assert_401(h.client.get("/v1/keys", headers=bearer(token)))
    assert "revoked" in body["detail"]
    entry = next(k for k in h.client.get("/v1/auth/api-keys", headers=h.admin).json()["api_keys"] if k["id"] == key_id)
    assert entry["revoked_at"] <= time.time()
    assert_problem(h.client.delete("/v1/auth/api-keys/0000000000000000", headers=h.admin), 404)


def test_revocation_reaches_another_node_within_the_auth_cache_time(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two apps on one store: a key revoked on node 1 stops working on node 2 within AUTH_CACHE_SECONDS."""
    cache = 1.0
    monkeypatch.setattr(api_keys_module, "AUTH_CACHE_SECONDS", cache)
    created = h.api_key("two-nodes", ["auditor"])
    token = created["token"]
    node2 = create_app(settings_for(h.directory))
    with TestClient(node2) as other:
        assert other.post("/v1/sys/unseal", json={"passphrase": PASSPHRASE}).status_code == 200
        assert other.get("/v1/keys", headers=bearer(token)).status_code == 200  # cached on node 2
        assert h.client.delete(f"/v1/auth/api-keys/{created['api_key']['id']}", headers=h.admin).status_code == 204
        revoked_at = time.monotonic()
        assert_401(h.client.get("/v1/keys", headers=bearer(token)))  # node 1 at once
        while other.get("/v1/keys", headers=bearer(token)).status_code == 200:
            assert time.monotonic() - revoked_at < cache + 1.0, "node 2 still accepts the revoked key"
            time.sleep(0.05)
        assert_401(other.get("/v1/keys", headers=bearer(token)))


def test_expired_key_is_refused(h: Harness) -> None:
    created = h.api_key("short-lived", ["auditor"], ttl=0.5)
    assert created["api_key"]["expires_at"] == pytest.approx(time.time() + 0.5, abs=2)
    time.sleep(0.6)
    body = assert_401(h.client.get("/v1/keys", headers=bearer(created["token"])))
    assert "expired" in body["detail"]


def test_expired_key_is_refused_without_the_auth_cache(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_keys_module, "AUTH_CACHE_SECONDS", 0.0)
    token = h.token("short-lived-2", ["auditor"], ttl=0.5)
    assert h.client.get("/v1/keys", headers=bearer(token)).status_code == 200
    time.sleep(0.6)
    assert_401(h.client.get("/v1/keys", headers=bearer(token)))


def test_a_key_used_before_expiry_is_refused_after_it(h: Harness) -> None:
    token = h.token("short-lived-3", ["auditor"], ttl=1.0)
    # cached (AUTH_CACHE_SECONDS, capped by the expiry)
    assert h.client.get("/v1/keys", headers=bearer(token)).status_code == 200
    time.sleep(1.1)
    assert_401(h.client.get("/v1/keys", headers=bearer(token)))


def test_wrong_secret_for_a_known_key_id(h: Harness) -> None:
    token = h.token("guessed", ["auditor"])
    key_id = token.split("_")[1]
    assert h.client.get("/v1/keys", headers=bearer(token)).status_code == 200  # cached
    forged = f"skms_{key_id}_" + base64.urlsafe_b64encode(bytes(32)).rstrip(b"=").decode()
    body = assert_401(h.client.get("/v1/keys", headers=bearer(forged)))
    assert body["detail"] == "unknown API key"  # the same answer as for an unknown id
    assert_401(h.client.get("/v1/keys", headers=bearer(token[:-1] + ("A" if token[-1] != "A" else "B"))))
    # The same secret spelled with other spare bits in its last base64 character is not the key.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelled = token[:-1] + alphabet[alphabet.index(token[-1]) ^ 1]
    assert_401(h.client.get("/v1/keys", headers=bearer(respelled)))
    assert_401(h.client.get("/v1/keys", headers=bearer(f"skms_{key_id}_")))
    assert_401(h.client.get("/v1/keys", headers=bearer(f"skms_{key_id}_%%%")))


def _store_files(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.glob("skms.db*")))


def test_stored_as_keyed_hash(h: Harness) -> None:
    token = h.token("stored", ["auditor"])
    key_id, encoded = token.split("_")[1], token.split("_", 2)[2]
    secret = secret_of(token)
    assert h.client.get("/v1/keys", headers=bearer(token)).status_code == 200
    raw = _store_files(h.directory)
    assert key_id.encode() in raw  # the id is stored (the files were read)
    for needle in (token.encode(), encoded.encode(), secret, secret.hex().encode(), base64.b64encode(secret)):
        assert needle not in raw
    # Neither an unkeyed hash of the secret…
    for unkeyed in (hashlib.sha256(secret).digest(), hashlib.sha256(token.encode()).digest()):
        assert unkeyed not in raw and unkeyed.hex().encode() not in raw
    # …but HMAC-SHA256 under the pepper, itself an SKMS-managed key (encrypted at rest).
    record = h.run(h.app.state.service.store.get_api_key, key_id)
    held = h.app.state.api_keys._pepper
    assert isinstance(held, SecretBytes) and len(held) >= 32  # never a Python bytes copy (issue 13 #5)
    pepper = held.expose_secret()
    assert record.secret_hash == hmac.digest(pepper, secret, "sha256")
    assert pepper not in raw


def test_comparison_is_constant_time(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """authenticate compares hashes with hmac.compare_digest, never with ==."""
    source = inspect.getsource(ApiKeyManager.authenticate)
    assert "compare_digest" in source
    assert not re.search(r"secret_hash\s*[!=]=|[!=]=\s*record\.secret_hash|expected\s*[!=]=", source)
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(api_keys_module.hmac, "compare_digest", spy)
    token = h.token("ct", [])
    key_id = token.split("_")[1]
    record = h.run(h.app.state.service.store.get_api_key, key_id)
    wrong = f"skms_{key_id}_" + base64.urlsafe_b64encode(bytes(range(32))).rstrip(b"=").decode()

    async def authenticate(t: str) -> Any:
        try:
            return await h.app.state.api_keys.authenticate(t)
        except Unauthenticated as e:
            return e

    assert isinstance(h.run(authenticate, wrong), Unauthenticated)
    assert any(record.secret_hash in pair for pair in calls), calls
    calls.clear()
    principal = h.run(authenticate, token)
    assert isinstance(principal, Principal) and principal.id == "ct"
    assert any(record.secret_hash in pair for pair in calls), calls


def test_keys_belong_to_a_tenant(h: Harness) -> None:
    manager: ApiKeyManager = h.app.state.api_keys
    acme_token, _ = h.run(manager.create, "acme", "acme-admin", ["admin"], "another tenant")
    default_key = h.api_key("default-only", [])["api_key"]["id"]
    h.create_key("default-secret", "ed25519")
    listing = h.client.get("/v1/auth/api-keys", headers=bearer(acme_token)).json()["api_keys"]
    assert [k["principal"] for k in listing] == ["acme-admin"]
    assert_problem(h.client.delete(f"/v1/auth/api-keys/{default_key}", headers=bearer(acme_token)), 404)
    assert_problem(h.client.get("/v1/keys/default-secret", headers=bearer(acme_token)), 404)
    r = h.client.post("/v1/keys/default-secret/sign", json={"input": "AA=="}, headers=bearer(acme_token))
    assert_problem(r, 404)
    names = [k["name"] for k in h.client.get("/v1/keys", headers=bearer(acme_token)).json()["keys"]]
    assert "default-secret" not in names


def test_sealing_drops_cached_credentials(h: Harness) -> None:
    token = h.token("while-sealed", ["auditor"])
    assert h.client.get("/v1/keys", headers=bearer(token)).status_code == 200
    assert h.client.post("/v1/sys/seal", headers=h.admin).status_code == 200
    try:
        r = h.client.get("/v1/keys", headers=bearer(token))
        assert_problem(r, 503)
    finally:
        h.unseal()
    assert h.client.get("/v1/keys", headers=bearer(token)).status_code == 200
