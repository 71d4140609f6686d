"""IAM-style policies: evaluation (unit and property tests) and management over HTTP.

Unit level: :func:`skms.authz.evaluate` with explicit :class:`AccessRequest` values (fixed
``now``, any ``source``). HTTP level: policies through ``PUT /v1/authz/policies/{name}``,
bindings through ``PUT /v1/authz/principals/{name}``, calls with a principal's API key, and
``POST /v1/authz/simulate``. Source-network conditions are tested over HTTP by calling the
ASGI app with a chosen client address (the test client's own address is ``"testclient"``).
"""

from __future__ import annotations

import calendar
import random
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from security_support import PASSPHRASE, Harness, assert_403, assert_problem, b64, bearer, harness, settings_for
from skms.api import create_app
from skms.authz import ALL_ACTIONS, BUILTIN_ROLES, AccessRequest, Conditions, PolicyDocument, Statement, evaluate
from skms.authz.authorizer import Authorizer, Binding
from skms.errors import InvalidInput
from skms.storage.sqlite import SqliteStore

DATA = b64(b"policy tests")


def at_hour(hour: int, minute: int = 30) -> float:
    return float(calendar.timegm((2024, 3, 1, hour, minute, 0, 0, 0, 0)))


def req(action: str = "key:Sign", resource: str = "key:payments-eu", **extra: Any) -> AccessRequest:
    base: dict[str, Any] = {"principal": "alice", "roles": (), "tenant": "default", "now": at_hour(12)}
    base.update(extra)
    return AccessRequest(action=action, resource=resource, **base)


def doc(name: str, *statements: Statement) -> PolicyDocument:
    return PolicyDocument(name, list(statements))


def allow(actions: list[str], resources: list[str], conditions: Conditions | None = None, sid: str | None = None):
    return Statement("allow", actions, resources, conditions, sid)


def deny(actions: list[str], resources: list[str], conditions: Conditions | None = None, sid: str | None = None):
    return Statement("deny", actions, resources, conditions, sid)


# -- evaluation: unit tests -----------------------------------------------------------------------------


def test_no_statement_matching_denies() -> None:
    decision = evaluate([doc("p", allow(["key:Encrypt"], ["key:*"]))], req("key:Sign"))
    assert not decision.allowed
    assert (decision.policy, decision.statement, decision.sid) == (None, None, None)
    assert "default deny" in decision.reason
    assert not evaluate([], req()).allowed


def test_explicit_deny_wins_over_allow_in_any_order() -> None:
    grant = doc("grant", allow(["*"], ["*"], sid="all"))
    refuse = doc("refuse", deny(["key:Sign"], ["key:payments-*"], sid="no-payments"))
    for policies in ([grant, refuse], [refuse, grant]):
        decision = evaluate(policies, req("key:Sign", "key:payments-eu"))
        assert not decision.allowed
        assert (decision.policy, decision.statement, decision.sid) == ("refuse", 0, "no-payments")
    # The deny does not reach other actions or resources.
    assert evaluate([grant, refuse], req("key:Verify", "key:payments-eu")).allowed
    assert evaluate([grant, refuse], req("key:Sign", "key:other")).allowed


def test_deny_and_allow_in_one_policy() -> None:
    p = doc("mixed", allow(["key:*"], ["key:*"]), deny(["key:Decrypt"], ["key:*"], sid="never-decrypt"))
    assert evaluate([p], req("key:Encrypt")).allowed
    d = evaluate([p], req("key:Decrypt"))
    assert not d.allowed and d.statement == 1 and d.sid == "never-decrypt"


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("key:*", "key:Sign", True),
        ("key:S*", "key:Sign", True),
        ("key:S*", "key:Decrypt", False),
        ("*", "wallet:Derive", True),
        ("wallet:*", "key:Sign", False),
        ("key:Sign", "key:SignBatch", False),
        ("key:Sig", "key:Sign", False),
    ],
)
def test_action_wildcards(pattern: str, value: str, matches: bool) -> None:
    assert evaluate([doc("p", allow([pattern], ["*"]))], req(value)).allowed is matches


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("key:payments-*", "key:payments-eu", True),
        ("key:payments-*", "key:payments-", True),
        ("key:payments-*", "key:payments", False),
        ("key:payments-*", "key:x-payments-eu", False),
        ("key:payments-*", "wallet:payments-eu", False),
        ("key:payments/*", "key:payments/eu/1", True),
        ("key:*", "key:anything", True),
        ("key:*", "wallet:treasury", False),
        ("wallet:treasury", "wallet:treasury", True),
        ("wallet:treasury", "wallet:treasury-2", False),
        ("*", "policy:x", True),
    ],
)
def test_resource_wildcards(pattern: str, value: str, matches: bool) -> None:
    assert evaluate([doc("p", allow(["*"], [pattern]))], req("key:Sign", value)).allowed is matches


def test_condition_key_labels() -> None:
    p = [doc("p", allow(["key:Sign"], ["*"], Conditions(key_labels={"env": "prod", "team": "pay"})))]
    assert evaluate(p, req(key_labels={"env": "prod", "team": "pay", "extra": "ok"})).allowed
    assert not evaluate(p, req(key_labels={"env": "prod"})).allowed
    assert not evaluate(p, req(key_labels={"env": "dev", "team": "pay"})).allowed
    assert not evaluate(p, req(key_labels=None)).allowed


def test_condition_key_types() -> None:
    p = [doc("p", allow(["key:Sign"], ["*"], Conditions(key_types=["ed25519", "ecdsa-p256"])))]
    assert evaluate(p, req(key_type="ed25519")).allowed
    assert not evaluate(p, req(key_type="rsa-3072")).allowed
    assert not evaluate(p, req(key_type=None)).allowed


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        ("10.1.2.3", True),
        ("10.255.255.255", True),
        ("11.0.0.1", False),
        ("192.168.7.7", True),
        ("192.168.8.1", False),
        ("2001:db8::1", True),
        ("2001:db9::1", False),
        (None, False),
        ("testclient", False),
        ("", False),
    ],
)
def test_condition_source_cidrs(source: str | None, allowed: bool) -> None:
    cond = Conditions(source_cidrs=["10.0.0.0/8", "192.168.7.0/24", "2001:db8::/32"])
    assert evaluate([doc("p", allow(["*"], ["*"], cond))], req(source=source)).allowed is allowed


def test_condition_source_cidrs_on_a_deny() -> None:
    """A deny limited to a network denies there only; outside it the allow stands."""
    p = [doc("p", allow(["*"], ["*"]), deny(["*"], ["*"], Conditions(source_cidrs=["203.0.113.0/24"])))]
    assert not evaluate(p, req(source="203.0.113.9")).allowed
    assert evaluate(p, req(source="198.51.100.1")).allowed


@pytest.mark.parametrize(
    ("window", "hour", "minute", "inside"),
    [
        ((9, 17), 9, 0, True),
        ((9, 17), 16, 59, True),
        ((9, 17), 17, 0, False),
        ((9, 17), 8, 59, False),
        ((22, 6), 23, 0, True),
        ((22, 6), 0, 0, True),
        ((22, 6), 5, 59, True),
        ((22, 6), 6, 0, False),
        ((22, 6), 21, 59, False),
        ((0, 24), 23, 59, True),
        ((5, 5), 5, 0, False),
    ],
)
def test_condition_hours_utc(window: tuple[int, int], hour: int, minute: int, inside: bool) -> None:
    p = [doc("p", allow(["*"], ["*"], Conditions(hours_utc=window)))]
    assert evaluate(p, req(now=at_hour(hour, minute))).allowed is inside


def test_condition_tenants() -> None:
    p = [doc("p", allow(["*"], ["*"], Conditions(tenants=["acme", "globex"])))]
    assert evaluate(p, req(tenant="acme")).allowed
    assert not evaluate(p, req(tenant="default")).allowed


def test_all_conditions_must_hold() -> None:
    cond = Conditions(
        key_labels={"env": "prod"}, key_types=["ed25519"], source_cidrs=["10.0.0.0/8"], hours_utc=(8, 18),
        tenants=["default"],
    )  # fmt: skip
    p = [doc("p", allow(["key:Sign"], ["key:*"], cond))]
    good: dict[str, Any] = {"key_labels": {"env": "prod"}, "key_type": "ed25519", "source": "10.0.0.1",
                            "now": at_hour(12), "tenant": "default"}  # fmt: skip
    assert evaluate(p, req(**good)).allowed
    for field, bad in [("key_labels", {"env": "dev"}), ("key_type", "ecdsa-p256"), ("source", "8.8.8.8"),
                       ("now", at_hour(20)), ("tenant", "acme")]:  # fmt: skip
        assert not evaluate(p, req(**{**good, field: bad})).allowed, field


def test_builtin_roles() -> None:
    def allowed(role: str, action: str) -> bool:
        return evaluate([BUILTIN_ROLES[role]], req(action, "key:k")).allowed

    assert all(allowed("admin", a) for a in ALL_ACTIONS)
    assert allowed("crypto-user", "key:Sign") and not allowed("crypto-user", "key:Create")
    assert allowed("key-admin", "key:Create") and not allowed("key-admin", "key:Decrypt")
    assert allowed("wallet-operator", "wallet:Sign") and not allowed("wallet-operator", "key:Sign")
    assert allowed("auditor", "audit:Read") and not allowed("auditor", "key:Sign")
    for role in ("key-admin", "crypto-user", "wallet-operator", "auditor"):
        assert not allowed(role, "authz:ManagePolicies") and not allowed(role, "auth:CreateApiKey"), role


# -- evaluation: properties -----------------------------------------------------------------------------

ACTION_PATTERNS = ["*", "key:*", "key:S*", "key:Sign", "key:Decrypt", "wallet:*", "wallet:Sign", "misc:Hash"]
RESOURCE_PATTERNS = ["*", "key:*", "key:payments-*", "key:a", "wallet:*", "wallet:treasury", "misc:*"]
ACTIONS = ["key:Sign", "key:Decrypt", "key:Create", "wallet:Sign", "wallet:Derive", "misc:Hash", "audit:Read"]
RESOURCES = ["key:a", "key:payments-eu", "key:b", "wallet:treasury", "wallet:cold", "misc:hash"]

conditions = st.one_of(
    st.none(),
    st.builds(
        Conditions,
        key_labels=st.one_of(st.none(), st.just({"env": "prod"})),
        key_types=st.one_of(st.none(), st.just(["ed25519"])),
        source_cidrs=st.one_of(st.none(), st.just(["10.0.0.0/8"])),
        hours_utc=st.one_of(st.none(), st.just((8, 18)), st.just((20, 4))),
        tenants=st.one_of(st.none(), st.just(["default"])),
    ),
)


def statements(effect: str | None = None) -> st.SearchStrategy[Statement]:
    return st.builds(
        Statement,
        effect=st.just(effect) if effect else st.sampled_from(["allow", "deny"]),
        actions=st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3),
        resources=st.lists(st.sampled_from(RESOURCE_PATTERNS), min_size=1, max_size=3),
        conditions=conditions,
    )


def policies(effect: str | None = None, min_size: int = 0) -> st.SearchStrategy[list[PolicyDocument]]:
    docs = st.builds(
        PolicyDocument,
        name=st.sampled_from(["p1", "p2", "p3"]),
        statements=st.lists(statements(effect), min_size=1, max_size=4),
    )
    return st.lists(docs, min_size=min_size, max_size=3, unique_by=lambda d: d.name)


requests = st.builds(
    AccessRequest,
    principal=st.just("alice"),
    roles=st.just(()),
    tenant=st.sampled_from(["default", "acme"]),
    action=st.sampled_from(ACTIONS),
    resource=st.sampled_from(RESOURCES),
    source=st.sampled_from([None, "10.1.1.1", "192.168.1.1", "testclient"]),
    now=st.integers(0, 23).map(at_hour),
    key_type=st.sampled_from([None, "ed25519", "aes256-gcm"]),
    key_labels=st.sampled_from([None, {}, {"env": "prod"}, {"env": "dev"}]),
)


@settings(max_examples=60)
@given(policies(), policies(effect="allow"), requests, st.data())
def test_adding_allows_never_lifts_an_explicit_deny(
    base: list[PolicyDocument], extra: list[PolicyDocument], request: AccessRequest, data: st.DataObject
) -> None:
    before = evaluate(base, request)
    position = data.draw(st.integers(0, len(base)))
    after = evaluate([*base[:position], *extra, *base[position:]], request)
    if not before.allowed and before.statement is not None:  # denied by an explicit deny
        assert not after.allowed
        assert (after.policy, after.statement) == (before.policy, before.statement)
    if before.allowed:  # more allows never take an allow away
        assert after.allowed


@settings(max_examples=60)
@given(policies(), policies(effect="deny"), requests)
def test_adding_denies_never_grants(base: list[PolicyDocument], extra: list[PolicyDocument], request: AccessRequest):
    if not evaluate(base, request).allowed:
        assert not evaluate([*base, *extra], request).allowed
        assert not evaluate([*extra, *base], request).allowed


@settings(max_examples=60)
@given(policies(), requests, st.integers(0, 4))
def test_a_deny_matching_everything_denies_everything(
    base: list[PolicyDocument], request: AccessRequest, position: int
) -> None:
    everything = doc("deny-all", deny(["*"], ["*"]))
    position = min(position, len(base))
    decision = evaluate([*base[:position], everything, *base[position:]], request)
    assert not decision.allowed
    assert decision.statement is not None  # an explicit deny decided it (maybe an earlier one)


@settings(max_examples=60)
@given(policies(effect="deny"), requests)
def test_without_allow_statements_everything_is_denied(base: list[PolicyDocument], request: AccessRequest) -> None:
    assert not evaluate(base, request).allowed


@settings(max_examples=60)
@given(policies(), requests, st.randoms(use_true_random=False))
def test_order_of_policies_does_not_change_the_answer(
    base: list[PolicyDocument], request: AccessRequest, rnd: Any
) -> None:
    shuffled = list(base)
    rnd.shuffle(shuffled)
    assert evaluate(base, request).allowed == evaluate(shuffled, request).allowed


@settings(max_examples=60)
@given(policies(), requests)
def test_the_deciding_statement_matches_and_has_the_effect(base: list[PolicyDocument], request: AccessRequest):
    decision = evaluate(base, request)
    if decision.statement is None:
        assert not decision.allowed
        return
    policy = next(p for p in base if p.name == decision.policy)
    statement = policy.statements[decision.statement]
    assert statement.effect == ("allow" if decision.allowed else "deny")
    assert evaluate([doc("only", statement)], request).allowed == decision.allowed


# -- validation (unit) ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "names"),
    [
        (doc("p", allow(["key:Fly"], ["*"])), "key:Fly"),
        (doc("p", allow(["nothing:*"], ["*"])), "nothing:*"),
        (
            doc(
                "p",
                allow(["key:Sign"], []),
            ),
            "resources",
        ),
        (PolicyDocument("p", []), "statement"),
        (doc("p", allow(["*"], ["*"], Conditions(source_cidrs=["10.0.0.0/33"]))), "10.0.0.0/33"),
        (doc("p", allow(["*"], ["*"], Conditions(source_cidrs=["not-a-net"]))), "not-a-net"),
        (doc("p", allow(["*"], ["*"], Conditions(hours_utc=(9, 25)))), "hours_utc"),
        (doc("bad name!", allow(["*"], ["*"])), "bad name!"),
        (doc("", allow(["*"], ["*"])), "policy name"),
    ],
)
def test_invalid_documents_are_refused(document: PolicyDocument, names: str) -> None:
    with pytest.raises(InvalidInput, match=None) as info:
        document.validate()
    assert names in str(info.value)


# -- the authorizer's cache of decisions ---------------------------------------------------------------


@pytest.fixture
async def authorizer(tmp_path: Path) -> AsyncIterator[Authorizer]:
    store = SqliteStore(str(tmp_path / "authz.db"))
    await store.open()
    yield Authorizer(store)
    await store.close()


async def bind(authorizer: Authorizer, principal: str, *documents: PolicyDocument) -> None:
    for document in documents:
        await authorizer.put_policy("default", document)
    await authorizer.bind("default", Binding(principal, (), tuple(d.name for d in documents)))


@pytest.mark.anyio
async def test_reused_decisions_equal_fresh_evaluations(authorizer: Authorizer) -> None:
    documents = [
        doc("signers", allow(["key:Sign", "key:Verify"], ["key:payments-*"]), allow(["wallet:*"], ["wallet:t*"])),
        doc("fences", deny(["key:Sign"], ["key:payments-us"], sid="no-us"), deny(["wallet:Export"], ["*"])),
    ]
    await bind(authorizer, "alice", *documents)
    rnd = random.Random(7)
    resources = ["key:payments-eu", "key:payments-us", "key:reports", "wallet:treasury", "wallet:ops", "key:*"]
    for _ in range(400):  # each (action, resource) several times: the later ones come from the cache
        request = req(rnd.choice(ACTIONS), rnd.choice(resources), roles=rnd.choice([(), ("auditor",)]))
        documents_now = [*(BUILTIN_ROLES[r] for r in request.roles), *documents]
        assert await authorizer.decide(request) == evaluate(documents_now, request), request


@pytest.mark.anyio
async def test_a_policy_change_drops_the_reused_decisions(authorizer: Authorizer) -> None:
    await bind(authorizer, "bob", doc("bob-signs", allow(["key:Sign"], ["key:*"])))
    assert (await authorizer.decide(req(principal="bob"))).allowed
    assert (await authorizer.decide(req(principal="bob"))).allowed  # reused
    await authorizer.put_policy("default", doc("bob-signs", deny(["key:Sign"], ["key:*"])))
    assert not (await authorizer.decide(req(principal="bob"))).allowed
    await authorizer.bind("default", Binding("bob", ("crypto-user",), ()))
    assert (await authorizer.decide(req(principal="bob", roles=()))).allowed


@pytest.mark.anyio
async def test_decisions_that_read_the_source_or_the_hour_are_made_every_time(authorizer: Authorizer) -> None:
    office = Conditions(source_cidrs=["10.0.0.0/8"])
    daytime = Conditions(hours_utc=(8, 18))
    await bind(authorizer, "carol", doc("carol-office", allow(["key:Sign"], ["key:*"], office)))
    await bind(authorizer, "dave", doc("dave-daytime", allow(["key:Sign"], ["key:*"], daytime)))
    for _ in range(2):
        assert (await authorizer.decide(req(principal="carol", source="10.1.2.3"))).allowed
        assert not (await authorizer.decide(req(principal="carol", source="192.168.1.1"))).allowed
        assert (await authorizer.decide(req(principal="dave", now=at_hour(9)))).allowed
        assert not (await authorizer.decide(req(principal="dave", now=at_hour(20)))).allowed


@pytest.mark.anyio
async def test_key_attributes_are_read_for_every_decision_that_needs_them(authorizer: Authorizer) -> None:
    prod_only = Conditions(key_labels={"env": "prod"})
    await bind(authorizer, "erin", doc("erin-prod", allow(["key:Sign"], ["key:*"], prod_only)))
    labels = {"env": "prod"}

    async def attributes() -> tuple[str | None, dict[str, str] | None]:
        return "ed25519", dict(labels)

    assert (await authorizer.decide(req(principal="erin"), attributes)).allowed
    labels["env"] = "dev"  # relabelled: the next decision reads the new labels
    assert not (await authorizer.decide(req(principal="erin"), attributes)).allowed


# -- over HTTP ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with harness(tmp_path_factory.mktemp("policies")) as h:
        h.create_key("payments-eu", "ed25519", labels={"env": "prod"})
        h.create_key("payments-us", "ed25519", labels={"env": "dev"})
        h.create_key("reports", "ed25519", labels={"env": "prod"})
        h.create_key("payments-p256", "ecdsa-p256", labels={"env": "prod"})
        yield h


def sign(h: Harness, token: str, key: str) -> Any:
    return h.client.post(f"/v1/keys/{key}/sign", json={"input": DATA}, headers=bearer(token))


def put(h: Harness, name: str, *statements: dict[str, Any]) -> None:
    r = h.put_policy(name, list(statements))
    assert r.status_code == 200, r.text


def bound_principal(h: Harness, principal: str, policies: list[str], roles: list[str] | None = None) -> str:
    """An API key for ``principal`` (no roles of its own) bound to ``policies``."""
    r = h.bind(principal, roles or [], policies)
    assert r.status_code == 200, r.text
    assert r.json() == {"principal": principal, "roles": roles or [], "policies": policies}
    return h.token(principal, [])


def test_no_policy_no_access(h: Harness) -> None:
    token = h.token("unbound", [])
    assert_403(sign(h, token, "payments-eu"), "key:Sign")


def test_wildcard_resource_over_http(h: Harness) -> None:
    put(h, "sign-payments", {"effect": "allow", "actions": ["key:Sign"], "resources": ["key:payments-*"]})
    token = bound_principal(h, "payer", ["sign-payments"])
    assert sign(h, token, "payments-eu").status_code == 200
    assert sign(h, token, "payments-us").status_code == 200
    assert_403(sign(h, token, "reports"), "key:Sign")
    # The grant is for Sign only.
    r = h.client.post("/v1/keys/payments-eu/verify", json={"input": DATA, "signature": "x"}, headers=bearer(token))
    assert_403(r, "key:Verify")


def test_wildcard_action_over_http(h: Harness) -> None:
    put(h, "key-readers", {"effect": "allow", "actions": ["key:Get", "key:L*"], "resources": ["key:*"]})
    token = bound_principal(h, "reader", ["key-readers"])
    assert h.client.get("/v1/keys/reports", headers=bearer(token)).status_code == 200
    assert h.client.get("/v1/keys", headers=bearer(token)).status_code == 200
    assert_403(sign(h, token, "reports"), "key:Sign")


def test_explicit_deny_beats_a_role_over_http(h: Harness) -> None:
    put(h, "no-us", {"effect": "deny", "actions": ["key:*"], "resources": ["key:payments-us"], "sid": "us-off"})
    assert h.bind("cu-with-deny", [], ["no-us"]).status_code == 200
    token = h.token("cu-with-deny", ["crypto-user"])
    assert sign(h, token, "payments-eu").status_code == 200
    body = assert_403(sign(h, token, "payments-us"), "key:Sign")
    assert "no-us" in body["detail"]
    # The same deny through a bound role instead of the key's roles.
    token2 = bound_principal(h, "bound-cu-with-deny", ["no-us"], roles=["crypto-user"])
    assert sign(h, token2, "payments-eu").status_code == 200
    assert_403(sign(h, token2, "payments-us"), "key:Sign")


def test_key_labels_condition_over_http(h: Harness) -> None:
    labelled = {"key_labels": {"env": "prod"}}
    put(h, "prod-signers", {"effect": "allow", "actions": ["key:Sign"], "resources": ["key:*"], "conditions": labelled})
    token = bound_principal(h, "prod-signer", ["prod-signers"])
    assert sign(h, token, "payments-eu").status_code == 200
    assert sign(h, token, "reports").status_code == 200
    assert_403(sign(h, token, "payments-us"), "key:Sign")
    # Relabeling the key changes the answer.
    r = h.client.patch("/v1/keys/payments-us", json={"labels": {"env": "prod"}}, headers=h.admin)
    assert r.status_code == 200, r.text
    try:
        deadline = time.monotonic() + 5
        while sign(h, token, "payments-us").status_code != 200:  # key metadata is cached for metadata_ttl
            assert time.monotonic() < deadline, "the new label never took effect"
            time.sleep(0.1)
    finally:
        h.client.patch("/v1/keys/payments-us", json={"labels": {"env": "dev"}}, headers=h.admin)


def test_key_types_condition_over_http(h: Harness) -> None:
    put(
        h, "ed-only",
        {"effect": "allow", "actions": ["key:Sign"], "resources": ["key:*"], "conditions": {"key_types": ["ed25519"]}},
    )  # fmt: skip
    token = bound_principal(h, "ed-signer", ["ed-only"])
    assert sign(h, token, "payments-eu").status_code == 200
    assert_403(sign(h, token, "payments-p256"), "key:Sign")


def test_tenants_condition_over_http(h: Harness) -> None:
    put(h, "in-default", {"effect": "allow", "actions": ["key:Sign"], "resources": ["*"],
                          "conditions": {"tenants": ["default"]}})  # fmt: skip
    put(h, "in-acme", {"effect": "allow", "actions": ["key:Sign"], "resources": ["*"],
                       "conditions": {"tenants": ["acme"]}})  # fmt: skip
    assert sign(h, bound_principal(h, "default-signer", ["in-default"]), "reports").status_code == 200
    assert_403(sign(h, bound_principal(h, "acme-signer", ["in-acme"]), "reports"), "key:Sign")


def test_hours_condition_over_http(h: Harness) -> None:
    hour = time.gmtime().tm_hour
    now_window = [(hour - 1) % 24, (hour + 2) % 24]  # holds for the next hour at least
    other_window = [(hour + 3) % 24, (hour + 5) % 24]
    put(h, "now-hours", {"effect": "allow", "actions": ["key:Sign"], "resources": ["*"],
                         "conditions": {"hours_utc": now_window}})  # fmt: skip
    put(h, "other-hours", {"effect": "allow", "actions": ["key:Sign"], "resources": ["*"],
                           "conditions": {"hours_utc": other_window}})  # fmt: skip
    assert sign(h, bound_principal(h, "day-shift", ["now-hours"]), "reports").status_code == 200
    assert_403(sign(h, bound_principal(h, "night-shift", ["other-hours"]), "reports"), "key:Sign")


def test_source_cidrs_condition_over_http(h: Harness) -> None:
    put(h, "office", {"effect": "allow", "actions": ["key:Sign"], "resources": ["*"],
                      "conditions": {"source_cidrs": ["10.20.0.0/16", "2001:db8::/32"]}})  # fmt: skip
    token = bound_principal(h, "office-worker", ["office"])

    def from_(address: str) -> Any:
        return h.asgi("POST", "/v1/keys/reports/sign", source=(address, 5000), headers=bearer(token),
                      json_body={"input": DATA})  # fmt: skip

    assert from_("10.20.30.40").status_code == 200
    assert from_("2001:db8::7").status_code == 200
    assert_403(from_("10.21.0.1"), "key:Sign")
    assert_403(from_("127.0.0.1"), "key:Sign")
    # The in-process test client's address is not an IP address: the condition fails closed.
    assert_403(sign(h, token, "reports"), "key:Sign")


def test_source_deny_over_http(h: Harness) -> None:
    put(h, "block-net", {"effect": "deny", "actions": ["*"], "resources": ["*"],
                         "conditions": {"source_cidrs": ["198.51.100.0/24"]}})  # fmt: skip
    token = bound_principal(h, "blocked-somewhere", ["block-net"], roles=["crypto-user"])

    def from_(address: str) -> Any:
        return h.asgi("POST", "/v1/keys/reports/sign", source=(address, 5000), headers=bearer(token),
                      json_body={"input": DATA})  # fmt: skip

    assert_403(from_("198.51.100.20"), "key:Sign")
    assert from_("203.0.113.20").status_code == 200


def test_simulate_names_the_deciding_statement(h: Harness) -> None:
    put(
        h, "sim",
        {"effect": "allow", "actions": ["key:Sign"], "resources": ["key:payments-*"], "sid": "pay"},
        {"effect": "deny", "actions": ["key:Sign"], "resources": ["key:payments-us"], "sid": "not-us"},
    )  # fmt: skip
    assert h.bind("simulated", [], ["sim"]).status_code == 200

    def simulate(**body: Any) -> dict[str, Any]:
        r = h.client.post("/v1/authz/simulate", json={"principal": "simulated", **body}, headers=h.admin)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    out = simulate(action="key:Sign", resource="key:payments-eu")
    assert out["allowed"] is True
    assert (out["policy"], out["statement"], out["sid"]) == ("sim", 0, "pay")
    out = simulate(action="key:Sign", resource="key:payments-us")
    assert out["allowed"] is False
    assert (out["policy"], out["statement"], out["sid"]) == ("sim", 1, "not-us")
    out = simulate(action="key:Decrypt", resource="key:payments-eu")
    assert out["allowed"] is False and "statement" not in out and "default deny" in out["reason"]
    # Roles given to the simulation count, and the bound deny still wins.
    out = simulate(action="key:Sign", resource="key:payments-us", roles=["admin"])
    assert out["allowed"] is False and out["sid"] == "not-us"
    out = simulate(action="key:Decrypt", resource="key:payments-eu", roles=["crypto-user"])
    assert out["allowed"] is True and out["policy"] == "crypto-user"
    # Conditions are evaluated with the attributes given.
    put(h, "sim-cond", {"effect": "allow", "actions": ["key:Sign"], "resources": ["*"],
                        "conditions": {"source_cidrs": ["10.0.0.0/8"], "key_labels": {"env": "prod"}}})  # fmt: skip
    assert h.bind("simulated-2", [], ["sim-cond"]).status_code == 200
    base = {"principal": "simulated-2", "action": "key:Sign", "resource": "key:x"}
    for extra, allowed in [
        ({"source": "10.1.1.1", "key_labels": {"env": "prod"}}, True),
        ({"source": "11.1.1.1", "key_labels": {"env": "prod"}}, False),
        ({"source": "10.1.1.1", "key_labels": {"env": "dev"}}, False),
        ({"source": "10.1.1.1"}, False),
    ]:
        r = h.client.post("/v1/authz/simulate", json={**base, **extra}, headers=h.admin)
        assert r.status_code == 200 and r.json()["allowed"] is allowed, (extra, r.text)


def test_policies_are_listed_read_and_deleted(h: Harness) -> None:
    put(h, "temporary", {"effect": "allow", "actions": ["misc:Random"], "resources": ["*"]})
    names = [p["name"] for p in h.client.get("/v1/authz/policies", headers=h.admin).json()]
    assert "temporary" in names and set(BUILTIN_ROLES) <= set(names)
    got = h.client.get("/v1/authz/policies/temporary", headers=h.admin)
    assert got.status_code == 200
    assert got.json()["statements"] == [{"effect": "allow", "actions": ["misc:Random"], "resources": ["*"]}]
    token = bound_principal(h, "temp-user", ["temporary"])
    assert h.client.post("/v1/random", json={"bytes": 8}, headers=bearer(token)).status_code == 200
    assert h.client.delete("/v1/authz/policies/temporary", headers=h.admin).status_code == 204
    assert h.client.get("/v1/authz/policies/temporary", headers=h.admin).status_code == 404
    # A detached policy grants nothing any more.
    assert_403(h.client.post("/v1/random", json={"bytes": 8}, headers=bearer(token)), "misc:Random")
    # Built-in roles are not replaced or deleted.
    assert_problem(h.client.delete("/v1/authz/policies/admin", headers=h.admin), 400)
    assert_problem(h.put_policy("admin", [{"effect": "deny", "actions": ["*"], "resources": ["*"]}]), 400)


INVALID = [
    ({"name": "bad", "statements": [{"effect": "allow", "actions": ["key:Fly"], "resources": ["*"]}]}, "key:Fly", None),
    ({"name": "bad", "statements": []}, "statement", None),
    ({"name": "bad", "statements": [{"effect": "allow", "actions": ["*"], "resources": []}]}, "resources", None),
    ({"name": "bad", "statements": [{"effect": "allow", "actions": ["*"], "resources": ["*"],
                                     "conditions": {"source_cidrs": ["10.0.0.0/40"]}}]}, "10.0.0.0/40", None),
    ({"name": "bad", "statements": [{"effect": "allow", "actions": ["*"], "resources": ["*"],
                                     "conditions": {"hours_utc": [9, 30]}}]}, "hours_utc", None),
    ({"name": "bad", "statements": [{"effect": "allow", "actions": ["*"], "resources": ["*"], "colour": "red"}]},
     "colour", "statements[0].colour"),
    ({"name": "bad", "statements": [{"effect": "allow", "actions": ["*"], "resources": ["*"],
                                     "conditions": {"weekday": "monday"}}]},
     "weekday", "statements[0].conditions.weekday"),
    ({"name": "bad", "statements": [{"effect": "permit", "actions": ["*"], "resources": ["*"]}]}, "effect", None),
    ({"name": "bad", "statements": [{"effect": "allow", "resources": ["*"]}]}, "actions", None),
    ({"name": "bad", "statements": [], "owner": "me"}, "owner", "owner"),
    ({"name": "other", "statements": [{"effect": "allow", "actions": ["*"], "resources": ["*"]}]}, "other", None),
]  # fmt: skip


@pytest.mark.parametrize(("document", "named", "field"), INVALID, ids=[str(i) for i in range(len(INVALID))])
def test_invalid_documents_over_http(h: Harness, document: dict[str, Any], named: str, field: str | None) -> None:
    r = h.client.put("/v1/authz/policies/bad", json=document, headers=h.admin)
    body = assert_problem(r, 400)
    assert named in body["detail"] or named in body.get("field", ""), body
    if field is not None:
        assert body.get("field") == field, body
    assert h.client.get("/v1/authz/policies/bad", headers=h.admin).status_code == 404


def test_invalid_bindings_over_http(h: Harness) -> None:
    body = assert_problem(h.bind("x", ["superuser"], []), 400)
    assert "superuser" in body["detail"]
    assert_problem(h.bind("x", [], ["no-such-policy"]), 404)
    assert_problem(
        h.client.put("/v1/authz/principals/x", json={"roles": [], "groups": []}, headers=h.admin), 400, field="groups"
    )


def test_binding_read_back(h: Harness) -> None:
    put(h, "rb", {"effect": "allow", "actions": ["misc:*"], "resources": ["*"]})
    assert h.bind("read-back", ["auditor"], ["rb"]).status_code == 200
    r = h.client.get("/v1/authz/principals/read-back", headers=h.admin)
    assert r.json() == {"principal": "read-back", "roles": ["auditor"], "policies": ["rb"]}
    r = h.client.get("/v1/authz/principals/never-bound", headers=h.admin)
    assert r.json() == {"principal": "never-bound", "roles": [], "policies": []}


def test_binding_a_builtin_role_as_a_policy_is_refused_or_honoured(h: Harness) -> None:
    r = h.bind("role-as-policy", [], ["crypto-user"])
    if r.status_code == 400:
        return  # refused: fine
    assert r.status_code == 200
    token = h.token("role-as-policy", [])
    assert sign(h, token, "reports").status_code == 200


def test_policy_changes_reach_another_node_within_the_cache_time(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two apps on one store: a binding or policy changed on node 1 applies on node 2 within POLICY_CACHE_SECONDS."""
    import skms.authz.authorizer as authorizer_module

    cache = 0.5
    monkeypatch.setattr(authorizer_module, "POLICY_CACHE_SECONDS", cache)
    token = h.token("cross-node", [])
    node2 = create_app(settings_for(h.directory))
    with TestClient(node2) as other:
        assert other.post("/v1/sys/unseal", json={"passphrase": PASSPHRASE}).status_code == 200

        def signs_on_node2() -> int:
            return other.post("/v1/keys/reports/sign", json={"input": DATA}, headers=bearer(token)).status_code

        def settles(expected: int) -> None:
            changed = time.monotonic()
            while (code := signs_on_node2()) != expected:
                assert time.monotonic() - changed < cache + 1.0, f"node 2 still answers {code}"
                time.sleep(0.05)

        assert signs_on_node2() == 403  # "no binding" is cached on node 2 now
        put(h, "cross-allow", {"effect": "allow", "actions": ["key:Sign"], "resources": ["*"]})
        assert h.bind("cross-node", [], ["cross-allow"]).status_code == 200
        settles(200)
        put(h, "cross-allow", {"effect": "deny", "actions": ["key:Sign"], "resources": ["*"]})
        settles(403)


# -- wallets are wallet: resources ----------------------------------------------------------------------

WALLET_AS_KEY_BUG = (
    "the /v1/keys/{name} lifecycle routes accept a wallet's name and check key:<Verb> on key:<wallet>: "
    "a key-admin with no wallet rights suspends, relabels or schedules the destruction of a wallet, and a "
    "deny on wallet:<name> does not protect it"
)


@pytest.fixture(scope="module")
def treasury(h: Harness) -> str:
    r = h.client.post("/v1/wallets", json={"name": "treasury", "words": 12}, headers=h.admin)
    assert r.status_code == 201, r.text
    return "treasury"


def _wallet_changes(h: Harness, token: str, name: str) -> list[tuple[str, int]]:
    calls = [
        ("POST", f"/v1/keys/{name}/state", {"state": "suspended"}),
        ("PATCH", f"/v1/keys/{name}", {"labels": {"owned": "by-key-admin"}}),
        ("DELETE", f"/v1/keys/{name}", None),
    ]
    out = []
    for method, url, body in calls:
        out.append((f"{method} {url}", h.client.request(method, url, json=body, headers=bearer(token)).status_code))
    # Undo whatever went through, so that the next test starts from an active, unlabelled wallet.
    h.client.post(f"/v1/keys/{name}/cancel-deletion", headers=h.admin)
    h.client.post(f"/v1/keys/{name}/state", json={"state": "active"}, headers=h.admin)
    h.client.patch(f"/v1/keys/{name}", json={"labels": {}}, headers=h.admin)
    return out


def test_key_admin_cannot_change_a_wallet_through_the_key_routes(h: Harness, treasury: str) -> None:
    token = h.token("ka-not-wallets", ["key-admin"])
    changed = [(call, code) for call, code in _wallet_changes(h, token, treasury) if 200 <= code < 300]
    assert not changed, f"key-admin changed the wallet: {changed}"


def test_a_deny_on_the_wallet_protects_it_from_the_key_routes(h: Harness, treasury: str) -> None:
    put(h, "hands-off-treasury", {"effect": "deny", "actions": ["*"], "resources": [f"wallet:{treasury}"]})
    assert h.bind("ops-with-deny", [], ["hands-off-treasury"]).status_code == 200
    token = h.token("ops-with-deny", ["key-admin", "wallet-operator"])
    assert_403(h.client.get(f"/v1/wallets/{treasury}/xpub", headers=bearer(token)), "wallet:Derive")
    changed = [(call, code) for call, code in _wallet_changes(h, token, treasury) if 200 <= code < 300]
    assert not changed, f"the denied principal changed the wallet: {changed}"
