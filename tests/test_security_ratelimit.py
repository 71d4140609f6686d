"""Rate limits: a token bucket per principal and route class, in memory or in Redis (shared by
nodes), answered with 429 problem+json and ``Retry-After``."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from conftest import require_service
from security_support import PASSPHRASE, Harness, assert_problem, bearer, harness, settings_for
from skms.api import Settings, create_app, load_settings
from skms.authz.ratelimit import DEFAULT_LIMITS, Limit, MemoryRateLimiter, RedisRateLimiter, route_class
from skms.errors import InvalidInput, RateLimited

LIMITS = {"crypto": Limit(rate=2.0, burst=3.0), "read": Limit(rate=1.0, burst=1.0), "admin": Limit(rate=0.5, burst=2.0)}


def take(limiter: MemoryRateLimiter, principal: str, action: str, now: float) -> float | None:
    """None when allowed, else the retry-after it answered."""
    try:
        asyncio.run(limiter.take(principal, action, now=now))
    except RateLimited as e:
        return e.retry_after
    return None


# -- route classes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "cls"),
    [
        ("key:Sign", "crypto"), ("key:Encrypt", "crypto"), ("key:Decrypt", "crypto"), ("key:VerifyMac", "crypto"),
        ("key:Decapsulate", "crypto"), ("wallet:Sign", "crypto"), ("wallet:Derive", "crypto"),
        ("key:Get", "read"), ("key:List", "read"), ("audit:Read", "read"), ("authz:ReadPolicies", "read"),
        ("misc:Random", "read"), ("misc:Hash", "read"), ("wallet:Get", "read"),
        ("key:Create", "admin"), ("key:Rotate", "admin"), ("auth:CreateApiKey", "admin"),
        ("authz:ManagePolicies", "admin"), ("sys:Seal", "admin"), ("wallet:Create", "admin"),
    ],
)  # fmt: skip
def test_route_classes(action: str, cls: str) -> None:
    assert route_class(action) == cls


def test_default_limits_cover_every_class() -> None:
    assert set(DEFAULT_LIMITS) == {"crypto", "read", "admin"}
    assert all(limit.rate > 0 and limit.burst >= 1 for limit in DEFAULT_LIMITS.values())


# -- the bucket in memory -------------------------------------------------------------------------------


def test_burst_then_refill_at_the_rate() -> None:
    limiter = MemoryRateLimiter(LIMITS)
    assert [take(limiter, "p", "key:Sign", 100.0) for _ in range(3)] == [None, None, None]
    assert take(limiter, "p", "key:Sign", 100.0) == pytest.approx(0.5)  # (1 - 0 tokens) / 2 per s
    assert take(limiter, "p", "key:Sign", 100.25) == pytest.approx(0.25)  # 0.5 token by now
    assert take(limiter, "p", "key:Sign", 100.5) is None  # 1 token by now
    assert take(limiter, "p", "key:Sign", 100.5) == pytest.approx(0.5)


def test_refill_is_capped_at_the_burst() -> None:
    limiter = MemoryRateLimiter(LIMITS)
    assert take(limiter, "p", "key:Sign", 0.0) is None
    results = [take(limiter, "p", "key:Sign", 10_000.0) for _ in range(4)]
    assert results[:3] == [None, None, None] and results[3] is not None


def test_buckets_are_per_principal_and_per_class() -> None:
    limiter = MemoryRateLimiter(LIMITS)
    assert take(limiter, "alice", "key:Get", 0.0) is None
    assert take(limiter, "alice", "key:List", 0.0) is not None  # the same "read" bucket
    assert take(limiter, "bob", "key:Get", 0.0) is None  # another principal
    assert take(limiter, "alice", "key:Sign", 0.0) is None  # another class
    assert take(limiter, "alice", "key:Create", 0.0) is None
    assert take(limiter, "alice", "key:Rotate", 0.0) is None
    assert take(limiter, "alice", "key:Update", 0.0) == pytest.approx(2.0)  # (1 - 0) / 0.5


@settings(max_examples=80)
@given(
    st.floats(0.2, 50.0),
    st.integers(1, 20),
    st.lists(st.floats(0.0, 5.0, allow_nan=False), min_size=1, max_size=60),
)
def test_never_more_than_burst_plus_rate_times_elapsed(rate: float, burst: int, gaps: list[float]) -> None:
    limiter = MemoryRateLimiter({"crypto": Limit(rate, float(burst)), "read": Limit(1, 1), "admin": Limit(1, 1)})
    now, start, allowed = 1000.0, 1000.0, 0
    for gap in gaps:
        now += gap
        retry = take(limiter, "p", "key:Sign", now)
        if retry is None:
            allowed += 1
        else:
            assert 0 < retry <= 1 / rate + 1e-9
        assert allowed <= burst + rate * (now - start) + 1e-6
    # A caller who waits what Retry-After said gets through.
    retry = take(limiter, "p", "key:Sign", now)
    if retry is not None:
        assert take(limiter, "p", "key:Sign", now + retry + 1e-9) is None


# -- Redis: one bucket for every node ---------------------------------------------------------------------


def test_redis_bucket_is_shared_by_two_nodes() -> None:
    url = require_service("redis")
    principal = f"rl-{uuid.uuid4().hex}"

    async def scenario() -> list[float | None]:
        node1, node2 = RedisRateLimiter(url, LIMITS), RedisRateLimiter(url, LIMITS)
        out: list[float | None] = []

        async def attempt(node: RedisRateLimiter, now: float) -> None:
            try:
                await node.take(principal, "key:Sign", now=now)
                out.append(None)
            except RateLimited as e:
                out.append(e.retry_after)

        try:
            await attempt(node1, 100.0)
            await attempt(node2, 100.0)
            await attempt(node1, 100.0)  # the burst of 3 is spent across both nodes
            await attempt(node2, 100.0)
            await attempt(node1, 100.25)
            await attempt(node2, 100.5)  # one token refilled
            await attempt(node1, 100.5)
            ttl = await node1._redis.ttl(f"skms:rl:crypto:{principal}")
            assert 0 < ttl <= math.ceil(3 / 2) + 1  # counters expire; Redis keeps nothing for long
        finally:
            await node1._redis.delete(f"skms:rl:crypto:{principal}")
            await node1.close()
            await node2.close()
        return out

    out = asyncio.run(scenario())
    assert out[:3] == [None, None, None]
    assert out[3] == pytest.approx(0.5)
    assert out[4] == pytest.approx(0.25)
    assert out[5] is None
    assert out[6] == pytest.approx(0.5)


def test_redis_bucket_is_atomic_under_concurrency() -> None:
    url = require_service("redis")
    principal = f"rl-{uuid.uuid4().hex}"
    limits = {**LIMITS, "crypto": Limit(rate=0.001, burst=10.0)}

    async def scenario() -> int:
        nodes = [RedisRateLimiter(url, limits) for _ in range(2)]

        async def attempt(i: int) -> bool:
            try:
                await nodes[i % 2].take(principal, "key:Sign", now=500.0)
                return True
            except RateLimited:
                return False

        try:
            results = await asyncio.gather(*(attempt(i) for i in range(40)))
        finally:
            await nodes[0]._redis.delete(f"skms:rl:crypto:{principal}")
            for node in nodes:
                await node.close()
        return sum(results)

    assert asyncio.run(scenario()) == 10


# -- over HTTP ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with harness(tmp_path_factory.mktemp("ratelimit")) as h:
        h.create_key("rl-key", "ed25519")
        h.app.state.service.guard.limiter = MemoryRateLimiter(
            {"crypto": Limit(rate=0.2, burst=3.0), "read": Limit(rate=0.2, burst=2.0), "admin": Limit(1000, 1000)}
        )
        yield h


def sign(h: Harness, token: str) -> object:
    return h.client.post("/v1/keys/rl-key/sign", json={"input": "AA=="}, headers=bearer(token))


def test_429_with_retry_after(h: Harness) -> None:
    token = h.token("rl-signer", ["crypto-user"])
    assert [sign(h, token).status_code for _ in range(3)] == [200, 200, 200]  # type: ignore[attr-defined]
    r = sign(h, token)
    body = assert_problem(r, 429, title="RateLimited")  # type: ignore[arg-type]
    assert "crypto" in body["detail"]
    retry_after = r.headers["retry-after"]  # type: ignore[attr-defined]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 5  # one token at 0.2 per second
    # Other route classes and other principals keep their own buckets.
    assert h.client.get("/v1/keys/rl-key", headers=bearer(token)).status_code == 200
    other = h.token("rl-other", ["crypto-user"])
    assert sign(h, other).status_code == 200  # type: ignore[attr-defined]


def test_read_class_limit_over_http(h: Harness) -> None:
    token = h.token("rl-reader", ["auditor"])
    codes = [h.client.get("/v1/keys", headers=bearer(token)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_redis_limit_holds_across_two_nodes_over_http(tmp_path: Path) -> None:
    """Two apps on one store, both with ``redis_url``: the bucket of a principal is shared."""
    url = require_service("redis")
    tight = {"crypto": Limit(rate=0.01, burst=3.0), "read": Limit(1000, 1000), "admin": Limit(1000, 1000)}
    with harness(tmp_path, redis_url=url) as node1:
        node1.create_key("shared-key", "ed25519")
        principal = f"rl-http-{uuid.uuid4().hex[:12]}"
        token = node1.token(principal, ["crypto-user"])
        limiter1 = node1.app.state.service.guard.limiter
        assert isinstance(limiter1, RedisRateLimiter)
        limiter1.limits = tight
        with TestClient(create_app(settings_for(tmp_path, redis_url=url))) as node2_client:
            assert node2_client.post("/v1/sys/unseal", json={"passphrase": PASSPHRASE}).status_code == 200
            limiter2 = node2_client.app.state.service.guard.limiter
            assert isinstance(limiter2, RedisRateLimiter)
            limiter2.limits = tight

            def sign_on(client: TestClient) -> int:  # type: ignore[type-arg]
                r = client.post("/v1/keys/shared-key/sign", json={"input": "AA=="}, headers=bearer(token))
                return r.status_code

            try:
                assert [sign_on(node1.client), sign_on(node2_client), sign_on(node1.client)] == [200, 200, 200]
                r = node2_client.post("/v1/keys/shared-key/sign", json={"input": "AA=="}, headers=bearer(token))
                assert_problem(r, 429)
                assert int(r.headers["retry-after"]) >= 1
                assert sign_on(node1.client) == 429
            finally:

                async def clean() -> None:
                    await limiter1._redis.delete(f"skms:rl:crypto:{principal}")

                node1.run(clean)


# -- settings -----------------------------------------------------------------------------------------


def test_settings_default_to_the_default_limits() -> None:
    assert Settings().rate_limits() == {cls: Limit(lim.rate, 2 * lim.rate) for cls, lim in DEFAULT_LIMITS.items()}


@pytest.mark.parametrize("name", ["rate_limit_crypto", "rate_limit_read", "rate_limit_admin"])
@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_settings_refuse_a_limit_that_is_not_positive(name: str, value: str) -> None:
    with pytest.raises(InvalidInput, match=name):
        load_settings({f"SKMS_{name.upper()}": value})


def test_admin_limit_from_the_environment_over_http(tmp_path: Path) -> None:
    """SKMS_RATE_LIMIT_ADMIN=1: a burst of two key creations, then 429; signing is another class."""
    configured = load_settings({"SKMS_RATE_LIMIT_ADMIN": "1"})
    assert configured.rate_limits()["admin"] == Limit(1, 2)
    with harness(tmp_path, rate_limit_admin=1.0) as h:
        codes = [
            h.client.post("/v1/keys", json={"name": f"k{i}", "type": "ed25519"}, headers=h.admin).status_code
            for i in range(3)
        ]
        assert codes == [201, 201, 429]
        assert h.client.post("/v1/keys/k0/sign", json={"input": "AA=="}, headers=h.admin).status_code == 200
