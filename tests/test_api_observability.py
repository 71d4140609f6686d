"""Request ids, structured logs without secrets, and Prometheus metrics, on a real server.

* Every response carries ``X-Request-ID``; a valid incoming one is echoed, an
  invalid one replaced.
* The server's stderr log lines are JSON objects with a ``request_id``, and the
  access line of a request carries the id the client saw.
* No secret the tests sent or received (admin token, mnemonic, passphrases,
  plaintexts, data keys, shared secrets, a rejected token) appears in the log,
  even when the request was refused.
* /metrics: ``skms_operations_total`` by route, key type and result, and the
  ``skms_request_seconds`` histogram, summed over the workers.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server_process import Route, ServerProcess, app_routes, b64, concrete_path, server_fixture, unb64

server = server_fixture()

ROUTES = [r for r in app_routes() if str(r) != "POST /v1/sys/seal"]
GENERATED_ID = re.compile(r"^[0-9a-f]{24}$")


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> httpx.Client:
    return server.client()


def log_entries(server: ServerProcess, request_ids: Iterable[str] = (), timeout: float = 5.0) -> list[dict[str, Any]]:
    """The server's log entries, once those of ``request_ids`` are there (written just after each response)."""
    deadline = time.monotonic() + timeout
    while True:
        _, records = server.log_records()
        entries = [json.loads(line) for line in records]
        if set(request_ids) <= {e.get("request_id") for e in entries} or time.monotonic() > deadline:
            return entries
        time.sleep(0.05)


# -- request ids --------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_every_response_has_a_request_id(server: ServerProcess, route: Route) -> None:
    path = concrete_path(route.path)
    body = {} if route.body is not None else None
    with httpx.Client(base_url=server.url, timeout=30) as raw:
        for headers in ({}, {"Authorization": f"Bearer {server.token}"}):
            r = raw.request(route.method, path, json=body, headers=headers)
            assert GENERATED_ID.match(r.headers.get("x-request-id", "")), (r.status_code, r.headers)
        incoming = f"client-{os.urandom(6).hex()}"
        r = raw.request(route.method, path, json=body, headers={"X-Request-ID": incoming})
        assert r.headers["x-request-id"] == incoming


def test_request_id_on_errors(api: httpx.Client) -> None:
    for r in (
        api.get("/v1/keys/no-such-key"),  # 404 from the service
        api.post("/v1/keys", content=b"{", headers={"content-type": "application/json"}),  # 400
        api.post("/v1/keys", content=b"x" * 2_000_000, headers={"content-type": "application/json"}),  # 413
    ):
        assert r.status_code >= 400
        assert GENERATED_ID.match(r.headers.get("x-request-id", "")), (r.status_code, r.headers)


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/no-such-route"), ("PUT", "/v1/keys")])
def test_request_id_on_unknown_routes_and_methods(server: ServerProcess, method: str, path: str) -> None:
    # The router answers these before any middleware runs (so /metrics does not count them); the error
    # handler gives them the request id and the access-log line.
    rid = f"lost-{os.urandom(6).hex()}"
    r = server.fresh_request(method, path, headers={"X-Request-ID": rid})
    assert r.status_code in (404, 405)
    assert r.headers.get("x-request-id") == rid
    assert any(e.get("request_id") == rid for e in log_entries(server, {rid}))


def test_invalid_incoming_request_ids_are_replaced(api: httpx.Client) -> None:
    for bad in ("x" * 129, "tab\there", ""):
        r = api.get("/v1/sys/health", headers={"X-Request-ID": bad})
        assert r.headers["x-request-id"] != bad and GENERATED_ID.match(r.headers["x-request-id"])
    exactly = "y" * 128
    assert api.get("/v1/sys/health", headers={"X-Request-ID": exactly}).headers["x-request-id"] == exactly


def test_every_request_id_is_distinct(server: ServerProcess) -> None:
    ids = {server.fresh_request("GET", "/v1/sys/health").headers["x-request-id"] for _ in range(30)}
    assert len(ids) == 30


# -- logs ---------------------------------------------------------------------------------------------


def test_access_log_lines_carry_the_request_id(server: ServerProcess, api: httpx.Client) -> None:
    marks = {}
    for method, path in (("GET", "/v1/sys/health"), ("GET", "/v1/keys/nope"), ("POST", "/v1/random")):
        rid = f"trace-{os.urandom(8).hex()}"
        r = api.request(method, path, json={} if method == "POST" else None, headers={"X-Request-ID": rid})
        marks[rid] = (method, path, r.status_code)
    entries = log_entries(server, set(marks))
    for rid, (method, _path, status) in marks.items():
        mine = [e for e in entries if e.get("request_id") == rid]
        assert mine, f"no log line with request_id {rid}"
        access = [e for e in mine if e.get("logger") == "skms.access"]
        assert len(access) == 1, mine
        assert access[0]["method"] == method and access[0]["status"] == status
        assert isinstance(access[0]["ms"], (int, float)) and "route" in access[0]
    for entry in entries:
        assert {"time", "level", "logger", "message", "request_id"} <= set(entry), entry


def test_secrets_stay_out_of_the_log(server: ServerProcess, api: httpx.Client) -> None:
    """Sends and receives secrets in every way a caller might, then greps the log for them."""
    plaintext = server.secret(os.urandom(40))
    assert isinstance(plaintext, bytes)
    assert api.post("/v1/keys", json={"name": "log-aes", "type": "aes256-gcm"}).status_code == 201
    sealed = api.post("/v1/keys/log-aes/encrypt", json={"plaintext": b64(plaintext)}).json()
    opened = api.post("/v1/keys/log-aes/decrypt", json={"ciphertext": sealed["ciphertext"]}).json()
    assert unb64(opened["plaintext"]) == plaintext
    server.secret(unb64(api.post("/v1/keys/log-aes/datakey", json={}).json()["plaintext"]))
    # Refused requests that carry secrets: an unknown field, a wrong type, a batch with a bad item.
    api.post("/v1/keys/log-aes/encrypt", json={"plaintext": b64(plaintext), "oops": 1})
    api.post("/v1/keys/log-aes/encrypt", json={"batch": [{"plaintext": b64(plaintext)}, {"plaintext": 5}]})
    api.post("/v1/keys/log-aes/encrypt", json={"plaintext": b64(plaintext), "associated_data": "!!"})
    # A wallet: mnemonic at creation, an imported phrase, a passphrase, a refused import.
    passphrase = server.secret("log-test passphrase " + os.urandom(6).hex())
    created = api.post("/v1/wallets", json={"name": "log-wallet", "words": 24, "passphrase": passphrase}).json()
    server.secret(created["mnemonic"])
    phrase = server.secret(" ".join(["abandon"] * 11 + ["about"]))
    api.post("/v1/wallets", json={"name": "log-import", "phrase": phrase, "passphrase": passphrase})
    api.post("/v1/wallets", json={"name": "log-import-2", "phrase": phrase.replace("about", "zoo")})
    # KEM shared secrets, random bytes.
    assert api.post("/v1/keys", json={"name": "log-kem", "type": "ml-kem-768"}).status_code == 201
    server.secret(unb64(api.post("/v1/keys/log-kem/encapsulate").json()["shared_secret"]))
    server.secret(unb64(api.post("/v1/random", json={"bytes": 64}).json()["random"]))
    # Credentials: a wrong token and an unseal attempt with a made-up passphrase.
    wrong = server.secret(f"skms_{os.urandom(8).hex()}_{b64(os.urandom(32)).rstrip('=')}")
    with httpx.Client(base_url=server.url, timeout=30) as raw:
        assert raw.get("/v1/keys", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
        raw.post("/v1/sys/unseal", json={"passphrase": server.secret("not the passphrase " + os.urandom(4).hex())})
        raw.post("/v1/sys/unseal", json={"shares": [server.secret("share " + os.urandom(16).hex())]})
    time.sleep(0.2)  # the last access lines are written just after their answers
    server.check_logs()
    # The admin token is printed in the `skms serve --dev` banner on purpose, and nowhere else.
    banner, records = server.log_records()
    assert any(server.token in line for line in banner)
    assert not any(server.token in line for line in records)


# -- metrics ------------------------------------------------------------------------------------------


def scrape_all(server: ServerProcess) -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float], str]:
    """Samples of every worker's /metrics, summed over the workers (each worker counts its own requests)."""
    per_worker: dict[str, str] = {}
    content_type = ""
    for _ in range(200):
        r = server.fresh_request("GET", "/metrics")
        assert r.status_code == 200
        content_type = r.headers["content-type"]
        pid = re.search(r'skms_sealed\{pid="(\d+)"\}', r.text)
        assert pid, r.text[:500]
        per_worker[pid.group(1)] = r.text
        if len(per_worker) >= 2:
            break
    totals: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
    for text in per_worker.values():
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "pid"))
                totals[(sample.name, labels)] += sample.value
    return totals, content_type


def test_metrics_count_operations_by_route_key_type_and_result(server: ServerProcess, api: httpx.Client) -> None:
    assert api.post("/v1/keys", json={"name": "metered", "type": "chacha20-poly1305"}).status_code == 201
    time.sleep(0.2)
    before, _ = scrape_all(server)
    route = "/v1/keys/{name}/encrypt"
    for _ in range(7):
        r = server.fresh_request("POST", "/v1/keys/metered/encrypt", json={"plaintext": b64(b"count me")})
        assert r.status_code == 200
    for _ in range(3):
        assert server.fresh_request("POST", "/v1/keys/metered/sign", json={"input": "AA=="}).status_code == 422
    time.sleep(0.2)  # a worker counts a request just after sending its answer
    after, content_type = scrape_all(server)
    assert content_type.startswith("text/plain")

    def delta(name: str, **labels: str) -> float:
        def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
            return sum(
                v
                for (n, lab), v in samples.items()
                if n == name and all(dict(lab).get(k) == x for k, x in labels.items())
            )

        return total(after) - total(before)

    assert delta("skms_operations_total", route=route, result="ok") == 7
    assert delta("skms_operations_total", route=route, result="ok", key_type="chacha20-poly1305") >= 1
    assert delta("skms_operations_total", route="/v1/keys/{name}/sign", result="client_error") == 3
    # The latency histogram: buckets, +Inf, sum and count per route.
    assert delta("skms_request_seconds_count", route=route) == 7
    assert delta("skms_request_seconds_bucket", route=route, le="+Inf") == 7
    assert delta("skms_request_seconds_sum", route=route) > 0
    buckets = sorted(
        float(dict(lab)["le"])
        for (n, lab) in after
        if n == "skms_request_seconds_bucket" and dict(lab)["route"] == route
    )
    assert len(buckets) >= 5 and buckets[-1] == float("inf")
    # Unknown routes are one label, not one per path.
    server.fresh_request("GET", f"/v1/random-path-{os.urandom(4).hex()}")
    final, _ = scrape_all(server)
    routes = {dict(lab).get("route") for (n, lab) in final if n == "skms_operations_total"}
    assert not any(r and r.startswith("/v1/random-path-") for r in routes), routes


def test_metrics_report_the_sealed_state_of_each_worker(server: ServerProcess) -> None:
    states = server.worker_states()
    assert len(states) == 2 and set(states.values()) == {0.0}
    text = server.fresh_request("GET", "/metrics").text
    assert "# TYPE skms_operations_total counter" in text
    assert "# TYPE skms_request_seconds histogram" in text
    assert "# TYPE skms_sealed gauge" in text
