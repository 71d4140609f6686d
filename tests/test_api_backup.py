"""Backups over HTTP against a real server (SQLite and PostgreSQL): issue 13, defect 2.

A key-admin extracted keys marked non-exportable by asking for a backup encrypted to a public key
of their own. Now bundles go only to backup recipients an admin registered (listed, audited), a
key goes into one only when its policy allowed backup when it was created, neither ``exportable``
nor ``allow_backup`` ever turns on later, restoring is the admin's act, and restore keeps every
flag without loosening the key it replaces. The last test tries every route that moves material
out against a non-exportable key and wallet, and looks for their material in every answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from server_process import ServerProcess, assert_problem, b64, server_fixture, unb64
from skms._native import SecretBytes
from skms.errors import PolicyViolation
from skms.keys import KeyService, backup
from skms.keys.transfer import XWING_AES_KWP

server = server_fixture()

DATA = b64(b"backup tests")


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> httpx.Client:
    return server.client()


def role_client(server: ServerProcess, admin: httpx.Client, role: str) -> httpx.Client:
    r = admin.post("/v1/auth/api-keys", json={"principal": f"{role}-user", "roles": [role]})
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    server.secret(token)
    return server.client(token)


@pytest.fixture(scope="module")
def key_admin(server: ServerProcess, admin: httpx.Client) -> httpx.Client:
    return role_client(server, admin, "key-admin")


@pytest.fixture(scope="module")
def wallet_operator(server: ServerProcess, admin: httpx.Client) -> httpx.Client:
    return role_client(server, admin, "wallet-operator")


@pytest.fixture(scope="module")
def auditor(server: ServerProcess, admin: httpx.Client) -> httpx.Client:
    return role_client(server, admin, "auditor")


@pytest.fixture(scope="module")
def escrow(admin: httpx.Client) -> tuple[SecretBytes, bytes]:
    """The tenant's registered backup recipient ``escrow``, and its key pair."""
    private, public = backup.create_backup_keypair()
    r = admin.post("/v1/backup/recipients", json={"name": "escrow", "public_key": b64(public)})
    assert r.status_code == 201, r.text
    return private, public


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:400]}"
    return r.json() if r.content else None


def make_key(admin: httpx.Client, name: str, kind: str, **policy: Any) -> None:
    ok(admin.post("/v1/keys", json={"name": name, "type": kind, "policy": policy}), 201)


def make_wallet(admin: httpx.Client, name: str, **policy: Any) -> str:
    phrase: str = ok(admin.post("/v1/wallets", json={"name": name, "words": 12, "policy": policy}), 201)["mnemonic"]
    return phrase


def audit(client: httpx.Client, **query: str) -> list[dict[str, Any]]:
    return [r["event"] for r in ok(client.get("/v1/audit", params={"limit": 1000, **query}))["records"]]


def bundle_names(bundle_b64: str, private: SecretBytes) -> list[str]:
    payload = json.loads(backup.open_bundle(unb64(bundle_b64), private))
    return sorted(k["name"] for k in payload["keys"])


# -- the reported attack -------------------------------------------------------------------------------


def test_a_key_admin_cannot_back_up_a_non_exportable_key_for_themselves(
    admin: httpx.Client, key_admin: httpx.Client, escrow: tuple[SecretBytes, bytes]
) -> None:
    make_key(admin, "crown", "aes256-gcm")  # exportable: false, the default
    own_private, own_public = backup.create_backup_keypair()
    # The request of the report: the caller's own public key. Refused, naming the field.
    r = key_admin.post("/v1/backup", json={"recipient_public_key": b64(own_public), "names": ["crown"]})
    assert "recipient_public_key" in assert_problem(r, 400)["detail"]
    # Registering a recipient of their own is the admin's.
    r = key_admin.post("/v1/backup/recipients", json={"name": "mine", "public_key": b64(own_public)})
    assert "backup:RegisterRecipient" in assert_problem(r, 403)["detail"]
    assert (
        "no backup recipient named 'mine'"
        in assert_problem(key_admin.post("/v1/backup", json={"recipient": "mine"}), 404)["detail"]
    )
    # A registered recipient does not carry a key whose policy does not allow backup: 403 naming it.
    r = key_admin.post("/v1/backup", json={"recipient": "escrow", "names": ["crown"]})
    assert "'crown' may not be backed up" in assert_problem(r, 403)["detail"]
    # A whole-tenant backup leaves it out, and says so.
    out = ok(key_admin.post("/v1/backup", json={"recipient": "escrow"}))
    assert "crown" in out["skipped"] and "crown" not in out["keys"] and out["recipient"] == "escrow"
    assert "crown" not in bundle_names(out["bundle"], escrow[0])
    # Nor can the flags be turned on to get there.
    for change in ({"exportable": True}, {"allow_backup": True}):
        r = key_admin.patch("/v1/keys/crown", json={"policy": change})
        assert f"{next(iter(change))} cannot be turned on" in assert_problem(r, 409, title="InvalidState")["detail"]
    assert ok(admin.get("/v1/keys/crown"))["policy"] == {
        "rotation_period": None, "version_ttl": None, "exportable": False, "deletion_window": 604800,
        "allow_backup": False,
    }  # fmt: skip
    # Nor restore a bundle of their own making (a key-admin may not restore at all).
    crafted = backup.seal_bundle(json.dumps({"format": 1, "created_at": 0, "keys": []}).encode(), own_public)
    r = key_admin.post(
        "/v1/restore", json={"bundle": b64(crafted), "backup_private_key": b64(own_private.expose_secret())}
    )
    assert "key:Restore" in assert_problem(r, 403)["detail"]


def test_wallets_follow_the_same_rules(
    admin: httpx.Client, wallet_operator: httpx.Client, key_admin: httpx.Client, escrow: tuple[SecretBytes, bytes]
) -> None:
    make_wallet(admin, "cold-w")
    make_wallet(admin, "warm-w", allow_backup=True)
    # key:Backup does not reach wallets: a whole-tenant backup holding one needs wallet:Backup too.
    r = key_admin.post("/v1/backup", json={"recipient": "escrow"})
    assert "wallet:Backup" in assert_problem(r, 403)["detail"]
    assert_problem(key_admin.post("/v1/backup", json={"recipient": "escrow", "names": ["warm-w"]}), 403)
    whole = ok(admin.post("/v1/backup", json={"recipient": "escrow"}))
    assert "warm-w" in whole["keys"] and "cold-w" in whole["skipped"]
    r = wallet_operator.post("/v1/backup", json={"recipient": "escrow", "names": ["cold-w"]})
    assert "'cold-w' may not be backed up" in assert_problem(r, 403)["detail"]
    out = ok(wallet_operator.post("/v1/backup", json={"recipient": "escrow", "names": ["warm-w"]}))
    assert bundle_names(out["bundle"], escrow[0]) == ["warm-w"]
    for change in ({"exportable": True}, {"allow_backup": True}):
        assert_problem(wallet_operator.patch("/v1/keys/cold-w", json={"policy": change}), 409)
    r = wallet_operator.post(
        "/v1/restore",
        json={"bundle": out["bundle"], "backup_private_key": b64(escrow[0].expose_secret()), "overwrite": True},
    )
    assert "Restore" in assert_problem(r, 403)["detail"]


# -- the recipient registry ----------------------------------------------------------------------------


def test_recipients_are_registered_by_an_admin_listed_and_audited(
    admin: httpx.Client, key_admin: httpx.Client, auditor: httpx.Client
) -> None:
    _, public = backup.create_backup_keypair()
    made = ok(admin.post("/v1/backup/recipients", json={"name": "offsite", "public_key": b64(public)}), 201)
    assert made["name"] == "offsite" and unb64(made["public_key"]) == public
    assert made["fingerprint"] == backup.public_key_fingerprint(public) and made["created_by"] == "admin"
    for reader in (admin, key_admin, auditor):
        assert made in ok(reader.get("/v1/backup/recipients"))["recipients"]
    assert_problem(admin.post("/v1/backup/recipients", json={"name": "offsite", "public_key": b64(public)}), 409)
    assert_problem(admin.post("/v1/backup/recipients", json={"name": "short", "public_key": b64(public[:-1])}), 400)
    assert_problem(admin.post("/v1/backup/recipients", json={"name": "bad name!", "public_key": b64(public)}), 400)
    r = key_admin.delete("/v1/backup/recipients/offsite")
    assert "backup:DeleteRecipient" in assert_problem(r, 403)["detail"]
    assert admin.delete("/v1/backup/recipients/offsite").status_code == 204
    assert_problem(admin.delete("/v1/backup/recipients/offsite"), 404)
    assert "offsite" not in {r["name"] for r in ok(admin.get("/v1/backup/recipients"))["recipients"]}
    assert_problem(admin.post("/v1/backup", json={"recipient": "offsite"}), 404)
    # Every step is in the audit log, the refusals too.
    registered = audit(auditor, action="backup:RegisterRecipient", resource="backup:offsite")
    assert [(e["principal"], e["result"]) for e in registered] == [
        ("admin", "allowed"), ("admin", "error:Conflict"),
    ]  # fmt: skip
    deleted = audit(auditor, action="backup:DeleteRecipient", resource="backup:offsite")
    assert [(e["principal"], e["result"]) for e in deleted] == [
        ("key-admin-user", "denied"), ("admin", "allowed"), ("admin", "error:NotFound"),
    ]  # fmt: skip
    denied = audit(auditor, action="backup:RegisterRecipient", principal="key-admin-user")
    assert denied and all(e["result"] == "denied" for e in denied)


# -- restore -------------------------------------------------------------------------------------------


def test_restore_keeps_every_flag_and_never_loosens_a_key(
    admin: httpx.Client, key_admin: httpx.Client, escrow: tuple[SecretBytes, bytes]
) -> None:
    private, public = escrow
    make_key(admin, "kept", "aes256-gcm", allow_backup=True, rotation_period=86400, deletion_window=3600)
    for _ in range(2):
        ok(admin.post("/v1/keys/kept/rotate"))
    ok(admin.patch("/v1/keys/kept", json={"min_version": 2, "labels": {"team": "pay"}}))
    ok(admin.post("/v1/keys/kept/state", json={"state": "suspended"}))
    before = ok(admin.get("/v1/keys/kept"))
    bundle = ok(key_admin.post("/v1/backup", json={"recipient": "escrow", "names": ["kept"]}))["bundle"]
    key = b64(private.expose_secret())
    counts = ok(admin.post("/v1/restore", json={"bundle": bundle, "backup_private_key": key, "overwrite": True}))
    assert counts == {"keys": 1, "versions": 3, "replaced": 1}
    assert ok(admin.get("/v1/keys/kept")) == before  # policy flags, min_version, state, versions: all kept
    # A bundle made to loosen the key (anyone holding a registered public key can make one) is refused.
    payload = json.loads(backup.open_bundle(unb64(bundle), private))
    payload["keys"][0]["policy"]["exportable"] = True
    loosened = b64(backup.seal_bundle(json.dumps(payload).encode(), public))
    r = admin.post("/v1/restore", json={"bundle": loosened, "backup_private_key": key, "overwrite": True})
    assert "exportable cannot be turned on" in assert_problem(r, 409)["detail"]
    assert ok(admin.get("/v1/keys/kept")) == before
    r = key_admin.post("/v1/restore", json={"bundle": bundle, "backup_private_key": key, "overwrite": True})
    assert "key:Restore" in assert_problem(r, 403)["detail"]


# -- every path that moves material out, against a locked key and wallet ---------------------------------


def _forms(secret: bytes) -> set[bytes]:
    return {
        secret, base64.b64encode(secret), base64.urlsafe_b64encode(secret).rstrip(b"="), secret.hex().encode(),
        secret.hex().upper().encode(),
    }  # fmt: skip


async def _materials(server: ServerProcess, names: list[str]) -> dict[str, bytes]:
    """The material of each key, read from the server's own store with its key file (not over HTTP)."""
    url = server.env.get("SKMS_DATABASE_URL") or f"sqlite:///{server.data_dir / 'skms.db'}"
    service = await KeyService.open(url)
    try:
        await service.sealer.unseal(keyfile=str(server.keyfile))
        out = {}
        for name in names:
            record = await service.store.get_key("default", name)
            [version] = await service.store.get_versions(record.id)
            out[name] = service.version_material(record, version).expose_secret()
        # The library's own export paths refuse too (no route reaches them).
        _, recipient = backup.create_backup_keypair()
        for name in names:
            with pytest.raises(PolicyViolation, match="not exportable"):
                await service.export_key("default", name, recipient, XWING_AES_KWP)
        with pytest.raises(PolicyViolation, match="not exportable"):
            await service.export_wallet_phrase("default", "locked-w")
        return out
    finally:
        await service.close()


@pytest.fixture(scope="module")
def locked(server: ServerProcess, admin: httpx.Client) -> Iterator[dict[str, bytes]]:
    for name, kind in (("locked-aes", "aes256-gcm"), ("locked-ed", "ed25519"), ("locked-mac", "hmac-sha256"),
                       ("locked-kem", "x25519+ml-kem-768")):  # fmt: skip
        make_key(admin, name, kind)
    make_key(admin, "control-aes", "aes256-gcm", allow_backup=True)  # the search's positive control
    phrase = make_wallet(admin, "locked-w")
    server.secret(phrase)
    names = ["locked-aes", "locked-ed", "locked-mac", "locked-kem", "locked-w", "control-aes"]
    materials = asyncio.run(_materials(server, names))
    secrets = dict(materials)
    seed = materials["locked-w"][:64]
    secrets["locked-w seed"], secrets["locked-w entropy"] = seed, materials["locked-w"][64:]
    secrets["locked-w phrase"] = phrase.encode()
    yield secrets


def test_no_route_returns_the_material_of_a_non_exportable_key_or_wallet(
    admin: httpx.Client, locked: dict[str, bytes], escrow: tuple[SecretBytes, bytes]
) -> None:
    """Every route that uses or moves a key, called by the admin (who may do everything), for each locked
    key and the wallet; no answer (nor a whole-tenant bundle, opened) holds their material in any encoding."""
    answers: list[tuple[str, httpx.Response]] = []

    def call(method: str, url: str, body: dict[str, Any] | None = None, **params: Any) -> httpx.Response:
        r = admin.request(method, url, json=body, params=params or None)
        assert r.status_code < 500, f"{method} {url}: {r.status_code} {r.text[:300]}"
        answers.append((f"{method} {url}", r))
        return r

    aes = "/v1/keys/locked-aes"
    ciphertext = ok(call("POST", f"{aes}/encrypt", {"plaintext": DATA}))["ciphertext"]
    call("POST", f"{aes}/decrypt", {"ciphertext": ciphertext})
    call("POST", f"{aes}/rewrap", {"ciphertext": ciphertext})
    for size in (16, 32, 64):  # a fresh data key, never the key's own material
        call("POST", f"{aes}/datakey", {"size": size})
    call("POST", f"{aes}/datakey", {"batch": [{}, {}]})
    signature = ok(call("POST", "/v1/keys/locked-ed/sign", {"input": DATA}))["signature"]
    call("POST", "/v1/keys/locked-ed/verify", {"input": DATA, "signature": signature})
    call("POST", "/v1/keys/locked-mac/hmac", {"input": DATA})
    kem = ok(call("POST", "/v1/keys/locked-kem/encapsulate"))
    call("POST", "/v1/keys/locked-kem/decapsulate", {"ciphertext": kem["ciphertext"]})
    for name in ("locked-aes", "locked-ed", "locked-mac", "locked-kem", "locked-w"):
        call("GET", f"/v1/keys/{name}")
        call("PATCH", f"/v1/keys/{name}", {"policy": {"exportable": True}})
        call("PATCH", f"/v1/keys/{name}", {"policy": {"allow_backup": True}})
        r = call("POST", "/v1/backup", {"recipient": "escrow", "names": [name]})
        assert r.status_code == 403, r.text
    call("GET", "/v1/keys", limit=1000)
    call("GET", "/v1/wallets/locked-w")
    for path in ("m", "m/0", "m/84'/0'/0'"):
        call("GET", "/v1/wallets/locked-w/xpub", path=path)
    call("POST", "/v1/wallets/locked-w/addresses", {"chain": "bitcoin", "count": 3})
    call("POST", "/v1/wallets/locked-w/sign", {"scheme": "ethereum-personal", "chain": "ethereum", "payload": DATA})
    call("POST", "/v1/wallets/locked-w/sign", {"scheme": "solana", "chain": "solana", "payload": DATA})
    call("POST", "/v1/keys/locked-w/encrypt", {"plaintext": DATA})  # a wallet through a key route
    whole = ok(call("POST", "/v1/backup", {"recipient": "escrow"}))
    assert {"locked-aes", "locked-ed", "locked-mac", "locked-kem", "locked-w"} <= set(whole["skipped"])
    opened = backup.open_bundle(unb64(whole["bundle"]), escrow[0])
    call("GET", "/v1/audit", limit=1000)
    # The search finds material where it is: in a bundle of a key that allows backup.
    control = locked["control-aes"]
    wanted = ok(admin.post("/v1/backup", json={"recipient": "escrow", "names": ["control-aes"]}))
    assert any(form in backup.open_bundle(unb64(wanted["bundle"]), escrow[0]) for form in _forms(control))

    texts = [(what, r.content) for what, r in answers] + [("the whole-tenant bundle, opened", opened)]
    for what, content in texts:
        assert b"prv" not in content, what  # no extended private key
        for secret_name, secret in locked.items():
            if secret_name == "control-aes":
                continue
            leaked = [form for form in _forms(secret) if form in content]
            assert not leaked, f"{what} returns the material of {secret_name}"
    assert all(r.status_code == 409 for what, r in answers if what.startswith("PATCH"))
