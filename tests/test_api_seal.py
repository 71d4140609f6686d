"""Seal and unseal over HTTP, with the server's two workers.

Sealed: every authenticated route answers 503 ``Sealed`` (problem+json) and
/v1/sys/ready answers 503; unsealing through ``POST /v1/sys/unseal`` with the
key file reaches every worker through the unseal relay. Each worker reports its
own state in /metrics (``skms_sealed{pid=…}``), which is how these tests see
both workers: every request goes on a new connection.

The tests of this module run in order on one server per backend.
"""

from __future__ import annotations

import os
import time
import warnings

import httpx
import pytest

from server_process import WORKERS, ServerProcess, app_routes, assert_problem, b64, concrete_path, server_fixture

with warnings.catch_warnings():  # importing the API package shows the framework's deprecation notices
    warnings.simplefilter("ignore", DeprecationWarning)
    from skms.api.relay import POLL_SECONDS

server = server_fixture()
#: Every worker polls the relay file this often: a few periods are plenty for all of them to follow.
RELAY_WAIT = 4 * POLL_SECONDS + 0.5
PROTECTED = [r for r in app_routes() if not r.public and str(r) != "POST /v1/sys/seal"]


def seal_status(body: dict[str, object]) -> dict[str, object]:
    """The fields of a seal status these tests check (the server may add others)."""
    return {k: body.get(k) for k in ("initialized", "sealed", "method")}


def seal(server: ServerProcess) -> None:
    r = server.fresh_request("POST", "/v1/sys/seal")
    assert r.status_code == 200, r.text
    assert r.json()["sealed"] is True


def unseal(server: ServerProcess) -> None:
    """Unseals with the key file's bytes (never a path), waiting out a back-off after failed tries."""
    body = {"key": b64(server.keyfile.read_bytes())}
    with httpx.Client(base_url=server.url, timeout=30) as raw:  # no token: unseal is public
        for _ in range(60):
            r = raw.post("/v1/sys/unseal", json=body)
            if r.status_code != 429:
                break
            time.sleep(float(r.headers["retry-after"]))
    assert r.status_code == 200, r.text
    assert seal_status(r.json()) == {"initialized": True, "sealed": False, "method": "keyfile"}


def assert_all_workers(server: ServerProcess, sealed: bool, wait: float = RELAY_WAIT) -> None:
    """Every worker reaches the state within ``wait`` seconds (polled through /metrics)."""
    deadline = time.monotonic() + wait
    while True:
        states = server.worker_states()
        if len(states) == WORKERS and set(states.values()) == {1.0 if sealed else 0.0}:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"workers not all {'sealed' if sealed else 'unsealed'}: {states}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def key(server: ServerProcess) -> str:
    r = server.fresh_request("POST", "/v1/keys", json={"name": "sealed-secrets", "type": "aes256-gcm"})
    assert r.status_code == 201, r.text
    return "sealed-secrets"


def test_both_workers_start_unsealed(server: ServerProcess, key: str) -> None:
    assert_all_workers(server, sealed=False)


def test_first_seal_reaches_every_worker(server: ServerProcess, key: str) -> None:
    # Both workers unsealed themselves from the key file at start; the seal request reaches one of them.
    seal(server)
    assert_all_workers(server, sealed=True)


def test_unseal_through_the_api_reaches_every_worker(server: ServerProcess, key: str) -> None:
    unseal(server)
    assert_all_workers(server, sealed=False)
    for _ in range(20):  # 20 consecutive requests on new connections, whichever worker takes them
        r = server.fresh_request("POST", f"/v1/keys/{key}/encrypt", json={"plaintext": b64(b"after unseal")})
        assert r.status_code == 200, r.text


def test_sealed_server_refuses_every_key_operation(server: ServerProcess, key: str) -> None:
    sealed_text = server.fresh_request("POST", f"/v1/keys/{key}/encrypt", json={"plaintext": b64(b"kept")}).json()
    seal(server)
    assert_all_workers(server, sealed=True)
    for _ in range(4):  # every worker says so
        assert_problem(server.fresh_request("GET", "/v1/sys/ready"), 503, title="Sealed")
        status = server.fresh_request("GET", "/v1/sys/seal-status").json()
        assert seal_status(status) == {"initialized": True, "sealed": True, "method": "keyfile"}
        assert server.fresh_request("GET", "/v1/sys/health").status_code == 200
    failures = []
    for route in PROTECTED:
        name = key if "{name:str}" in route.path else "x"
        body = {} if route.body is not None else None
        if route.path.endswith("/decrypt"):
            body = {"ciphertext": sealed_text["ciphertext"]}
        for _ in range(2):
            r = server.fresh_request(route.method, concrete_path(route.path, name), json=body)
            try:
                assert_problem(r, 503, title="Sealed")
            except AssertionError as e:
                failures.append(f"{route}: {e}")
    assert not failures, "\n".join(failures)
    # A wrong key is refused and leaves the server sealed; a path is not even a field.
    with httpx.Client(base_url=server.url, timeout=30) as raw:
        assert_problem(raw.post("/v1/sys/unseal", json={"key": b64(os.urandom(32))}), 400, title="UnsealFailed")
        assert_problem(raw.post("/v1/sys/unseal", json={"keyfile": str(server.keyfile)}), 400, field="keyfile")
    assert_all_workers(server, sealed=True)


def test_unseal_again_and_old_data_decrypts(server: ServerProcess, key: str) -> None:
    unseal(server)
    assert_all_workers(server, sealed=False)
    sealed_text = server.fresh_request("POST", f"/v1/keys/{key}/encrypt", json={"plaintext": b64(b"x")}).json()
    for _ in range(20):
        r = server.fresh_request("POST", f"/v1/keys/{key}/decrypt", json={"ciphertext": sealed_text["ciphertext"]})
        assert r.status_code == 200, r.text
    assert server.fresh_request("GET", "/v1/sys/ready").json() == {"status": "ready"}


def test_seal_and_unseal_cycle_again(server: ServerProcess, key: str) -> None:
    seal(server)
    assert_all_workers(server, sealed=True)
    unseal(server)
    assert_all_workers(server, sealed=False)


def test_seal_and_unseal_take_effect_on_every_worker_at_once(server: ServerProcess, key: str) -> None:
    # Every worker follows the relay file before each request, so no request after the seal (unseal) answer
    # is served unsealed (refused as sealed) by the other worker. Three cycles, because a single check would
    # also pass whenever the other worker happened to poll first.
    for _ in range(3):
        seal(server)
        assert_all_workers(server, sealed=True, wait=0)
        unseal(server)
        assert_all_workers(server, sealed=False, wait=0)
