"""The newcomer flow over HTTP against a real server: keys of every registry type and their operations.

Create, sign/verify (checked with independent libraries where there is one),
encrypt/decrypt with associated data, rotate and use data from before the
rotation, rewrap, data keys, HMAC, KEM, batch forms with a problem per bad item,
pagination, PATCH and the version rules, states, scheduled deletion.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import coincurve
import httpx
import nacl.signing
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mldsa, padding

from server_process import ServerProcess, assert_problem, b64, server_fixture, unb64
from skms.crypto.registry import ALGORITHMS

server = server_fixture()

REFUSED = "rsa-2048"  # deprecated: the default crypto policy refuses it
TYPES = [t for t in ALGORITHMS if t != REFUSED]


def purposes(kind: str) -> set[str]:
    return {p.value for p in ALGORITHMS[kind].purposes}


SIGN_TYPES = [t for t in TYPES if "sign" in purposes(t)]
ENCRYPT_TYPES = [t for t in TYPES if "encrypt" in purposes(t)]
MAC_TYPES = [t for t in TYPES if "mac" in purposes(t)]
KEM_TYPES = [t for t in TYPES if "kem" in purposes(t)]
AGREE_TYPES = [t for t in TYPES if purposes(t) == {"key-agreement"}]
AEAD_TYPES = [t for t in ENCRYPT_TYPES if not t.startswith("rsa-")]


def key_name(kind: str, suffix: str = "") -> str:
    return "k-" + kind.replace("+", "-plus-") + suffix


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> httpx.Client:
    return server.client()


def create(api: httpx.Client, name: str, kind: str, **extra: Any) -> dict[str, Any]:
    """Creates a key and checks the metadata of the 201 answer against GET."""
    r = api.post("/v1/keys", json={"name": name, "type": kind, **extra})
    assert r.status_code == 201, r.text
    info: dict[str, Any] = r.json()
    assert info["name"] == name and info["type"] == kind
    assert info["purpose"] == extra.get("purpose", info["purpose"]) and info["purpose"] in purposes(kind)
    assert info["state"] == extra.get("state", "active")
    assert info["labels"] == extra.get("labels", {})
    assert (info["latest_version"], info["min_version"]) == (1, 1)
    assert info["deletion_at"] is None and info["destroyed_at"] is None
    [version] = info["versions"]
    assert version["version"] == 1 and version["state"] == "enabled"
    symmetric = ALGORITHMS[kind].family in ("aead", "hmac", "blake3")
    assert (version["public_key"] is None) == symmetric, version
    shown = api.get(f"/v1/keys/{name}")
    assert shown.status_code == 200 and shown.json() == info
    return info


def ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:300]}"
    body: dict[str, Any] = r.json()
    return body


# -- independent verifiers for the signatures of some types -----------------------------------------

OAEP = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)


def _verify_ec(curve: ec.EllipticCurve, digest: hashes.HashAlgorithm) -> Callable[[bytes, bytes, bytes], None]:
    def verify(public: bytes, message: bytes, signature: bytes) -> None:
        ec.EllipticCurvePublicKey.from_encoded_point(curve, public).verify(signature, message, ec.ECDSA(digest))

    return verify


def _verify_rsa(public: bytes, message: bytes, signature: bytes) -> None:
    key = serialization.load_der_public_key(public)
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO)
    key.verify(signature, message, pss, hashes.SHA256())


def _verify_secp256k1(public: bytes, message: bytes, signature: bytes) -> None:
    assert coincurve.PublicKey(public).verify(signature, message)


ORACLES: dict[str, Callable[[bytes, bytes, bytes], None]] = {
    "ed25519": lambda public, message, signature: nacl.signing.VerifyKey(public).verify(message, signature),
    "ecdsa-secp256k1": _verify_secp256k1,
    "ecdsa-p256": _verify_ec(ec.SECP256R1(), hashes.SHA256()),
    "ecdsa-p384": _verify_ec(ec.SECP384R1(), hashes.SHA384()),
    "rsa-3072": _verify_rsa,
    "rsa-4096": _verify_rsa,
    "ml-dsa-44": lambda p, m, s: mldsa.MLDSA44PublicKey.from_public_bytes(p).verify(s, m),
    "ml-dsa-65": lambda p, m, s: mldsa.MLDSA65PublicKey.from_public_bytes(p).verify(s, m),
    "ml-dsa-87": lambda p, m, s: mldsa.MLDSA87PublicKey.from_public_bytes(p).verify(s, m),
}


def public_key(info: dict[str, Any], version: int) -> bytes:
    entry = next(v for v in info["versions"] if v["version"] == version)
    return unb64(entry["public_key"])


def sig_version(text: str) -> int:
    assert text.startswith("skms:v"), text
    return int(text[len("skms:v") :].split(":", 1)[0])


# -- creation ---------------------------------------------------------------------------------------


def test_every_registry_type_is_exercised() -> None:
    """Each type is created (and used) by one of the tests below: a new type must find its place."""
    covered = SIGN_TYPES + ENCRYPT_TYPES + MAC_TYPES + KEM_TYPES + AGREE_TYPES
    assert set(covered) == set(TYPES)


def test_labels_show_in_metadata(api: httpx.Client) -> None:
    create(api, "labelled", "ed25519", labels={"team": "newcomer", "tier": "1"})
    listed = ok(api.get("/v1/keys", params={"prefix": "labelled"}))["keys"]
    assert [k["labels"] for k in listed] == [{"team": "newcomer", "tier": "1"}]


def test_deprecated_type_is_refused(api: httpx.Client) -> None:
    r = api.post("/v1/keys", json={"name": "old-rsa", "type": REFUSED})
    assert_problem(r, 422, title="AlgorithmNotAllowed")
    assert_problem(api.get("/v1/keys/old-rsa"), 404)


def test_unknown_type_is_refused(api: httpx.Client) -> None:
    assert_problem(api.post("/v1/keys", json={"name": "weird", "type": "rot13"}), 422, title="UnknownAlgorithm")


def test_duplicate_name_is_a_conflict(api: httpx.Client) -> None:
    create(api, "dup", "ed25519")
    assert_problem(api.post("/v1/keys", json={"name": "dup", "type": "aes256-gcm"}), 409, title="Conflict")


# -- signatures -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SIGN_TYPES)
def test_sign_verify_rotate(server: ServerProcess, api: httpx.Client, kind: str) -> None:
    name = key_name(kind)
    info = create(api, name, kind)
    message = os.urandom(40)
    signed = ok(api.post(f"/v1/keys/{name}/sign", json={"input": b64(message)}))
    assert signed["key_version"] == 1 and sig_version(signed["signature"]) == 1
    verify = {"input": b64(message), "signature": signed["signature"]}
    assert ok(api.post(f"/v1/keys/{name}/verify", json=verify)) == {"valid": True}
    other = {"input": b64(message + b"!"), "signature": signed["signature"]}
    assert ok(api.post(f"/v1/keys/{name}/verify", json=other)) == {"valid": False}
    if kind in ORACLES:
        ORACLES[kind](public_key(info, 1), message, unb64(signed["signature"].split(":", 2)[2]))

    rotated = ok(api.post(f"/v1/keys/{name}/rotate"))
    assert rotated["latest_version"] == 2 and [v["version"] for v in rotated["versions"]] == [1, 2]
    if info["versions"][0]["public_key"] is not None:
        assert public_key(rotated, 1) == public_key(info, 1) and public_key(rotated, 2) != public_key(info, 1)
    # Signatures from before the rotation still verify; new ones come from version 2.
    assert ok(api.post(f"/v1/keys/{name}/verify", json=verify)) == {"valid": True}
    again = ok(api.post(f"/v1/keys/{name}/sign", json={"input": b64(message)}))
    assert again["key_version"] == 2 and sig_version(again["signature"]) == 2
    verify2 = {"input": b64(message), "signature": again["signature"]}
    assert ok(api.post(f"/v1/keys/{name}/verify", json=verify2)) == {"valid": True}
    if kind in ORACLES:
        ORACLES[kind](public_key(rotated, 2), message, unb64(again["signature"].split(":", 2)[2]))

    # Batch: one result per item, a problem for the bad one, the rest unaffected.
    batch = ok(api.post(f"/v1/keys/{name}/sign", json={"batch": [{"input": b64(b"a")}, {"input": b64(b"b")}]}))
    assert [r["key_version"] for r in batch["results"]] == [2, 2]
    items = [
        {"input": b64(b"a"), "signature": batch["results"][0]["signature"]},
        {"input": b64(b"b"), "signature": "skms:v1:not base64!"},
        {"input": b64(b"b"), "signature": batch["results"][0]["signature"]},
        {"input": b64(b"b"), "signature": batch["results"][1]["signature"]},
    ]
    results = ok(api.post(f"/v1/keys/{name}/verify", json={"batch": items}))["results"]
    assert len(results) == 4
    assert results[0] == {"valid": True} and results[2] == {"valid": False} and results[3] == {"valid": True}
    assert set(results[1]) == {"error"} and results[1]["error"]["status"] == 400
    assert set(results[1]["error"]) >= {"type", "title", "status", "detail"}


def test_prehashed_ecdsa_signature(api: httpx.Client) -> None:
    name = key_name("ecdsa-secp256k1", "-digest")
    info = create(api, name, "ecdsa-secp256k1")
    digest = os.urandom(32)
    signed = ok(api.post(f"/v1/keys/{name}/sign", json={"input": b64(digest), "prehashed": True}))
    der = unb64(signed["signature"].split(":", 2)[2])
    assert coincurve.PublicKey(public_key(info, 1)).verify(der, digest, hasher=None)
    body = {"input": b64(digest), "signature": signed["signature"], "prehashed": True}
    assert ok(api.post(f"/v1/keys/{name}/verify", json=body)) == {"valid": True}
    # Ed25519 signs messages only: a digest request is refused, not served.
    create(api, "ed-no-digest", "ed25519")
    r = api.post("/v1/keys/ed-no-digest/sign", json={"input": b64(digest), "prehashed": True})
    assert_problem(r, 422, title="UnsupportedOperation")


# -- encryption -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ENCRYPT_TYPES)
def test_encrypt_decrypt_rotate_rewrap(server: ServerProcess, api: httpx.Client, kind: str) -> None:
    name = key_name(kind, "-enc")
    create(api, name, kind, purpose="encrypt")
    aead = kind in AEAD_TYPES
    plaintext = server.secret(os.urandom(48))
    assert isinstance(plaintext, bytes)
    ad = b64(b"record-17") if aead else None
    body: dict[str, Any] = {"plaintext": b64(plaintext)}
    if ad:
        body["associated_data"] = ad
    sealed = ok(api.post(f"/v1/keys/{name}/encrypt", json=body))
    assert sealed["key_version"] == 1 and sig_version(sealed["ciphertext"]) == 1
    assert b64(plaintext) not in sealed["ciphertext"]
    opened = {"ciphertext": sealed["ciphertext"], **({"associated_data": ad} if ad else {})}
    assert unb64(ok(api.post(f"/v1/keys/{name}/decrypt", json=opened))["plaintext"]) == plaintext
    if aead:
        # The associated data is bound: without it, or with another, decryption fails with a 4xx.
        assert_problem(api.post(f"/v1/keys/{name}/decrypt", json={"ciphertext": sealed["ciphertext"]}), 400)
        wrong = {"ciphertext": sealed["ciphertext"], "associated_data": b64(b"record-18")}
        assert_problem(api.post(f"/v1/keys/{name}/decrypt", json=wrong), 400, title="IntegrityError")
    else:
        assert_problem(api.post(f"/v1/keys/{name}/encrypt", json={**body, "associated_data": b64(b"x")}), 400)

    rotated = ok(api.post(f"/v1/keys/{name}/rotate"))
    assert rotated["latest_version"] == 2
    # Data from before the rotation still decrypts; new data uses version 2.
    assert unb64(ok(api.post(f"/v1/keys/{name}/decrypt", json=opened))["plaintext"]) == plaintext
    sealed2 = ok(api.post(f"/v1/keys/{name}/encrypt", json=body))
    assert sealed2["key_version"] == 2 and sig_version(sealed2["ciphertext"]) == 2
    rewrapped = ok(api.post(f"/v1/keys/{name}/rewrap", json=opened))
    assert rewrapped["key_version"] == 2 and rewrapped["ciphertext"] != sealed["ciphertext"]
    reopened = {**opened, "ciphertext": rewrapped["ciphertext"]}
    assert unb64(ok(api.post(f"/v1/keys/{name}/decrypt", json=reopened))["plaintext"]) == plaintext

    # Data keys, with and without the plaintext copy.
    dk_body: dict[str, Any] = {"size": 32, **({"associated_data": ad} if ad else {})}
    datakey = ok(api.post(f"/v1/keys/{name}/datakey", json=dk_body))
    assert set(datakey) == {"ciphertext", "key_version", "plaintext"} and datakey["key_version"] == 2
    dk = server.secret(unb64(datakey["plaintext"]))
    assert isinstance(dk, bytes) and len(dk) == 32
    dk_open = {"ciphertext": datakey["ciphertext"], **({"associated_data": ad} if ad else {})}
    assert unb64(ok(api.post(f"/v1/keys/{name}/decrypt", json=dk_open))["plaintext"]) == dk
    bare = ok(api.post(f"/v1/keys/{name}/datakey", json={**dk_body, "size": 16, "include_plaintext": False}))
    assert set(bare) == {"ciphertext", "key_version"}
    hidden_open = {**dk_open, "ciphertext": bare["ciphertext"]}
    hidden = server.secret(unb64(ok(api.post(f"/v1/keys/{name}/decrypt", json=hidden_open))["plaintext"]))
    assert len(hidden) == 16

    # Data keys in a batch: a bad size is a problem in its slot.
    dk_items = [{"size": 16}, {"size": 7}, {"size": 32, "include_plaintext": False}]
    if ad:
        dk_items = [{**i, "associated_data": ad} for i in dk_items]
    dk_results = ok(api.post(f"/v1/keys/{name}/datakey", json={"batch": dk_items}))["results"]
    assert len(dk_results) == 3
    assert len(server.secret(unb64(dk_results[0]["plaintext"]))) == 16 and dk_results[0]["key_version"] == 2
    assert set(dk_results[1]) == {"error"} and dk_results[1]["error"]["status"] == 400
    assert "plaintext" not in dk_results[2] and dk_results[2]["ciphertext"].startswith("skms:v2:")

    # Batch: a wrong ciphertext is a problem in its slot; the other items decrypt.
    items = [{"plaintext": b64(b"first")}, {"plaintext": b64(b"second")}]
    if ad:
        items = [{**i, "associated_data": ad} for i in items]
    enc = ok(api.post(f"/v1/keys/{name}/encrypt", json={"batch": items}))["results"]
    assert [r["key_version"] for r in enc] == [2, 2]
    dec_items = [{"ciphertext": r["ciphertext"], **({"associated_data": ad} if ad else {})} for r in enc]
    dec_items.insert(
        1, {"ciphertext": sealed["ciphertext"][:-8] + "AAAAAAA=", **({"associated_data": ad} if ad else {})}
    )
    dec_items.append({"ciphertext": "not-a-ciphertext"})
    results = ok(api.post(f"/v1/keys/{name}/decrypt", json={"batch": dec_items}))["results"]
    assert unb64(results[0]["plaintext"]) == b"first" and unb64(results[2]["plaintext"]) == b"second"
    for bad in (results[1], results[3]):
        assert set(bad) == {"error"} and 400 <= bad["error"]["status"] < 500, bad
        assert set(bad["error"]) >= {"type", "title", "status", "detail"}
    rewrap = ok(api.post(f"/v1/keys/{name}/rewrap", json={"batch": [dec_items[0], dec_items[1]]}))["results"]
    assert rewrap[0]["key_version"] == 2 and "error" in rewrap[1]


# -- MACs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", MAC_TYPES)
def test_hmac_compute_verify_rotate(api: httpx.Client, kind: str) -> None:
    name = key_name(kind)
    create(api, name, kind)
    data = b64(os.urandom(64))
    tag = ok(api.post(f"/v1/keys/{name}/hmac", json={"input": data}))
    assert tag["key_version"] == 1 and sig_version(tag["hmac"]) == 1 and "valid" not in tag
    assert ok(api.post(f"/v1/keys/{name}/hmac", json={"input": data, "hmac": tag["hmac"]})) == {"valid": True}
    wrong = {"input": b64(b"other"), "hmac": tag["hmac"]}
    assert ok(api.post(f"/v1/keys/{name}/hmac", json=wrong)) == {"valid": False}
    ok(api.post(f"/v1/keys/{name}/rotate"))
    assert ok(api.post(f"/v1/keys/{name}/hmac", json={"input": data, "hmac": tag["hmac"]})) == {"valid": True}
    tag2 = ok(api.post(f"/v1/keys/{name}/hmac", json={"input": data}))
    assert tag2["key_version"] == 2 and tag2["hmac"] != tag["hmac"]
    batch = [{"input": data}, {"input": data, "hmac": tag["hmac"]}, {"input": data, "hmac": "skms:vX:AAAA"}]
    results = ok(api.post(f"/v1/keys/{name}/hmac", json={"batch": batch}))["results"]
    assert results[0]["key_version"] == 2 and results[0]["hmac"] == tag2["hmac"]
    assert results[1] == {"valid": True}
    assert results[2]["error"]["status"] == 400


# -- KEMs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KEM_TYPES)
def test_encapsulate_decapsulate_rotate(server: ServerProcess, api: httpx.Client, kind: str) -> None:
    name = key_name(kind)
    info = create(api, name, kind)
    assert info["versions"][0]["public_key"]
    enc = ok(api.post(f"/v1/keys/{name}/encapsulate"))
    assert enc["key_version"] == 1 and sig_version(enc["ciphertext"]) == 1
    shared = server.secret(unb64(enc["shared_secret"]))
    assert len(shared) == 32
    dec = ok(api.post(f"/v1/keys/{name}/decapsulate", json={"ciphertext": enc["ciphertext"]}))
    assert unb64(dec["shared_secret"]) == shared
    ok(api.post(f"/v1/keys/{name}/rotate"))
    dec = ok(api.post(f"/v1/keys/{name}/decapsulate", json={"ciphertext": enc["ciphertext"]}))
    assert unb64(dec["shared_secret"]) == shared
    enc2 = ok(api.post(f"/v1/keys/{name}/encapsulate"))
    assert enc2["key_version"] == 2
    server.secret(unb64(enc2["shared_secret"]))
    # Batch forms: several encapsulations; decapsulations with a problem for the bad item.
    batch = ok(api.post(f"/v1/keys/{name}/encapsulate", json={"batch": [{}, {}]}))["results"]
    assert [r["key_version"] for r in batch] == [2, 2]
    secrets_ = [server.secret(unb64(r["shared_secret"])) for r in batch]
    items = [{"ciphertext": batch[0]["ciphertext"]}, {"ciphertext": "skms:v1:%%"}, {"ciphertext": enc["ciphertext"]}]
    results = ok(api.post(f"/v1/keys/{name}/decapsulate", json={"batch": items}))["results"]
    assert unb64(results[0]["shared_secret"]) == secrets_[0] and unb64(results[2]["shared_secret"]) == shared
    assert set(results[1]) == {"error"} and results[1]["error"]["status"] == 400
    assert_problem(api.post(f"/v1/keys/{name}/decapsulate", json={"ciphertext": "skms:v1:!!"}), 400)


@pytest.mark.parametrize("kind", AGREE_TYPES)
def test_key_agreement_key_has_a_public_key_and_no_other_operation(api: httpx.Client, kind: str) -> None:
    name = key_name(kind)
    info = create(api, name, kind)
    assert len(public_key(info, 1)) == 32
    for op, body in (("sign", {"input": "AA=="}), ("encrypt", {"plaintext": "AA=="}), ("hmac", {"input": "AA=="})):
        assert_problem(api.post(f"/v1/keys/{name}/{op}", json=body), 422, title="UnsupportedOperation")
    assert_problem(api.post(f"/v1/keys/{name}/encapsulate"), 422, title="UnsupportedOperation")


def test_operations_need_the_right_purpose(api: httpx.Client) -> None:
    create(api, "purpose-aes", "aes256-gcm")
    create(api, "purpose-ed", "ed25519")
    assert_problem(api.post("/v1/keys/purpose-aes/sign", json={"input": "AA=="}), 422, title="UnsupportedOperation")
    assert_problem(api.post("/v1/keys/purpose-ed/encrypt", json={"plaintext": "AA=="}), 422)
    assert_problem(api.post("/v1/keys/purpose-ed/datakey", json={}), 422)
    assert_problem(api.post("/v1/keys/purpose-aes/decapsulate", json={"ciphertext": "skms:v1:AAAA"}), 422)


# -- listing ----------------------------------------------------------------------------------------


def test_list_pagination_walks_every_key_once(api: httpx.Client) -> None:
    names = {f"page-{i:02d}" for i in range(7)}
    for i, name in enumerate(sorted(names)):
        create(api, name, "aes256-gcm" if i % 2 else "hmac-sha256", labels={"parity": str(i % 2)})
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, "prefix": "page-"}
        if cursor:
            params["cursor"] = cursor
        page = ok(api.get("/v1/keys", params=params))
        assert len(page["keys"]) <= 3
        seen += [k["name"] for k in page["keys"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert sorted(seen) == sorted(names) and len(seen) == len(names)
    assert pages == 3
    # Filters: type, labels (key:value), state.
    by_type = ok(api.get("/v1/keys", params={"prefix": "page-", "type": "hmac-sha256"}))["keys"]
    assert {k["name"] for k in by_type} == {"page-00", "page-02", "page-04", "page-06"}
    by_label = ok(api.get("/v1/keys", params={"prefix": "page-", "label": "parity:1"}))["keys"]
    assert {k["name"] for k in by_label} == {"page-01", "page-03", "page-05"}
    by_state = ok(api.get("/v1/keys", params={"prefix": "page-", "state": "active"}))["keys"]
    assert len(by_state) == 7
    everything = ok(api.get("/v1/keys", params={"limit": 1000}))
    assert everything["next_cursor"] is None and names <= {k["name"] for k in everything["keys"]}


# -- PATCH and the version rules --------------------------------------------------------------------


def test_patch_labels_policy_and_min_version(api: httpx.Client) -> None:
    name = "patched"
    create(api, name, "aes256-gcm", labels={"env": "dev"}, policy={"exportable": False})
    texts = []
    for version in (1, 2, 3):
        if version > 1:
            assert ok(api.post(f"/v1/keys/{name}/rotate"))["latest_version"] == version
        texts.append(ok(api.post(f"/v1/keys/{name}/encrypt", json={"plaintext": b64(b"v%d" % version)}))["ciphertext"])

    info = ok(api.patch(f"/v1/keys/{name}", json={"labels": {"env": "prod", "owner": "pay"}}))
    assert info["labels"] == {"env": "prod", "owner": "pay"}
    info = ok(api.patch(f"/v1/keys/{name}", json={"policy": {"rotation_period": 86400}}))
    assert info["policy"]["rotation_period"] == 86400 and info["policy"]["exportable"] is False
    assert info["labels"] == {"env": "prod", "owner": "pay"}  # untouched by a policy change
    assert_problem(api.patch(f"/v1/keys/{name}", json={"policy": {"rotation_period": 5}}), 400)

    info = ok(api.patch(f"/v1/keys/{name}", json={"min_version": 2}))
    assert info["min_version"] == 2 and info["latest_version"] == 3
    # Below the minimum: refused; at or above it: served.
    r = api.post(f"/v1/keys/{name}/decrypt", json={"ciphertext": texts[0]})
    assert_problem(r, 422, title="PolicyViolation")
    assert unb64(ok(api.post(f"/v1/keys/{name}/decrypt", json={"ciphertext": texts[1]}))["plaintext"]) == b"v2"
    assert_problem(api.post(f"/v1/keys/{name}/rewrap", json={"ciphertext": texts[0]}), 422)
    # The minimum cannot pass the latest version, nor be below 1.
    assert_problem(api.patch(f"/v1/keys/{name}", json={"min_version": 4}), 400)
    assert_problem(api.patch(f"/v1/keys/{name}", json={"min_version": 0}), 400)
    # Lowering it again makes the old version usable (its material was kept).
    ok(api.patch(f"/v1/keys/{name}", json={"min_version": 1}))
    assert unb64(ok(api.post(f"/v1/keys/{name}/decrypt", json={"ciphertext": texts[0]}))["plaintext"]) == b"v1"
    # A version that does not exist is not found.
    missing = "skms:v9:" + texts[0].split(":", 2)[2]
    assert_problem(api.post(f"/v1/keys/{name}/decrypt", json={"ciphertext": missing}), 404)
    assert_problem(api.patch("/v1/keys/no-such-key", json={"labels": {}}), 404)


# -- states -----------------------------------------------------------------------------------------


def test_state_changes(api: httpx.Client) -> None:
    name = "stateful"
    create(api, name, "aes256-gcm")
    sealed = ok(api.post(f"/v1/keys/{name}/encrypt", json={"plaintext": b64(b"kept")}))["ciphertext"]
    assert ok(api.post(f"/v1/keys/{name}/state", json={"state": "suspended"}))["state"] == "suspended"
    # Suspended keys process (decrypt) but never protect (encrypt).
    assert_problem(api.post(f"/v1/keys/{name}/encrypt", json={"plaintext": "AA=="}), 409, title="InvalidState")
    assert unb64(ok(api.post(f"/v1/keys/{name}/decrypt", json={"ciphertext": sealed}))["plaintext"]) == b"kept"
    assert ok(api.post(f"/v1/keys/{name}/state", json={"state": "active"}))["state"] == "active"
    ok(api.post(f"/v1/keys/{name}/encrypt", json={"plaintext": "AA=="}))
    assert ok(api.post(f"/v1/keys/{name}/state", json={"state": "compromised"}))["state"] == "compromised"
    assert_problem(api.post(f"/v1/keys/{name}/encrypt", json={"plaintext": "AA=="}), 409)
    assert unb64(ok(api.post(f"/v1/keys/{name}/decrypt", json={"ciphertext": sealed}))["plaintext"]) == b"kept"
    # Compromised is final.
    assert_problem(api.post(f"/v1/keys/{name}/state", json={"state": "active"}), 409, title="InvalidState")
    # A key created pre-active protects nothing until activated.
    pre = create(api, "pre-active", "ed25519", state="pre-active")
    assert pre["state"] == "pre-active"
    assert_problem(api.post("/v1/keys/pre-active/sign", json={"input": "AA=="}), 409)
    ok(api.post("/v1/keys/pre-active/state", json={"state": "active"}))
    ok(api.post("/v1/keys/pre-active/sign", json={"input": "AA=="}))


def test_scheduled_deletion_and_cancel(api: httpx.Client) -> None:
    name = "doomed"
    create(api, name, "aes256-gcm")
    sealed = ok(api.post(f"/v1/keys/{name}/encrypt", json={"plaintext": b64(b"bye")}))["ciphertext"]
    before = time.time()
    info = ok(api.delete(f"/v1/keys/{name}"))
    assert info["state"] == "active" and info["destroyed_at"] is None
    assert before + 7 * 86400 - 60 <= info["deletion_at"] <= time.time() + 7 * 86400 + 60
    # Pending deletion: unusable, and a second schedule is refused.
    assert_problem(api.post(f"/v1/keys/{name}/encrypt", json={"plaintext": "AA=="}), 409)
    assert_problem(api.post(f"/v1/keys/{name}/decrypt", json={"ciphertext": sealed}), 409)
    assert_problem(api.delete(f"/v1/keys/{name}"), 409)
    info = ok(api.post(f"/v1/keys/{name}/cancel-deletion"))
    assert info["deletion_at"] is None and info["state"] == "active"
    assert unb64(ok(api.post(f"/v1/keys/{name}/decrypt", json={"ciphertext": sealed}))["plaintext"]) == b"bye"
    assert_problem(api.post(f"/v1/keys/{name}/cancel-deletion"), 409)
    # A window of 0 destroys at once: the metadata stays, the material is gone.
    info = ok(api.delete(f"/v1/keys/{name}", params={"window": 0}))
    assert info["state"] == "destroyed" and info["destroyed_at"] is not None
    shown = ok(api.get(f"/v1/keys/{name}"))
    assert shown["state"] == "destroyed"
    assert_problem(api.post(f"/v1/keys/{name}/decrypt", json={"ciphertext": sealed}), 409)
    assert_problem(api.post(f"/v1/keys/{name}/cancel-deletion"), 409)
    assert_problem(api.post(f"/v1/keys/{name}/rotate"), 409)
    # A custom window within the limits; one above them is refused.
    create(api, "doomed-later", "ed25519")
    info = ok(api.delete("/v1/keys/doomed-later", params={"window": 3600}))
    assert info["deletion_at"] - time.time() == pytest.approx(3600, abs=120)
    create(api, "doomed-never", "ed25519")
    assert_problem(api.delete("/v1/keys/doomed-never", params={"window": 10**9}), 400)


# -- random and hash --------------------------------------------------------------------------------


def test_random_and_hash(api: httpx.Client) -> None:
    import hashlib

    r1 = unb64(ok(api.post("/v1/random", json={"bytes": 48}))["random"])
    r2 = unb64(ok(api.post("/v1/random", json={}))["random"])
    assert len(r1) == 48 and len(r2) == 32 and r1[:32] != r2
    for algorithm in ("sha256", "sha512", "sha3-256", "blake2b"):
        out = ok(api.post("/v1/hash", json={"algorithm": algorithm, "input": b64(b"abc")}))
        assert out["algorithm"] == algorithm
        assert unb64(out["digest"]) == hashlib.new(algorithm.replace("-", "_"), b"abc").digest()
