"""The TTL cache of decrypted keys and metadata, and what another node sees after a write:
a rotation, state change or new minimum on node A is used by node B once B's metadata TTL
has passed (results are checked after the TTL; nothing is timed)."""

from __future__ import annotations

import asyncio

import pytest

from keys_support import FakeClock, OpenService
from skms.errors import InvalidState, PolicyViolation
from skms.keys import KeyService
from skms.keys.cache import TtlCache

pytestmark = pytest.mark.anyio

T = "acme"
TTL = 0.1  # node B's metadata TTL in the cross-node tests


# --------------------------------------------------------------------------- TtlCache


def test_ttl_cache_bound_evicts_least_recently_used() -> None:
    clock = FakeClock(0.0)
    cache: TtlCache[str] = TtlCache(3, ttl=10, clock=clock)
    for k in "abc":
        cache.put(k, k.upper())
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("d", "D")
    assert len(cache) == 3
    assert cache.get("b") is None  # least recently used went first
    assert [cache.get(k) for k in "acd"] == ["A", "C", "D"]
    cache.put("a", "A2")  # replacing does not grow the cache
    assert len(cache) == 3 and cache.get("a") == "A2"
    for i in range(100):
        cache.put(i, str(i))
        assert len(cache) <= 3


def test_ttl_cache_expiry() -> None:
    clock = FakeClock(0.0)
    cache: TtlCache[int] = TtlCache(10, ttl=5, clock=clock)
    cache.put("k", 1)
    clock.advance(5)
    assert cache.get("k") == 1  # valid up to and including its deadline
    clock.advance(0.001)
    assert cache.get("k") is None and len(cache) == 0  # dropped when found expired
    cache.put("k", 2)
    clock.advance(4)
    cache.put("k", 3)  # a new put starts a new TTL
    clock.advance(4)
    assert cache.get("k") == 3
    clock.advance(2)
    assert cache.get("k") is None


def test_ttl_cache_pop_and_clear() -> None:
    cache: TtlCache[int] = TtlCache(10, ttl=5, clock=FakeClock(0.0))
    for i in range(6):
        cache.put(("key", i), i)
    cache.pop(("key", 0))
    cache.pop("absent")
    cache.pop_where(lambda k: isinstance(k, tuple) and k[1] % 2 == 1)
    assert len(cache) == 2 and cache.get(("key", 2)) == 2 and cache.get(("key", 4)) == 4
    cache.clear()
    assert len(cache) == 0 and cache.get(("key", 2)) is None


# --------------------------------------------------------------------------- the service's caches


async def test_material_cache_is_bounded(open_service: OpenService) -> None:
    svc = await open_service(material_entries=3)
    for i in range(8):
        await svc.create_key(T, f"k{i}", "ecdsa-secp256k1")
        await svc.sign(T, f"k{i}", b"m")
        assert len(svc._materials) <= 3 and len(svc._deks) <= 3 and len(svc._meta) <= 3
    for i in range(8):  # evicted keys are decrypted again on demand
        sig, _ = await svc.sign(T, f"k{i}", b"m")
        assert await svc.verify(T, f"k{i}", b"m", sig)


async def test_own_writes_are_seen_at_once(svc: KeyService) -> None:
    changes: list[tuple[str, str]] = []
    svc.on_change.append(lambda tenant, name: changes.append((tenant, name)))
    await svc.create_key(T, "k", "aes256-gcm")
    assert (await svc.encrypt(T, "k", b"x"))[1] == 1
    await svc.rotate_key(T, "k")
    assert (await svc.encrypt(T, "k", b"x"))[1] == 2
    await svc.set_state(T, "k", "suspended")
    with pytest.raises(InvalidState):
        await svc.encrypt(T, "k", b"x")
    await svc.set_state(T, "k", "active")
    await svc.update_key(T, "k", labels={"a": "b"})
    await svc.schedule_deletion(T, "k", window=60)
    await svc.cancel_deletion(T, "k")
    assert changes == [(T, "k")] * 7


async def _after_ttl() -> None:
    await asyncio.sleep(TTL * 1.5)


async def test_rotation_on_a_is_used_by_b_after_the_ttl(svc: KeyService, open_service: OpenService) -> None:
    b = await open_service(metadata_ttl=TTL)
    await svc.create_key(T, "enc", "aes256-gcm")
    await svc.create_key(T, "sig", "ed25519")
    assert (await b.encrypt(T, "enc", b"x"))[1] == 1
    assert (await b.sign(T, "sig", b"x"))[1] == 1
    await svc.rotate_key(T, "enc")
    await svc.rotate_key(T, "sig")
    text, _ = await svc.encrypt(T, "enc", b"made on a")  # version 2
    await _after_ttl()
    assert (await b.encrypt(T, "enc", b"x"))[1] == 2
    assert (await b.sign(T, "sig", b"x"))[1] == 2
    assert await b.decrypt(T, "enc", text) == b"made on a"


async def test_state_and_policy_on_a_apply_on_b_after_the_ttl(svc: KeyService, open_service: OpenService) -> None:
    b = await open_service(metadata_ttl=TTL)
    await svc.create_key(T, "k", "aes256-gcm")
    old, _ = await b.encrypt(T, "k", b"v1")
    await svc.set_state(T, "k", "suspended")
    await _after_ttl()
    with pytest.raises(InvalidState):
        await b.encrypt(T, "k", b"x")
    assert await b.decrypt(T, "k", old) == b"v1"
    await svc.set_state(T, "k", "active")
    await svc.rotate_key(T, "k")
    await svc.update_key(T, "k", min_version=2)
    await _after_ttl()
    with pytest.raises(PolicyViolation):
        await b.decrypt(T, "k", old)
    await svc.schedule_deletion(T, "k", window=3600)
    await _after_ttl()
    with pytest.raises(InvalidState):
        await b.encrypt(T, "k", b"x")
    await svc.cancel_deletion(T, "k")
    await svc.schedule_deletion(T, "k", window=0)
    await _after_ttl()
    with pytest.raises(InvalidState):
        await b.encrypt(T, "k", b"x")


async def test_invalidate_drops_a_key_at_once(svc: KeyService, open_service: OpenService) -> None:
    """What the Redis invalidation bus calls on the other nodes."""
    b = await open_service(metadata_ttl=3600)
    await svc.create_key(T, "k", "aes256-gcm")
    assert (await b.encrypt(T, "k", b"x"))[1] == 1
    await svc.rotate_key(T, "k")
    b.invalidate(T, "k")
    assert (await b.encrypt(T, "k", b"x"))[1] == 2
