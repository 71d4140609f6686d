"""Root key rotation over the API (issue 14 item 5), on SQLite and PostgreSQL.

* Under load: two nodes (two ``skms serve`` processes of two workers each on one store), 12
  client threads signing, decrypting old ciphertexts and making new keys on both nodes while the
  root rotates three times on one node: zero failed requests; afterwards every ciphertext,
  old or made during the rotations, decrypts on every node.
* Only an admin may rotate (``sys:RotateRoot``): a crypto-user gets 403; both decisions are in
  the audit log.
* A server unsealed over the network (a passphrase; only one worker derived the unseal key) can
  rotate through either worker: the relay hands the unseal key to the others.
* Library level: retired roots are dropped only after the grace period and only when no key row
  uses them (a node that has not seen the rotation may still wrap new data keys with its old root).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keys_support import OpenService, sql
from server_process import ServerProcess, postgres_database
from server_support import skms_executable, start_server
from skms.client import Client

T = "acme"
THREADS = 16
ROTATIONS = 3
PASSPHRASE = "correct horse battery staple"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class SecondNode(ServerProcess):
    """Another ``skms serve --dev`` on the same data directory (store, key file, admin token), with
    logs of its own: a second node of the same deployment."""

    @property
    def stderr_path(self) -> Path:
        return self.data_dir.parent / "second.stderr.log"

    @property
    def stdout_path(self) -> Path:
        return self.data_dir.parent / "second.stdout.log"


@contextlib.contextmanager
def two_nodes(backend: str, root: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two dev servers on one store (each with its own port, workers and unseal relay)."""
    with contextlib.ExitStack() as stack:
        first_env: dict[str, str] = {"SKMS_RATE_LIMIT_ADMIN": "100000", "SKMS_RATE_LIMIT_READ": "100000"}
        if backend == "postgresql":
            first_env["SKMS_DATABASE_URL"] = stack.enter_context(postgres_database())
        a = ServerProcess(backend, root / "a", first_env)
        stack.callback(a.stop)
        a.start()
        b = SecondNode(backend, root / "a", first_env)
        stack.callback(b.stop)
        b.start()
        yield a, b
        a.stop()
        b.stop()
        a.check_logs()
        b.check_logs()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_rotation_under_load(backend: str, tmp_path: Path) -> None:
    with two_nodes(backend, tmp_path) as (a, b):
        _rotation_under_load(a, b)


def _rotation_under_load(a: ServerProcess, b: ServerProcess) -> None:
    admin = a.client()
    for name, kind in (("sig", "ed25519"), *((f"k{i}", "aes256-gcm") for i in range(20))):
        admin.post("/v1/keys", json={"name": name, "type": kind}).raise_for_status()
    old: dict[str, tuple[str, bytes]] = {}
    for i in range(20):
        plaintext = os.urandom(24)
        ct = admin.post(f"/v1/keys/k{i}/encrypt", json={"plaintext": b64(plaintext)}).raise_for_status().json()
        old[f"k{i}"] = (ct["ciphertext"], plaintext)
    names = sorted(old)
    stop = threading.Event()
    failures: list[str] = []
    made: list[tuple[ServerProcess, str, str, bytes]] = []  # keys and ciphertexts made during the rotations
    counts = [0] * THREADS
    lock = threading.Lock()

    def load(index: int) -> None:
        node = (a, b)[index % 2]
        with httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {node.token}"}, timeout=60) as c:
            n = 0
            while not stop.is_set():
                name = names[(n + index) % len(names)]
                ct, plaintext = old[name]
                calls = [
                    ("sign", c.post("/v1/keys/sig/sign", json={"input": b64(b"message %d" % n)})),
                    ("decrypt", c.post(f"/v1/keys/{name}/decrypt", json={"ciphertext": ct})),
                ]
                if calls[1][1].status_code == 200 and base64.b64decode(calls[1][1].json()["plaintext"]) != plaintext:
                    failures.append(f"{node.port}: {name} decrypted to something else")
                if n % 15 == 0:  # a new key (wrapped by whichever root this worker holds) and a ciphertext
                    new = f"t{index}-{n}"
                    calls.append(("create", c.post("/v1/keys", json={"name": new, "type": "aes256-gcm"})))
                    data = os.urandom(16)
                    r = c.post(f"/v1/keys/{new}/encrypt", json={"plaintext": b64(data)})
                    calls.append(("encrypt", r))
                    if r.status_code == 200:
                        with lock:
                            made.append((node, new, r.json()["ciphertext"], data))
                for what, r in calls:
                    if r.status_code not in (200, 201):
                        failures.append(f"{node.port} {what}: {r.status_code} {r.text[:200]}")
                counts[index] += len(calls)
                n += 1

    threads = [threading.Thread(target=load, args=(i,)) for i in range(THREADS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    rotation_times = []
    try:
        time.sleep(1.0)
        for expected in range(2, 2 + ROTATIONS):
            t0 = time.monotonic()
            r = a.fresh_request("POST", "/v1/sys/rotate-root")
            rotation_times.append(time.monotonic() - t0)
            assert r.status_code == 200, r.text
            assert r.json() == {"root_id": expected}
            time.sleep(0.7)
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    elapsed = time.monotonic() - started
    total = sum(counts)
    print(
        f"\n{a.backend}: {total} requests in {elapsed:.1f} s ({total / elapsed:.0f}/s), {THREADS} threads, 2 nodes;"
        f" {ROTATIONS} rotations, {', '.join(f'{x * 1000:.0f} ms' for x in rotation_times)}; failures: {len(failures)}"
    )
    assert not failures, failures[:10]
    assert total > 200 and made
    # Every ciphertext, old or made during the rotations on either node, decrypts on every worker of both.
    for node in (a, b):
        for _ in range(3):  # new connections: both workers
            for name, (ct, plaintext) in old.items():
                r = node.fresh_request("POST", f"/v1/keys/{name}/decrypt", json={"ciphertext": ct})
                assert r.status_code == 200 and base64.b64decode(r.json()["plaintext"]) == plaintext, r.text
        for _, name, ct, data in made[:: max(1, len(made) // 20)]:
            r = node.fresh_request("POST", f"/v1/keys/{name}/decrypt", json={"ciphertext": ct})
            assert r.status_code == 200 and base64.b64decode(r.json()["plaintext"]) == data, r.text

    # Only an admin rotates; both decisions are audited.
    created = admin.post("/v1/auth/api-keys", json={"principal": "app", "roles": ["crypto-user"]})
    user_token = created.raise_for_status().json()["token"]
    r = a.fresh_request("POST", "/v1/sys/rotate-root", headers={"Authorization": f"Bearer {user_token}"})
    assert r.status_code == 403 and "sys:RotateRoot" in r.json()["detail"], r.text
    results: set[str] = set()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not {"allowed", "denied"} <= results:
        page = admin.get("/v1/audit", params={"action": "sys:RotateRoot", "limit": 100}).raise_for_status().json()
        results = {rec["event"]["result"] for rec in page["records"]}
        time.sleep(0.3)
    assert {"allowed", "denied"} <= results, results


def test_rotation_through_either_worker_after_a_network_unseal(tmp_path: Path) -> None:
    server = start_server(tmp_path / "srv", dev=False, workers=2)
    try:
        with Client(server.addr, token="") as c:
            token = c.init("passphrase", passphrase=PASSPHRASE).admin_token
        with Client(server.addr, token) as c:
            c.create_key("k", "aes256-gcm")
            ct = c.encrypt("k", b"old").ciphertext
        time.sleep(1.5)  # the relay: the other worker follows within half a second
        headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
        for expected in range(2, 8):  # new connections reach both workers
            r = httpx.post(f"{server.addr}/v1/sys/rotate-root", headers=headers, timeout=30)
            assert r.status_code == 200, r.text
            assert r.json()["root_id"] == expected
            r = httpx.post(f"{server.addr}/v1/keys/k/decrypt", json={"ciphertext": ct}, headers=headers, timeout=30)
            assert r.status_code == 200 and base64.b64decode(r.json()["plaintext"]) == b"old", r.text
        with Client(server.addr, token) as c:
            assert c.rotate_root().root_id == 8
        # The CLI: skms operator rotate-root.
        done = subprocess.run(
            [skms_executable(), "operator", "rotate-root", "--output", "json"],
            env=server.env(token), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"root_id": 9}
        done = subprocess.run(
            [skms_executable(), "operator", "rotate-root"], env=server.env(token), capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert done.returncode == 0 and "root 10" in done.stdout, done.stdout + done.stderr
    finally:
        server.stop()


# -- library level: which retired roots stay ---------------------------------------------------------


@pytest.mark.anyio
async def test_retired_roots_stay_while_used_or_recent(open_service: OpenService) -> None:
    svc = await open_service(unseal=False)
    await svc.sealer.initialize("passphrase", passphrase=PASSPHRASE)
    lagging = await open_service(unseal=False)  # a node that will not see the rotation for a while
    await lagging.sealer.unseal(passphrase=PASSPHRASE)
    await svc.create_key(T, "k", "aes256-gcm")
    ct = (await svc.encrypt(T, "k", b"before"))[0]
    assert await svc.sealer.rotate_root_held() == 2
    # The lagging node still wraps new data keys with root 1.
    await lagging.create_key(T, "late", "aes256-gcm")
    late_ct = (await lagging.encrypt(T, "late", b"late"))[0]
    assert dict(await sql(svc.store, "SELECT name, root_id FROM keys WHERE tenant = ?", T)) == {"k": 2, "late": 1}

    def previous() -> Any:
        return svc.store.get_seal()

    assert await svc.sealer.prune_roots() == []  # root 1 retired just now: the grace period
    assert await svc.sealer.prune_roots(grace=0) == []  # and a key row uses it
    assert [p["root_id"] for p in (await previous()).params["previous"]] == [1]
    assert await svc.sealer.rotate_root_held() == 3  # rewraps "late" too
    assert await svc.sealer.prune_roots(grace=0) == [1, 2]  # nothing uses them now
    assert (await previous()).params["previous"] == []
    # Every node still opens everything: a fresh one from the record, the lagging one by rereading it.
    fresh = await open_service(unseal=False)
    await fresh.sealer.unseal(passphrase=PASSPHRASE)
    for node in (svc, fresh, lagging):
        assert await node.decrypt(T, "k", ct) == b"before"
        assert await node.decrypt(T, "late", late_ct) == b"late"
    await lagging.sealer.refresh()
    await lagging.create_key(T, "later", "aes256-gcm")
    assert (await sql(svc.store, "SELECT root_id FROM keys WHERE name = 'later'"))[0][0] == 3
