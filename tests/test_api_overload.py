"""Overload: past its admission limit the server answers 503 at once instead of queueing, and recovers.

A real server with a small ``max_in_flight`` gets ten times more concurrent slow requests (address
derivation) than its workers admit. Tests never assert on time: they check that the excess is
refused with a problem and a ``Retry-After``, that nothing fails otherwise, and that the server
serves normally once the load stops.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from server_process import WORKERS, ServerProcess, assert_problem, server_fixture

MAX_IN_FLIGHT = 2
CONCURRENCY = 10 * MAX_IN_FLIGHT * WORKERS

server = server_fixture(SKMS_MAX_IN_FLIGHT=str(MAX_IN_FLIGHT))


def derive(server: ServerProcess, token: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
        return c.post("/v1/wallets/load/addresses", json={"chain": "ethereum", "count": 5000})


def test_ten_times_overload_is_refused_with_503_and_the_server_recovers(server: ServerProcess) -> None:
    api = server.client()
    api.post("/v1/wallets", json={"name": "load"}).raise_for_status()

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        answers = list(pool.map(lambda _: derive(server, server.token), range(CONCURRENCY * 2)))

    statuses = sorted({r.status_code for r in answers})
    assert set(statuses) <= {200, 503}, statuses
    refused = [r for r in answers if r.status_code == 503]
    served = [r for r in answers if r.status_code == 200]
    assert refused, "no request was refused at ten times the admission limit"
    assert served, "the server admitted no request at all"
    for r in refused:
        problem = assert_problem(r, 503)
        assert problem["title"] == "Overloaded"
        assert int(r.headers["retry-after"]) >= 1
    for r in served:
        assert len(r.json()["addresses"]) == 5000

    # Once the load stops, every request is served again, and health stays public throughout.
    assert api.get("/v1/sys/health").status_code == 200
    for _ in range(2 * WORKERS):
        assert derive(server, server.token).status_code == 200
    metrics = api.get("/metrics").text
    assert "skms_operations_total" in metrics
