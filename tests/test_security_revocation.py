"""Issue 13 defect 8, against real ``skms serve`` processes with 2 workers (SQLite and PostgreSQL, with and
without Redis): revoking an API key or an OAuth client takes effect on every worker within 1 s, the
OAuth tokens already issued to the client included.

Each test warms both workers' authentication caches with a stream of requests over new connections
(so that they land on both workers), revokes, keeps the stream going for 2 s more, and counts the
requests sent more than 1 s after the revocation answered that still succeeded: there must be none.
The lag measured (the last success after the revocation) is printed (``pytest -s``).
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from conftest import require_service
from server_process import BACKENDS, ServerProcess, running_server
from skms.auth import api_keys

#: The bound the README and ``skms api-key revoke --help`` state.
BOUND = 1.0
THREADS = 6
AFTER = 2.0

VARIANTS = [(backend, False) for backend in BACKENDS] + [(backend, True) for backend in BACKENDS]


@pytest.fixture(scope="module", params=VARIANTS, ids=[f"{b}{'+redis' if r else ''}" for b, r in VARIANTS])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    backend, with_redis = request.param
    env = {"SKMS_REDIS_URL": require_service("redis")} if with_redis else {}
    directory = tmp_path_factory.mktemp(f"revocation-{backend}")
    with running_server(backend, directory / "data", env) as s:
        yield s


@dataclass
class Hammer:
    """Requests from several threads, each on a new connection, until stopped; (sent at, status) of each."""

    server: ServerProcess
    token: str
    results: list[tuple[float, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Connection": "close"}
        while not self.stop.is_set():
            sent = time.monotonic()
            # http.client: a new connection costs a socket, not an httpx client's TLS context.
            conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10.0)
            try:
                conn.request("GET", "/v1/keys?limit=1", headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            finally:
                conn.close()
            with self.lock:
                self.results.append((sent, status))

    def __enter__(self) -> Hammer:
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(THREADS)]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(15)


def revoke_under_load(server: ServerProcess, token: str, key_id: str) -> tuple[int, int, float]:
    """(successes more than BOUND s after the revocation answered, successes after it at all, lag in s)."""
    with Hammer(server, token) as hammer:
        time.sleep(1.0)  # both workers have verified the credential and cache it
        r = server.client().delete(f"/v1/auth/api-keys/{key_id}")
        assert r.status_code == 204, r.text
        revoked = time.monotonic()
        time.sleep(AFTER)
    before = [status for sent, status in hammer.results if sent < revoked]
    after = [(sent - revoked, status) for sent, status in hammer.results if sent >= revoked]
    assert before.count(200) >= 20, f"the stream did not get going: {len(before)} requests"
    assert set(status for _, status in hammer.results) <= {200, 401}, sorted({s for _, s in hammer.results})
    late = [delay for delay, status in after if status == 200]
    assert [s for d, s in after if d > BOUND], "no request was sent after the bound"
    lag = max(late, default=0.0)
    return sum(1 for d in late if d > BOUND), len(late), lag


def test_api_key_revocation_reaches_every_worker_within_a_second(server: ServerProcess) -> None:
    created = server.client().post("/v1/auth/api-keys", json={"principal": "revoked-reader", "roles": ["auditor"]})
    assert created.status_code == 201, created.text
    token, key_id = created.json()["token"], created.json()["api_key"]["id"]
    server.secret(token)
    late, after, lag = revoke_under_load(server, token, key_id)
    print(f"\n[{server.backend}] API key: {after} successes after the revocation, the last {lag * 1000:.0f} ms")
    assert late == 0, f"{late} requests sent more than {BOUND} s after the revocation still succeeded"
    assert lag <= BOUND


def test_oauth_client_revocation_ends_its_tokens_within_a_second(server: ServerProcess) -> None:
    created = server.client().post("/v1/auth/api-keys", json={"principal": "revoked-client", "roles": ["auditor"]})
    assert created.status_code == 201, created.text
    secret, client_id = created.json()["token"], created.json()["api_key"]["id"]
    server.secret(secret)
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    issued = httpx.post(f"{server.url}/v1/auth/token", data=form)
    assert issued.status_code == 200, issued.text
    access = issued.json()["access_token"]
    server.secret(access)
    late, after, lag = revoke_under_load(server, access, client_id)
    print(f"\n[{server.backend}] OAuth token: {after} successes after the revocation, the last {lag * 1000:.0f} ms")
    assert late == 0, f"{late} requests with the revoked client's token still succeeded after {BOUND} s"
    assert lag <= BOUND
    # And the client gets no new token.
    again = httpx.post(f"{server.url}/v1/auth/token", data=form)
    assert again.status_code == 401


def test_the_revoke_command_states_the_bound() -> None:
    from click.testing import CliRunner

    from skms.cli import cli

    out = CliRunner().invoke(cli, ["api-key", "revoke", "--help"])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "within 1 s" in text and "tokens issued to it" in text, text


# -- in-process: the cache that makes the bound, and its cost ---------------------------------------------------


def test_the_authentication_cache_is_within_the_bound() -> None:
    assert api_keys.AUTH_CACHE_SECONDS <= BOUND / 2  # half the bound: room for the store read behind it


def test_concurrent_misses_share_one_store_read(tmp_path: Path) -> None:
    """Authentication is on every request's path: when the cache entry of a busy key lapses, the
    requests waiting for it make one store read, not one each; a cancelled reader leaves the
    others their answer."""
    import asyncio

    from security_support import harness

    with harness(tmp_path) as h:
        token = h.token("busy", ["auditor"])
        manager = h.app.state.api_keys
        store = h.app.state.service.store
        reads = 0
        real = store.get_api_key

        async def counting(key_id: str) -> object:
            nonlocal reads
            reads += 1
            await asyncio.sleep(0.05)
            return await real(key_id)

        store.get_api_key = counting
        try:

            async def burst() -> list[object]:
                manager.forget(api_keys.REVOCATION_SCOPE, token.split("_")[1])
                return list(await asyncio.gather(*(manager.authenticate(token) for _ in range(50))))

            principals = h.run(burst)
            assert reads == 1 and {p.id for p in principals} == {"busy"}

            async def cancelled_reader() -> object:
                manager.forget(api_keys.REVOCATION_SCOPE, token.split("_")[1])
                first = asyncio.ensure_future(manager.authenticate(token))
                await asyncio.sleep(0.01)
                others = [asyncio.ensure_future(manager.authenticate(token)) for _ in range(5)]
                await asyncio.sleep(0.01)
                first.cancel()
                return await asyncio.gather(*others)

            assert {p.id for p in h.run(cancelled_reader)} == {"busy"}
        finally:
            store.get_api_key = real


def test_revocation_notices_from_other_nodes_drop_the_cache(tmp_path: Path) -> None:
    """What the Redis listener calls: ``forget`` with the revocation scope ends this worker's trust at once."""
    from security_support import harness

    with harness(tmp_path) as h:
        created = h.api_key("elsewhere-revoked", ["auditor"])
        token, key_id = created["token"], created["api_key"]["id"]
        assert h.client.get("/v1/keys", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        # Revoked in the store behind this worker's back (as another node would), then the notice arrives.
        h.run(h.app.state.service.store.revoke_api_key, key_id, time.time())
        h.app.state.api_keys.forget("some-tenant", key_id)  # another scope: a key change, not a revocation
        assert h.client.get("/v1/keys", headers={"Authorization": f"Bearer {token}"}).status_code == 200  # cached
        h.app.state.api_keys.forget(api_keys.REVOCATION_SCOPE, key_id)
        assert h.client.get("/v1/keys", headers={"Authorization": f"Bearer {token}"}).status_code == 401
