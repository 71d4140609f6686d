"""Denial of service without credentials (issue 13, defects 3 and 6), against a real server.

* 2,000 slow connections from 127.0.0.2 to public routes (half trickle their body, half their
  headers) while an authenticated client signs from 127.0.0.1: every signature is served, with a
  p99 latency under 1 s (the target the issue sets; measured, and asserted because the issue
  asks for exactly that bound).
* Public routes have a budget of their own and a per-source share: the excess is refused at once
  (503, Retry-After) and never counts against authenticated requests.
* A body that does not arrive within ``body_timeout`` answers 408; one nested deeper than
  ``max_json_depth`` answers 400 naming the limit, on public and authenticated routes alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import statistics
import threading
import time

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from server_process import ServerProcess, assert_problem, b64, server_fixture
from skms.api.bodies import too_deep

SLOW = 2000
ATTACKER = "127.0.0.2"
server = server_fixture(SKMS_BODY_TIMEOUT="3", SKMS_HEADER_TIMEOUT="3", SKMS_MAX_JSON_DEPTH="64")


# -- depth ----------------------------------------------------------------------------------------


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


@pytest.mark.parametrize("depth", [65, 955, 5_000, 200_000])
@pytest.mark.parametrize("path", ["/v1/sys/unseal", "/v1/sys/init", "/v1/keys", "/v1/keys/k/sign", "/v1/auth/token"])
def test_deep_json_is_400_naming_the_limit(server: ServerProcess, path: str, depth: int) -> None:
    body = nested(depth) if depth < 1000 else '{"a":' + nested(depth) + "}"
    r = server.fresh_request("POST", path, content=body.encode(), headers={"content-type": "application/json"})
    problem = assert_problem(r, (400, 413))
    if r.status_code == 400:
        assert "64" in problem["detail"] and "deeper" in problem["detail"], problem


def test_unbalanced_openers_are_400(server: ServerProcess) -> None:
    for body in ("[" * 100_000, "{" * 50_000 + '"', '{"a":' * 10_000):
        r = server.fresh_request("POST", "/v1/sys/unseal", content=body, headers={"content-type": "application/json"})
        assert_problem(r, 400)
    assert server.fresh_request("GET", "/v1/sys/health").status_code == 200


def test_brackets_inside_strings_do_not_count(server: ServerProcess) -> None:
    api = server.client()
    assert api.post("/v1/keys", json={"name": "depth-labels", "type": "ed25519",
                                      "labels": {"note": "[" * 100 + '\\"{' * 50}}).status_code == 201  # fmt: skip
    r = api.post("/v1/keys/depth-labels/sign", json={"input": b64(b"[" * 2000)})
    assert r.status_code == 200, r.text


def reference_depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((reference_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((reference_depth(v) for v in value.values()), default=0)
    return 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from('[]{}"\\ab,:')),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4),
    max_leaves=60,
)


@given(json_values, st.integers(min_value=1, max_value=12))
def test_too_deep_agrees_with_a_parser(value: object, limit: int) -> None:
    text = json.dumps(value).encode()
    assert too_deep(text, limit) == (reference_depth(value) > limit)


# -- slow clients ---------------------------------------------------------------------------------


async def hold_slow_connections(port: int, count: int, stop: threading.Event, opened: list[int]) -> None:
    """``count`` connections from ATTACKER to public routes that trickle a body or headers, reopened when closed."""

    async def one(i: int) -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0))
            except OSError:
                await asyncio.sleep(0.2)
                continue
            opened[0] += 1
            try:
                if i % 2:
                    writer.write(b"POST /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 100000\r\n\r\n{")  # fmt: skip
                else:
                    writer.write(b"POST /v1/sys/init HTTP/1.1\r\nHost: x\r\n")
                while not stop.is_set() and not reader.at_eof():
                    await writer.drain()
                    writer.write(b" " if i % 2 else b"X-Slow: 1\r\n")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(reader.read(4096), timeout=1.0)
            except OSError:
                pass
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    await asyncio.gather(*(one(i) for i in range(count)))


def test_slow_public_connections_do_not_stall_authenticated_signing(server: ServerProcess) -> None:
    try:
        probe = socket.create_connection(("127.0.0.1", server.port), source_address=(ATTACKER, 0))
        probe.close()
    except OSError as e:  # pragma: no cover - every Linux routes all of 127/8 to lo
        pytest.fail(f"cannot connect from {ATTACKER}: {e}")
    api = server.client()
    assert api.post("/v1/keys", json={"name": "under-siege", "type": "ecdsa-secp256k1"}).status_code == 201
    stop = threading.Event()
    opened = [0]
    attack = threading.Thread(
        target=lambda: asyncio.run(hold_slow_connections(server.port, SLOW, stop, opened)), daemon=True
    )
    attack.start()
    try:
        deadline = time.monotonic() + 30
        while opened[0] < SLOW and time.monotonic() < deadline:
            time.sleep(0.2)
        assert opened[0] >= SLOW, f"only {opened[0]} slow connections opened"
        latencies = []
        statuses = []
        end = time.monotonic() + 8  # longer than body_timeout and header_timeout: the attack renews itself
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=10) as c:
            while time.monotonic() < end:
                started = time.perf_counter()
                r = c.post("/v1/keys/under-siege/sign", json={"input": b64(b"pay 1 BTC")})
                latencies.append(time.perf_counter() - started)
                statuses.append(r.status_code)
        # Public requests from another source are still served too (their budget is shared fairly).
        with httpx.Client(base_url=server.url, timeout=10) as other:
            assert other.get("/v1/sys/health").status_code == 200
    finally:
        stop.set()
        attack.join(timeout=30)
    assert set(statuses) == {200}, sorted(set(statuses))
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"\nslow connections opened (renewed as the server drops them): {opened[0]}, signatures: {len(latencies)}, "
          f"median {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")  # fmt: skip
    assert len(latencies) >= 50
    assert p99 < 1.0, f"p99 {p99:.3f} s under {SLOW} slow connections"


def test_a_body_that_never_arrives_is_408(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
        s.sendall(b"POST /v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + server.token.encode()
                  + b"\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{")  # fmt: skip
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_public_budget_refuses_the_excess_from_one_source_at_once(server: ServerProcess) -> None:
    held = []
    try:
        for _ in range(40):  # well over max_in_flight_per_source (4) in each of the 2 workers
            s = socket.create_connection(("127.0.0.1", server.port), source_address=(ATTACKER, 0), timeout=10)
            s.sendall(b"POST /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{")
            held.append(s)
        time.sleep(0.5)
        answers = []
        for _ in range(6):  # new connections: whichever worker takes them has this source's share in use
            with httpx.Client(base_url=server.url, transport=httpx.HTTPTransport(local_address=ATTACKER)) as c:
                answers.append(c.post("/v1/sys/unseal", json={}))
        refused = [r for r in answers if r.status_code == 503]
        assert refused, [r.status_code for r in answers]
        for r in refused:
            assert_problem(r, 503, title="Overloaded")
            assert "this address" in r.json()["detail"] and r.headers["retry-after"] == "1"
        # Another source is not refused, nor is anyone authenticated.
        assert httpx.post(f"{server.url}/v1/sys/unseal", json={}).json()["sealed"] is False
        assert server.client().get("/v1/keys").status_code == 200
    finally:
        for s in held:
            s.close()
