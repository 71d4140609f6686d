"""HSM-resident keys over HTTP (issue 14 item 6): a real server process on a real SoftHSM2 token.

The server gets the hsm_* settings and SOFTHSM2_CONF (the PIN only through the variable the
settings name); every HSM key type signs or encrypts through the API and the result verifies or
decrypts with ``cryptography`` (coincurve for secp256k1); rotation makes a new token object and
old signatures still verify; DELETE with window 0 deletes the objects; backup is refused. A
server without an HSM answers a clear 400 for ``backend: "hsm"``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from hsm_support import PIN_ENV, SoftHsm
from server_process import BACKENDS, ServerProcess, assert_problem, b64, running_server, unb64
from test_keys_hsm import OAEP, SIGN_TYPES, raw, verify_independently


@pytest.fixture(scope="module", params=BACKENDS, name="server")
def hsm_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, softhsm: SoftHsm
) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp(f"skms-hsm-{request.param}") / "data"
    env = {
        "SOFTHSM2_CONF": str(softhsm.conf),
        "SKMS_HSM_MODULE": softhsm.module,
        "SKMS_HSM_TOKEN_LABEL": softhsm.label,
        "SKMS_HSM_PIN_ENV": PIN_ENV,  # the variable's name; the PIN itself is only in the environment
    }
    with running_server(request.param, data_dir, env) as server:
        yield server


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server without hsm_* settings."""
    with running_server("sqlite", tmp_path_factory.mktemp("skms-nohsm") / "data") as server:
        yield server


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> httpx.Client:
    return server.client()


def ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()  # type: ignore[no-any-return]


def public_of(key: dict[str, Any], version: int) -> Any:
    from skms.crypto import registry

    [entry] = [v for v in key["versions"] if v["version"] == version]
    alg = registry.get(key["type"])
    assert alg.public_class is not None
    stored = unb64(entry["public_key"])
    public = alg.public_class.load(stored, "spki-der" if alg.family == "rsa" else "raw")
    return serialization.load_der_public_key(public.export("spki-der"))


@pytest.mark.parametrize("type", SIGN_TYPES)
def test_every_signing_type_verifies_independently(api: httpx.Client, type: str) -> None:
    name = f"hsm-{type}"
    key = ok(api.post("/v1/keys", json={"name": name, "type": type, "backend": "hsm"}), 201)
    assert key["backend"] == "hsm" and ok(api.get(f"/v1/keys/{name}"))["backend"] == "hsm"
    message = b"signed inside the token"
    signed = ok(api.post(f"/v1/keys/{name}/sign", json={"input": b64(message)}))
    assert signed["key_version"] == 1
    verify_independently(type, public_of(key, 1), message, raw(signed["signature"]))
    body = {"input": b64(message), "signature": signed["signature"]}
    assert ok(api.post(f"/v1/keys/{name}/verify", json=body)) == {"valid": True}
    assert ok(api.post(f"/v1/keys/{name}/verify", json={**body, "input": b64(b"other")})) == {"valid": False}


def test_aes_gcm_round_trip_and_integrity(api: httpx.Client) -> None:
    ok(api.post("/v1/keys", json={"name": "hsm-aes", "type": "aes256-gcm", "backend": "hsm"}), 201)
    body = {"plaintext": b64(b"in the token"), "associated_data": b64(b"ctx")}
    sealed = ok(api.post("/v1/keys/hsm-aes/encrypt", json=body))
    assert sealed["ciphertext"].startswith("skms:v1:") and len(raw(sealed["ciphertext"])) == 12 + 12 + 16
    opened = {"ciphertext": sealed["ciphertext"], "associated_data": b64(b"ctx")}
    assert unb64(ok(api.post("/v1/keys/hsm-aes/decrypt", json=opened))["plaintext"]) == b"in the token"
    wrong = {**opened, "associated_data": b64(b"other")}
    assert_problem(api.post("/v1/keys/hsm-aes/decrypt", json=wrong), 400)


@pytest.mark.parametrize("type", ["rsa-3072", "rsa-4096"])
def test_rsa_oaep(api: httpx.Client, type: str) -> None:
    """RSA-OAEP SHA-256 decrypts in the token (SoftHSM2 2.6: raw RSA there, OAEP decoded natively)."""
    name = f"hsm-enc-{type}"
    key = ok(api.post("/v1/keys", json={"name": name, "type": type, "purpose": "encrypt", "backend": "hsm"}), 201)
    public = public_of(key, 1)
    k = public.key_size // 8

    def decrypt(ciphertext: bytes) -> httpx.Response:
        return api.post(f"/v1/keys/{name}/decrypt", json={"ciphertext": "skms:v1:" + b64(ciphertext)})

    # Made by `cryptography`: empty, short, and the longest message the key takes.
    for message in (b"", b"from outside", os.urandom(k - 2 * 32 - 2)):
        assert unb64(ok(decrypt(public.encrypt(message, OAEP)))["plaintext"]) == message
    sealed = ok(api.post(f"/v1/keys/{name}/encrypt", json={"plaintext": b64(b"made by skms")}))["ciphertext"]
    assert unb64(ok(api.post(f"/v1/keys/{name}/decrypt", json={"ciphertext": sealed}))["plaintext"]) == b"made by skms"

    # Altered ciphertexts (below the modulus): one answer for every failure.
    outside = public.encrypt(b"from outside", OAEP)
    details = set()
    for i in (1, 2, k // 2, k - 1):
        bad = bytearray(outside)
        bad[i] ^= 0x40
        details.add(assert_problem(decrypt(bytes(bad)), 400, title="IntegrityError")["detail"])
    assert details == {"RSA-OAEP decryption failed: wrong key or altered ciphertext"}

    # Raw-RSA input out of shape: said so, before the token sees it.
    n = public.public_numbers().n
    for bad_input in (outside[:-1], outside + b"\0", b"\0" * k, n.to_bytes(k, "big"), b"\xff" * k):
        problem = assert_problem(decrypt(bad_input), 400, title="InvalidInput")
        assert "RSA-OAEP ciphertext" in problem["detail"]


def test_rotate_keeps_old_signatures(api: httpx.Client) -> None:
    ok(api.post("/v1/keys", json={"name": "hsm-rot", "type": "ecdsa-p256", "backend": "hsm"}), 201)
    old = ok(api.post("/v1/keys/hsm-rot/sign", json={"input": b64(b"m")}))["signature"]
    rotated = ok(api.post("/v1/keys/hsm-rot/rotate"))
    assert rotated["latest_version"] == 2
    new = ok(api.post("/v1/keys/hsm-rot/sign", json={"input": b64(b"m")}))
    assert new["key_version"] == 2
    verify_independently("ecdsa-p256", public_of(rotated, 2), b"m", raw(new["signature"], 2))
    verify_independently("ecdsa-p256", public_of(rotated, 1), b"m", raw(old, 1))
    assert public_of(rotated, 1).public_numbers() != public_of(rotated, 2).public_numbers()
    for signature in (old, new["signature"]):
        body = {"input": b64(b"m"), "signature": signature}
        assert ok(api.post("/v1/keys/hsm-rot/verify", json=body)) == {"valid": True}


def test_states_and_destroy(api: httpx.Client) -> None:
    ok(api.post("/v1/keys", json={"name": "hsm-gone", "type": "ed25519", "backend": "hsm"}), 201)
    signed = ok(api.post("/v1/keys/hsm-gone/sign", json={"input": b64(b"m")}))["signature"]
    ok(api.post("/v1/keys/hsm-gone/state", json={"state": "suspended"}))
    assert_problem(api.post("/v1/keys/hsm-gone/sign", json={"input": b64(b"m")}), 409)
    body = {"input": b64(b"m"), "signature": signed}
    assert ok(api.post("/v1/keys/hsm-gone/verify", json=body)) == {"valid": True}
    gone = ok(api.delete("/v1/keys/hsm-gone", params={"window": 0}))
    assert gone["state"] == "destroyed"
    assert_problem(api.post("/v1/keys/hsm-gone/verify", json=body), 409)


def test_backup_refused_and_bad_requests(api: httpx.Client) -> None:
    ok(api.post("/v1/keys", json={"name": "hsm-nobackup", "type": "ecdsa-p384", "backend": "hsm"}), 201)
    r = api.post("/v1/backup", json={"recipient": "anyone", "names": ["hsm-nobackup"]})
    assert_problem(r, 403)
    assert "HSM" in r.json()["detail"]
    policy = {"exportable": True}
    r = api.post("/v1/keys", json={"name": "x", "type": "ecdsa-p256", "backend": "hsm", "policy": policy})
    assert_problem(r, 400)
    assert "never leaves the token" in r.json()["detail"]
    assert_problem(api.post("/v1/keys", json={"name": "x", "type": "ml-dsa-65", "backend": "hsm"}), 400)
    assert_problem(api.post("/v1/keys", json={"name": "x", "type": "ed25519", "backend": "tpm"}), 400)


def test_server_without_hsm_says_so(plain_server: ServerProcess) -> None:
    api = plain_server.client()
    r = api.post("/v1/keys", json={"name": "x", "type": "ecdsa-p256", "backend": "hsm"})
    assert_problem(r, 400, field="backend")
    assert "none configured" in r.json()["detail"]


def test_digest_sign_p256(api: httpx.Client) -> None:
    key = ok(api.post("/v1/keys", json={"name": "hsm-digest", "type": "ecdsa-p256", "backend": "hsm"}), 201)
    digest = hashlib.sha256(b"pre").digest()
    signed = ok(api.post("/v1/keys/hsm-digest/sign", json={"input": b64(digest), "prehashed": True}))
    verify_independently("ecdsa-p256", public_of(key, 1), b"pre", raw(signed["signature"]))


def test_token_refuses_every_secret_value(api: httpx.Client, hsm: Any) -> None:
    """Read the secret of every private or secret key SKMS made in the token: the token refuses each one."""
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11.exceptions import AttributeSensitive

    ok(api.post("/v1/keys", json={"name": "hsm-last-aes", "type": "aes256-gcm", "backend": "hsm"}), 201)
    ok(api.post("/v1/keys/hsm-last-aes/rotate"))

    def read(session: Any) -> list[tuple[str, bool, bool, str]]:
        out = []
        for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.SECRET_KEY):
            for obj in session.get_objects({Attribute.CLASS: cls}):
                label = obj[Attribute.LABEL]
                if not label.startswith("skms:") or label.count(":") != 3:
                    continue  # not a key SKMS made for /v1/keys (the seal's wrapping key, other tests' keys)
                secret = Attribute.PRIVATE_EXPONENT if obj[Attribute.KEY_TYPE] == KeyType.RSA else Attribute.VALUE
                try:
                    obj[secret]
                    fate = "READ"
                except AttributeSensitive:
                    fate = "refused"
                out.append((label, obj[Attribute.SENSITIVE], obj[Attribute.EXTRACTABLE], fate))
        return out

    found = hsm.call(read)
    assert len(found) >= 2 * len(SIGN_TYPES) + 2  # both store backends' keys live on the one token
    assert all(entry[1:] == (True, False, "refused") for entry in found), [e for e in found if e[3] != "refused"]


def test_kill_9_during_hsm_key_creations(server: ServerProcess) -> None:
    """kill -9 of the server's whole process group while clients create HSM keys: after a restart every
    acknowledged key exists and signs, and every key row names an object that exists (it signs)."""
    import os
    import signal
    import threading
    import time

    prefix = f"crash-{server.backend}"
    acknowledged: list[tuple[str, str]] = []
    stop = threading.Event()

    def creator(worker: int) -> None:
        client = server.client()
        n = 0
        while not stop.is_set():
            name = f"{prefix}-{worker}-{n}"
            n += 1
            kind = ("ecdsa-p256", "ed25519", "aes256-gcm")[n % 3]
            try:
                r = client.post("/v1/keys", json={"name": name, "type": kind, "backend": "hsm"})
            except httpx.TransportError:
                return  # the server died under the request: not acknowledged
            if r.status_code == 201:
                acknowledged.append((name, kind))

    threads = [threading.Thread(target=creator, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.proc is not None
    os.killpg(server.proc.pid, signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(acknowledged) >= 20
    server.restart()
    api = server.client()
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"prefix": prefix, "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = ok(api.get("/v1/keys", params=params))
        rows.extend(page["keys"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    by_name = {k["name"]: k for k in rows}
    for name, _ in acknowledged:
        assert name in by_name, f"acknowledged key {name} lost"
    for key in rows:  # every row, acknowledged or not, names an object that is there
        if key["type"] == "aes256-gcm":
            sealed = ok(api.post(f"/v1/keys/{key['name']}/encrypt", json={"plaintext": b64(b"after")}))
            opened = ok(api.post(f"/v1/keys/{key['name']}/decrypt", json={"ciphertext": sealed["ciphertext"]}))
            assert unb64(opened["plaintext"]) == b"after"
        else:
            signed = ok(api.post(f"/v1/keys/{key['name']}/sign", json={"input": b64(b"after")}))
            verify_independently(key["type"], public_of(key, 1), b"after", raw(signed["signature"]))
    print(f"{server.backend}: {len(acknowledged)} acknowledged, {len(rows)} rows after the restart")
