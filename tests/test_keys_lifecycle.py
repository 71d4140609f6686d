"""Key lifecycle through KeyService, on SQLite and PostgreSQL: create, get, list, update,
rotate, state transitions, scheduled deletion, automatic rotation and trimming."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from keys_support import FakeClock, sql, unsealed
from skms.crypto import registry
from skms.errors import (
    AlgorithmNotAllowed,
    Conflict,
    InvalidInput,
    InvalidState,
    NotFound,
    PolicyViolation,
    UnknownAlgorithm,
    UnsupportedOperation,
)
from skms.keys import WALLET_TYPE, KeyInfo, KeyService, KeyState
from skms.keys.model import DEFAULT_DELETION_WINDOW, MAX_DELETION_WINDOW

pytestmark = pytest.mark.anyio

T = "acme"  # the tenant of most tests
DAY = 24 * 3600
#: Every type the registry lets a default policy create (rsa-2048 is deprecated).
CREATABLE = [a for a in registry.ALGORITHMS if registry.DEFAULT_POLICY.allows(a)]


def _name(alg_id: str) -> str:
    return "k:" + alg_id.replace("+", "_")


def _walk(value: Any) -> list[Any]:
    """Every leaf value inside a KeyInfo (dataclasses, dicts, tuples)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [leaf for f in dataclasses.fields(value) for leaf in _walk(getattr(value, f.name))]
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in [*_walk(k), *_walk(v)]]
    if isinstance(value, list | tuple):
        return [leaf for v in value for leaf in _walk(v)]
    return [value]


def assert_no_secret(info: KeyInfo, secret: bytes) -> None:
    """``secret`` appears in no field of ``info`` (raw, hex) nor in its repr."""
    names = {f.name for f in dataclasses.fields(info)} | {f.name for v in info.versions for f in dataclasses.fields(v)}
    assert not names & {"material", "secret", "private_key", "wrapped_dek", "seed", "phrase", "mnemonic"}
    for leaf in _walk(info):
        if isinstance(leaf, bytes | bytearray):
            assert secret not in leaf
        if isinstance(leaf, str):
            assert secret.hex() not in leaf.lower()
    assert secret.hex() not in repr(info).lower()


# --------------------------------------------------------------------------- create and get


async def test_create_every_type(svc: KeyService) -> None:
    for alg_id in CREATABLE:
        alg = registry.get(alg_id)
        info = await svc.create_key(T, _name(alg_id), alg_id)
        assert (info.name, info.type, info.state) == (_name(alg_id), alg_id, "active")
        assert info.purpose in {p.value for p in alg.purposes}
        assert (info.latest_version, info.min_version, [v.version for v in info.versions]) == (1, 1, [1])
        got = await svc.get_key(T, _name(alg_id))
        assert got.id == info.id and got.versions[0].state == "enabled"
        # Asymmetric keys publish their public key, and it is the one the material makes.
        _, _, material = await svc.raw_material(T, _name(alg_id), None)
        if alg.asymmetric:
            public = alg.key_class.load(material, alg.storage_format).public_key()
            expected = public.export("spki-der" if alg.family == "rsa" else "raw")
            assert got.versions[0].public_key == expected, alg_id
            assert (await svc.public_key(T, _name(alg_id))).export("raw" if alg.family != "rsa" else "spki-der") == (
                expected
            )
        else:
            assert got.versions[0].public_key is None
            with pytest.raises(UnsupportedOperation):
                await svc.public_key(T, _name(alg_id))
        assert_no_secret(got, material.expose_secret())


async def test_create_wallet_type(svc: KeyService) -> None:
    info, phrase = await svc.create_wallet(T, "wallet", words=12)
    assert (info.type, info.purpose, info.state, info.latest_version) == (WALLET_TYPE, "derive", "active", 1)
    assert info.meta["words"] == 12 and len(phrase.split()) == 12
    assert phrase not in repr(await svc.get_key(T, "wallet"))
    with pytest.raises(InvalidInput, match="create_wallet"):
        await svc.create_key(T, "w2", WALLET_TYPE)


BAD_NAMES: list[Any] = [
    "",
    "-lead",
    ".lead",
    ":lead",
    "a" * 129,
    "a/b",
    "with space",
    "ünï",
    "tab\t",
    "semi;colon",
    5,
    None,
]
BAD_LABELS: list[Any] = [
    {"Upper": "x"},
    {"": "x"},
    {"-lead": "x"},
    {"a" * 64: "x"},
    {"k": 1},
    {"k": None},
    {"k": "v" * 257},
    {f"k{i}": "v" for i in range(65)},
    ["k", "v"],
]
BAD_POLICIES: list[Any] = [
    {"unknown": 1},
    {"rotation_period": 59},
    {"rotation_period": 3600.5},
    {"rotation_period": "3600"},
    {"rotation_period": True},
    {"version_ttl": 0},
    {"version_ttl": -60},
    {"exportable": "yes"},
    {"exportable": 1},
    {"deletion_window": -1},
    {"deletion_window": MAX_DELETION_WINDOW + 1},
    {"deletion_window": True},
    {"deletion_window": 3600.0},
]


async def test_create_validation(svc: KeyService) -> None:
    cases = (
        [{"name": n} for n in BAD_NAMES] + [{"labels": v} for v in BAD_LABELS] + [{"policy": p} for p in BAD_POLICIES]
    )
    for case in cases:
        args = {"name": "k", **case}
        with pytest.raises(InvalidInput):
            await svc.create_key(T, args.pop("name"), "aes256-gcm", **args)
            pytest.fail(f"accepted {case!r}")
    assert await svc.list_keys(T) == ([], None)  # nothing was stored
    for name in ["a", "A", "0", "a" * 128, "team:app-1:db_key.v2", "a-b_c.d:e"]:
        assert (await svc.create_key(T, name, "hmac-sha256")).name == name


async def test_create_other_errors(svc: KeyService) -> None:
    with pytest.raises(UnknownAlgorithm):
        await svc.create_key(T, "k", "aes128-ecb")
    with pytest.raises(AlgorithmNotAllowed):
        await svc.create_key(T, "k", "rsa-2048")
    with pytest.raises(InvalidInput, match="purpose"):
        await svc.create_key(T, "k", "aes256-gcm", purpose="sign")
    for state in ("suspended", "compromised", "destroyed", "bogus"):
        with pytest.raises(InvalidInput):
            await svc.create_key(T, "k", "aes256-gcm", state=state)
    with pytest.raises(NotFound):
        await svc.get_key(T, "k")
    # Valid policy and labels are kept as given (policy completed with defaults).
    info = await svc.create_key(
        T, "k", "aes256-gcm", labels={"env": "prod", "team.x": "a-b"}, policy={"rotation_period": 3600}
    )
    assert info.labels == {"env": "prod", "team.x": "a-b"}
    assert info.policy == {
        "rotation_period": 3600,
        "version_ttl": None,
        "exportable": False,
        "deletion_window": DEFAULT_DELETION_WINDOW,
        "allow_backup": False,  # as exportable, when not given
    }
    with pytest.raises(Conflict):
        await svc.create_key(T, "k", "hmac-sha256")
    # Names are unique per tenant only.
    assert (await svc.create_key("other-tenant", "k", "hmac-sha256")).tenant == "other-tenant"
    assert (await svc.get_key(T, "k")).type == "aes256-gcm"


async def test_create_pre_active(svc: KeyService) -> None:
    info = await svc.create_key(T, "k", "ed25519", state="pre-active")
    assert info.state == "pre-active"
    assert (await svc.get_key(T, "k")).state == "pre-active"


async def test_get_missing(svc: KeyService) -> None:
    await svc.create_key(T, "k", "aes256-gcm")
    with pytest.raises(NotFound):
        await svc.get_key(T, "nope")
    with pytest.raises(NotFound):
        await svc.get_key("other-tenant", "k")
    with pytest.raises(NotFound):
        await svc.encrypt("other-tenant", "k", b"x")


# --------------------------------------------------------------------------- list


async def _populate(svc: KeyService) -> dict[str, KeyInfo]:
    specs = [
        ("app:db", "aes256-gcm", {"env": "prod"}),
        ("app:cache", "aes256-gcm", {"env": "dev"}),
        ("app:sign", "ed25519", {"env": "prod", "team": "core"}),
        ("app_x", "hmac-sha256", {}),
        ("billing:sign", "ed25519", {"team": "core"}),
        ("billing:tokens", "hmac-sha256", {"env": "prod"}),
        ("zeta", "ecdsa-secp256k1", {}),
    ]
    out = {}
    for name, type_, labels in specs:
        out[name] = await svc.create_key(T, name, type_, labels=labels)
    await svc.set_state(T, "app:cache", "suspended")
    await svc.create_key("other-tenant", "app:db", "aes256-gcm")
    return out


async def _names(svc: KeyService, **filters: Any) -> list[str]:
    page, cursor = await svc.list_keys(T, limit=1000, **filters)
    assert cursor is None
    return [k.name for k in page]


async def test_list_filters(svc: KeyService) -> None:
    await _populate(svc)
    everything = ["app:cache", "app:db", "app:sign", "app_x", "billing:sign", "billing:tokens", "zeta"]
    assert await _names(svc) == everything
    assert await _names(svc, type="ed25519") == ["app:sign", "billing:sign"]
    assert await _names(svc, state="suspended") == ["app:cache"]
    assert await _names(svc, state="active", type="aes256-gcm") == ["app:db"]
    assert await _names(svc, prefix="app:") == ["app:cache", "app:db", "app:sign"]
    assert await _names(svc, prefix="app_") == ["app_x"]  # no LIKE wildcard
    assert await _names(svc, prefix="billing:t") == ["billing:tokens"]
    assert await _names(svc, labels={"env": "prod"}) == ["app:db", "app:sign", "billing:tokens"]
    assert await _names(svc, labels={"env": "prod", "team": "core"}) == ["app:sign"]
    assert await _names(svc, labels={"env": "prod"}, prefix="billing:") == ["billing:tokens"]
    assert await _names(svc, labels={"env": "staging"}) == []
    assert await _names(svc, type="ml-kem-768") == []
    page, _ = await svc.list_keys("other-tenant")
    assert [k.name for k in page] == ["app:db"]
    assert (await svc.list_keys("nobody")) == ([], None)


async def test_list_rejects_bad_limit(svc: KeyService) -> None:
    for limit in [0, -1, 1001, "5", 2.0]:
        with pytest.raises(InvalidInput):
            await svc.list_keys(T, limit=limit)


async def test_list_pagination_walks_every_key_once(svc: KeyService) -> None:
    names = [f"page:{i:03d}" for i in range(23)]
    for i, name in enumerate(names):
        await svc.create_key(T, name, "hmac-sha256", labels={"parity": "even" if i % 2 == 0 else "odd"})
    await svc.create_key(T, "other:1", "hmac-sha256", labels={"parity": "even"})
    for limit in (1, 2, 5, 7, 22, 23, 24, 100):
        for filters, expected in (
            ({"prefix": "page:"}, names),
            ({"labels": {"parity": "even"}, "prefix": "page:"}, names[::2]),
            ({"labels": {"parity": "odd"}}, names[1::2]),
        ):
            seen: list[str] = []
            cursor: str | None = None
            pages = 0
            while True:
                page, cursor = await svc.list_keys(T, limit=limit, cursor=cursor, **filters)  # type: ignore[arg-type]
                assert len(page) <= limit
                seen += [k.name for k in page]
                pages += 1
                if cursor is None:
                    break
                assert page, "a non-final page is never empty"
            assert seen == expected, (limit, filters)
            assert pages == max(1, -(-len(expected) // limit)), (limit, filters)


@pytest.fixture
async def pg_en_us(pg_url: str, keyfile: str) -> AsyncIterator[KeyService]:
    """A service on the session database, whose default collation is linguistic (see keys_support)."""
    service = await unsealed(pg_url, keyfile)
    try:
        # Under a "C" default collation the bug cannot show: nothing to test.
        if await service.store.pool.fetchval("SELECT 'B' < 'a'"):  # type: ignore[attr-defined]
            pytest.skip("the test database has a byte-order default collation")
        yield service
    finally:
        await service.close()


async def test_pg_pagination_under_linguistic_collation(pg_en_us: KeyService) -> None:
    names = ["Ab", "a-b", "a.b", "aB", "a_b", "ab", "b1", "B2"]
    for name in names:
        await pg_en_us.create_key(T, name, "hmac-sha256")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page, cursor = await pg_en_us.list_keys(T, limit=2, cursor=cursor)
        seen += [k.name for k in page]
        if cursor is None or len(seen) > 2 * len(names):
            break
    assert sorted(seen) == sorted(names)


# --------------------------------------------------------------------------- update


async def test_update_labels_policy_min_version(svc: KeyService, clock: FakeClock) -> None:
    await svc.create_key(T, "k", "aes256-gcm", labels={"a": "1"})
    info = await svc.update_key(T, "k", labels={"b": "2"})
    assert info.labels == {"b": "2"}
    info = await svc.update_key(T, "k", policy={"rotation_period": 3600})
    assert info.policy["rotation_period"] == 3600 and info.labels == {"b": "2"}
    info = await svc.update_key(T, "k", policy={"deletion_window": 3600})
    assert info.policy["rotation_period"] == 3600 and info.policy["deletion_window"] == 3600  # merged
    assert (await svc.get_key(T, "k")).policy == info.policy
    with pytest.raises(InvalidState, match="exportable cannot be turned on"):  # fixed at creation (issue 13)
        await svc.update_key(T, "k", policy={"exportable": True})
    assert (await svc.get_key(T, "k")).policy == info.policy
    # The new rotation period schedules a rotation one period from the update.
    clock.advance(3599)
    assert (await svc.run_due())["rotated"] == 0
    clock.advance(1)
    assert (await svc.run_due())["rotated"] == 1
    info = await svc.update_key(T, "k", policy={"rotation_period": None})
    clock.advance(10 * DAY)
    assert (await svc.run_due())["rotated"] == 0
    assert info.latest_version == 2
    info = await svc.update_key(T, "k", min_version=2)
    assert info.min_version == 2
    info = await svc.update_key(T, "k", min_version=1)  # may be lowered again
    assert info.min_version == 1
    info = await svc.update_key(T, "k", labels=None)
    assert info.labels == {}


async def test_update_rejects(svc: KeyService) -> None:
    before = await svc.create_key(T, "k", "aes256-gcm", labels={"a": "1"})
    await svc.rotate_key(T, "k")
    bad: list[dict[str, Any]] = [
        {"min_version": 0},
        {"min_version": 3},
        {"min_version": True},
        {"min_version": "1"},
        {"labels": {"BAD": "x"}},
        {"policy": {"rotation_period": 1}},
        {"policy": {"nope": 1}},
    ]
    for changes in bad:
        with pytest.raises(InvalidInput):
            await svc.update_key(T, "k", **changes)
            pytest.fail(f"accepted {changes!r}")
    after = await svc.get_key(T, "k")
    assert (after.labels, after.policy, after.min_version) == (before.labels, before.policy, 1)


async def test_update_missing_and_destroyed(svc: KeyService) -> None:
    with pytest.raises(NotFound):
        await svc.update_key(T, "nope", labels={})
    await svc.create_key(T, "k", "aes256-gcm")
    await svc.schedule_deletion(T, "k", window=0)
    with pytest.raises(InvalidState):
        await svc.update_key(T, "k", labels={"a": "b"})


# --------------------------------------------------------------------------- rotate


async def test_rotate_versions_and_newest_used(svc: KeyService) -> None:
    await svc.create_key(T, "k", "aes256-gcm")
    ciphertexts = {1: (await svc.encrypt(T, "k", b"v1"))[0]}
    for n in range(2, 6):
        info = await svc.rotate_key(T, "k")
        assert info.latest_version == n
        assert [v.version for v in info.versions] == list(range(1, n + 1))
        assert all(v.state == "enabled" for v in info.versions)
        text, version = await svc.encrypt(T, "k", b"v%d" % n)
        assert version == n and text.startswith(f"skms:v{n}:")
        ciphertexts[n] = text
    for n, text in ciphertexts.items():
        assert await svc.decrypt(T, "k", text) == b"v%d" % n
    # Each version has its own material.
    materials = {(await svc.raw_material(T, "k", n))[2].expose_secret() for n in range(1, 6)}
    assert len(materials) == 5


async def test_rotate_by_state(svc: KeyService) -> None:
    await svc.create_key(T, "pre", "ed25519", state="pre-active")
    assert (await svc.rotate_key(T, "pre")).latest_version == 2
    await svc.create_key(T, "sus", "ed25519")
    await svc.set_state(T, "sus", "suspended")
    assert (await svc.rotate_key(T, "sus")).latest_version == 2
    await svc.create_key(T, "comp", "ed25519")
    await svc.set_state(T, "comp", "compromised")
    with pytest.raises(InvalidState):
        await svc.rotate_key(T, "comp")
    await svc.create_key(T, "gone", "ed25519")
    await svc.schedule_deletion(T, "gone", window=0)
    with pytest.raises(InvalidState):
        await svc.rotate_key(T, "gone")
    await svc.create_wallet(T, "wallet", words=12)
    with pytest.raises(UnsupportedOperation):
        await svc.rotate_key(T, "wallet")
    with pytest.raises(NotFound):
        await svc.rotate_key(T, "nope")


# --------------------------------------------------------------------------- states

ALLOWED = {
    ("pre-active", "active"),
    ("pre-active", "compromised"),
    ("active", "suspended"),
    ("active", "compromised"),
    ("suspended", "active"),
    ("suspended", "compromised"),
}


async def _key_in_state(svc: KeyService, name: str, state: str) -> None:
    await svc.create_key(T, name, "aes256-gcm", state="pre-active" if state == "pre-active" else "active")
    if state in ("suspended", "compromised"):
        await svc.set_state(T, name, state)
    if state == "destroyed":
        await svc.schedule_deletion(T, name, window=0)
    assert (await svc.get_key(T, name)).state == state


@pytest.mark.parametrize("source", [s.value for s in KeyState])
async def test_state_transitions(svc: KeyService, source: str) -> None:
    for target in [s.value for s in KeyState]:
        name = f"{source}-to-{target}"
        await _key_in_state(svc, name, source)
        if (source, target) in ALLOWED:
            assert (await svc.set_state(T, name, target)).state == target
            assert (await svc.get_key(T, name)).state == target
        else:
            with pytest.raises(InvalidState) as err:
                await svc.set_state(T, name, target)
            assert source in str(err.value) and target in str(err.value)
            assert (await svc.get_key(T, name)).state == source
    await _key_in_state(svc, "unknown", source)
    with pytest.raises(InvalidInput):
        await svc.set_state(T, "unknown", "deactivated")


# --------------------------------------------------------------------------- deletion


async def test_schedule_deletion_windows(svc: KeyService, clock: FakeClock) -> None:
    await svc.create_key(T, "default", "aes256-gcm")
    assert (await svc.schedule_deletion(T, "default")).deletion_at == clock.now + 7 * DAY
    await svc.create_key(T, "policy", "aes256-gcm", policy={"deletion_window": 2 * DAY})
    assert (await svc.schedule_deletion(T, "policy")).deletion_at == clock.now + 2 * DAY
    await svc.create_key(T, "explicit", "aes256-gcm", policy={"deletion_window": 2 * DAY})
    assert (await svc.schedule_deletion(T, "explicit", window=3600)).deletion_at == clock.now + 3600
    await svc.create_key(T, "bad", "aes256-gcm")
    for window in (-1, MAX_DELETION_WINDOW + 1):
        with pytest.raises(InvalidInput):
            await svc.schedule_deletion(T, "bad", window=window)
    assert (await svc.get_key(T, "bad")).deletion_at is None
    with pytest.raises(InvalidState):
        await svc.schedule_deletion(T, "default")  # already scheduled
    with pytest.raises(NotFound):
        await svc.schedule_deletion(T, "nope")


async def _assert_destroyed(svc: KeyService, name: str, clock: FakeClock) -> None:
    info = await svc.get_key(T, name)  # metadata stays
    assert info.state == "destroyed" and info.destroyed_at == clock.now
    assert all(v.state == "destroyed" for v in info.versions)
    rows = await sql(svc.store, "SELECT version, state, material FROM key_versions WHERE key_id = ?", info.id)
    assert rows and all(state == "destroyed" and material is None for _, state, material in rows)


async def test_window_zero_destroys_at_once(svc: KeyService, clock: FakeClock) -> None:
    await svc.create_key(T, "k", "aes256-gcm")
    text, _ = await svc.encrypt(T, "k", b"data")
    await svc.rotate_key(T, "k")
    info = await svc.schedule_deletion(T, "k", window=0)
    assert info.state == "destroyed"
    await _assert_destroyed(svc, "k", clock)
    for op in (svc.encrypt(T, "k", b"x"), svc.decrypt(T, "k", text)):
        with pytest.raises(InvalidState):
            await op
    with pytest.raises(InvalidState):
        await svc.schedule_deletion(T, "k")
    with pytest.raises(InvalidState):
        await svc.cancel_deletion(T, "k")
    with pytest.raises(InvalidState):
        await svc.set_state(T, "k", "active")
    with pytest.raises(Conflict):  # the name stays taken
        await svc.create_key(T, "k", "aes256-gcm")
    assert [k.name for k in (await svc.list_keys(T, state="destroyed"))[0]] == ["k"]


async def test_pending_deletion_blocks_then_cancel(svc: KeyService, clock: FakeClock) -> None:
    await svc.create_key(T, "enc", "aes256-gcm")
    await svc.create_key(T, "sig", "ed25519")
    text, _ = await svc.encrypt(T, "enc", b"data")
    sig, _ = await svc.sign(T, "sig", b"msg")
    for name in ("enc", "sig"):
        await svc.schedule_deletion(T, name, window=DAY)
    ops = [
        lambda: svc.encrypt(T, "enc", b"x"),
        lambda: svc.decrypt(T, "enc", text),
        lambda: svc.datakey(T, "enc"),
        lambda: svc.rewrap(T, "enc", text),
        lambda: svc.sign(T, "sig", b"x"),
        lambda: svc.verify(T, "sig", b"msg", sig),
    ]
    for op in ops:
        with pytest.raises(InvalidState, match="scheduled for deletion"):
            await op()
    clock.advance(DAY - 1)
    assert await svc.run_due() == {"rotated": 0, "destroyed": 0}
    info = await svc.cancel_deletion(T, "enc")
    assert info.deletion_at is None and info.state == "active"
    with pytest.raises(InvalidState):
        await svc.cancel_deletion(T, "enc")  # nothing to cancel
    assert await svc.decrypt(T, "enc", text) == b"data"
    clock.advance(1)
    assert await svc.run_due() == {"rotated": 0, "destroyed": 1}
    await _assert_destroyed(svc, "sig", clock)
    assert (await svc.get_key(T, "enc")).state == "active"
    assert await svc.run_due() == {"rotated": 0, "destroyed": 0}


async def test_deletion_keeps_state_until_due(svc: KeyService, clock: FakeClock) -> None:
    await svc.create_key(T, "k", "ed25519")
    await svc.set_state(T, "k", "suspended")
    await svc.schedule_deletion(T, "k", window=3600)
    assert (await svc.get_key(T, "k")).state == "suspended"
    assert (await svc.cancel_deletion(T, "k")).state == "suspended"
    await svc.schedule_deletion(T, "k", window=3600)
    clock.advance(3600)
    assert (await svc.run_due())["destroyed"] == 1
    await _assert_destroyed(svc, "k", clock)


# --------------------------------------------------------------------------- automatic rotation


async def test_run_due_rotates_on_schedule(svc: KeyService, clock: FakeClock, open_service: Any) -> None:
    await svc.create_key(T, "hourly", "aes256-gcm", policy={"rotation_period": 3600})
    await svc.create_key(T, "daily", "ed25519", policy={"rotation_period": DAY})
    await svc.create_key(T, "never", "aes256-gcm")
    await svc.create_key(T, "suspended", "aes256-gcm", policy={"rotation_period": 3600})
    await svc.set_state(T, "suspended", "suspended")
    await svc.create_key(T, "pre", "aes256-gcm", policy={"rotation_period": 3600}, state="pre-active")
    clock.advance(3599)
    assert (await svc.run_due())["rotated"] == 0
    clock.advance(1)
    assert (await svc.run_due())["rotated"] == 1
    assert (await svc.run_due())["rotated"] == 0  # done once
    assert (await svc.get_key(T, "hourly")).latest_version == 2
    text, version = await svc.encrypt(T, "hourly", b"x")
    assert version == 2
    # The schedule lives in the store: a restarted service (another clock, same time) picks it up.
    later = FakeClock(clock.now + DAY)
    other = await open_service(clock=later)
    assert (await other.run_due())["rotated"] == 2  # hourly (once, not 24 times) and daily
    assert (await other.get_key(T, "hourly")).latest_version == 3
    assert (await other.get_key(T, "daily")).latest_version == 2
    for name in ("never", "suspended", "pre"):
        assert (await other.get_key(T, name)).latest_version == 1
    assert await other.decrypt(T, "hourly", text) == b"x"


# --------------------------------------------------------------------------- trim


async def test_trim_versions_below_minimum(svc: KeyService) -> None:
    await svc.create_key(T, "k", "aes256-gcm")
    texts = {1: (await svc.encrypt(T, "k", b"one"))[0]}
    for n in (2, 3, 4):
        await svc.rotate_key(T, "k")
        texts[n] = (await svc.encrypt(T, "k", b"v"))[0]
    info = await svc.trim_versions(T, "k")  # min_version 1: nothing to trim
    assert all(v.state == "enabled" for v in info.versions)
    await svc.update_key(T, "k", min_version=3)
    info = await svc.trim_versions(T, "k")
    assert [(v.version, v.state) for v in info.versions] == [
        (1, "destroyed"),
        (2, "destroyed"),
        (3, "enabled"),
        (4, "enabled"),
    ]
    rows = await sql(svc.store, "SELECT version, material FROM key_versions WHERE key_id = ? ORDER BY version", info.id)
    assert [(v, m is None) for v, m in rows] == [(1, True), (2, True), (3, False), (4, False)]
    assert await svc.decrypt(T, "k", texts[3]) == b"v"
    with pytest.raises(PolicyViolation):
        await svc.decrypt(T, "k", texts[1])
    # Lowering the minimum again does not bring trimmed material back.
    await svc.update_key(T, "k", min_version=1)
    with pytest.raises(InvalidState):
        await svc.decrypt(T, "k", texts[1])
    assert (await svc.encrypt(T, "k", b"x"))[1] == 4
    with pytest.raises(NotFound):
        await svc.trim_versions(T, "nope")
