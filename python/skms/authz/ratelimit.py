"""Rate limits: a token bucket per principal and route class.

In memory on one node; in Redis (one atomic Lua script per request) when
configured, so the limit holds across nodes. Redis holds only counters.
"""

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from skms.errors import RateLimited

#: Route class of each action domain/verb; the rest is "admin".
CRYPTO = frozenset({"Encrypt", "Decrypt", "Rewrap", "Datakey", "Sign", "Verify", "Mac", "VerifyMac", "Encapsulate",
                    "Decapsulate", "Derive"})  # fmt: skip
READ = frozenset({"Get", "List", "Read", "ReadPolicies", "Random", "Hash"})


@lru_cache(maxsize=512)
def route_class(action: str) -> str:
    verb = action.partition(":")[2]
    if verb in CRYPTO or action == "wallet:Sign":
        return "crypto"
    if verb in READ:
        return "read"
    return "admin"


@dataclass(frozen=True)
class Limit:
    rate: float  # tokens per second
    burst: float


DEFAULT_LIMITS = {"crypto": Limit(20_000, 40_000), "read": Limit(2_000, 4_000), "admin": Limit(200, 400)}


class MemoryRateLimiter:
    def __init__(self, limits: dict[str, Limit] | None = None) -> None:
        self.limits = limits or DEFAULT_LIMITS
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    async def take(self, principal: str, action: str, now: float | None = None) -> None:
        cls = route_class(action)
        limit = self.limits[cls]
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get((principal, cls), (limit.burst, now))
        tokens = min(limit.burst, tokens + (now - last) * limit.rate)
        if tokens < 1:
            self._buckets[(principal, cls)] = (tokens, now)
            raise RateLimited(f"rate limit for {cls} operations exceeded", retry_after=(1 - tokens) / limit.rate)
        self._buckets[(principal, cls)] = (tokens - 1, now)


_LUA = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 't') or ARGV[2])
local last = tonumber(redis.call('HGET', KEYS[1], 'l') or ARGV[3])
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local ok = 0
if tokens >= 1 then tokens = tokens - 1; ok = 1 end
redis.call('HSET', KEYS[1], 't', tokens, 'l', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return {ok, tostring(tokens)}
"""


class RedisRateLimiter:
    """The same bucket, kept in Redis so that every node draws from it."""

    def __init__(self, url: str, limits: dict[str, Limit] | None = None) -> None:
        import redis.asyncio as aioredis

        self.limits = limits or DEFAULT_LIMITS
        self._redis: Any = aioredis.from_url(url)
        self._script = self._redis.register_script(_LUA)

    async def take(self, principal: str, action: str, now: float | None = None) -> None:
        cls = route_class(action)
        limit = self.limits[cls]
        now = time.time() if now is None else now
        ok, tokens = await self._script(keys=[f"skms:rl:{cls}:{principal}"], args=[limit.rate, limit.burst, now])
        if not int(ok):
            raise RateLimited(f"rate limit for {cls} operations exceeded", retry_after=(1 - float(tokens)) / limit.rate)

    async def close(self) -> None:
        await self._redis.aclose()
