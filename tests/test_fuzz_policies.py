"""Property tests of the policy parsers (issue 13, "Also").

* Authorization policy documents (:class:`skms.authz.PolicyDocument`, IAM-style, with conditions:
  CIDRs, hours, labels, types, tenants, wildcard patterns), decoded from JSON as
  ``PUT /v1/authz/policies/{name}`` does: any JSON gives a msgspec validation error or a document;
  ``validate()`` raises only :class:`InvalidInput`; a valid document round-trips through its stored
  form; and evaluating it against any request never raises and takes bounded time.
* Key policies (:meth:`KeyPolicy.from_dict`), key names (:func:`check_name`) and labels
  (:func:`check_labels`): any value raises only :class:`InvalidInput` (or its :class:`InvalidType`),
  and what they accept is exactly what their documented patterns allow.
"""

from __future__ import annotations

import re
import time
from typing import Any

import msgspec
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from skms.authz.policy import ALL_ACTIONS, AccessRequest, Decision, PolicyDocument, evaluate
from skms.errors import InvalidInput
from skms.keys.model import MAX_DELETION_WINDOW, KeyPolicy, check_labels, check_name

PROPERTY = settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])

NASTY = ["", "\x00", "\n", " ", "*", "?", "[", "[!", "]", "[a-", "\\", "**", "*?*", "²", "١", "é", "\U0001f600"]
nasty_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(NASTY),
    st.lists(st.sampled_from([*NASTY, "key", ":", "Sign", "a"]), max_size=8).map("".join),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    nasty_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=16,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The strategy, or any other JSON value (a wrong type)."""
    return st.one_of(strategy, strategy, strategy, json_values)


actions = st.one_of(
    st.sampled_from(sorted(ALL_ACTIONS)), st.sampled_from(["*", "key:*", "*:Sign", "k?y:S*"]), nasty_text
)
resources = st.one_of(st.sampled_from(["*", "key:*", "key:payments-eu", "wallet:treasury", "key:pay*"]), nasty_text)
cidrs = st.one_of(
    st.sampled_from(
        [
            "10.0.0.0/8",
            "127.0.0.1",
            "0.0.0.0/0",
            "::/0",
            "fe80::1%eth0/64",
            "1.2.3.4/33",
            "::/129",
            "10.0.0.1/8",
            "١٢٧.0.0.1/8",
            "256.0.0.0/8",
            "1.2.3.4/-1",
            "1.2.3.4/" + "9" * 5000,
            "::ffff:1.2.3.4/120",
            "",
        ]
    ),
    nasty_text,
)
hours = st.one_of(
    st.tuples(st.integers(0, 24), st.integers(0, 24)),
    st.tuples(st.integers(), st.integers()),
    st.lists(st.integers(-2, 30), max_size=3),
)
conditions = st.fixed_dictionaries(
    {},
    optional={
        "key_labels": maybe(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3)),
        "key_types": maybe(st.lists(st.sampled_from(["aes256-gcm", "ed25519", "", "*"]), max_size=3)),
        "source_cidrs": maybe(st.lists(cidrs, max_size=3)),
        "hours_utc": maybe(hours),
        "tenants": maybe(st.lists(st.sampled_from(["default", "a", "", "*"]), max_size=3)),
        "zz_unknown": json_values,
    },
)
statements = st.fixed_dictionaries(
    {
        "effect": maybe(st.sampled_from(["allow", "deny", "Allow", ""])),
        "actions": maybe(st.lists(actions, max_size=4)),
        "resources": maybe(st.lists(resources, max_size=4)),
    },
    optional={"conditions": maybe(conditions), "sid": maybe(nasty_text)},
)
documents = st.fixed_dictionaries(
    {
        "name": maybe(st.one_of(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,20}\Z"), nasty_text)),
        "statements": maybe(st.lists(statements, max_size=4)),
    },
    optional={"description": maybe(st.text(max_size=30))},
)

#: Documents of the right shape, so that validation and evaluation are reached.
good_statements = st.fixed_dictionaries(
    {
        "effect": st.sampled_from(["allow", "deny"]),
        "actions": st.lists(
            st.one_of(st.sampled_from(sorted(ALL_ACTIONS)), st.sampled_from(["*", "key:*"])), min_size=1, max_size=3
        ),
        "resources": st.lists(resources, min_size=1, max_size=3),
    },
    optional={
        "conditions": st.fixed_dictionaries(
            {},
            optional={
                "key_labels": st.dictionaries(st.sampled_from(["env", "team"]), st.sampled_from(["a", "b"])),
                "key_types": st.lists(st.sampled_from(["aes256-gcm", "ed25519"]), max_size=2),
                "source_cidrs": st.lists(cidrs, max_size=2),
                "hours_utc": hours,
                "tenants": st.lists(st.sampled_from(["default", "a"]), max_size=2),
            },
        ),
        "sid": nasty_text,
    },
)
good_documents = st.fixed_dictionaries(
    {
        "name": st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,20}\Z"),
        "statements": st.lists(good_statements, min_size=1, max_size=3),
    }
)


def decode_policy(raw: bytes) -> PolicyDocument | None:
    """What the route does: msgspec decoding (a 400 naming the field on error), then validate()."""
    try:
        document = msgspec.json.decode(raw, type=PolicyDocument)
    except msgspec.DecodeError:  # ValidationError is a DecodeError
        return None
    try:
        return document.validate()
    except InvalidInput as e:
        assert str(e)
        return None


requests = st.builds(
    AccessRequest,
    principal=nasty_text,
    roles=st.tuples(),
    tenant=st.sampled_from(["default", "a", ""]),
    action=actions,
    resource=resources,
    source=st.one_of(st.none(), cidrs, st.sampled_from(["10.1.2.3", "::1", "fe80::1%eth0", "127.0.0.1"])),
    now=st.floats(0, 4e9),
    key_type=st.one_of(st.none(), st.sampled_from(["aes256-gcm", "ed25519"])),
    key_labels=st.one_of(st.none(), st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3)),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(document=st.one_of(good_documents, good_documents, documents, json_values), request=requests)
@example({"name": "p", "statements": [{"effect": "allow", "actions": ["*"], "resources": ["["]}]}, None)
@example({"name": "p", "statements": [{"effect": "allow", "actions": ["[!"], "resources": ["*"]}]}, None)
@example({"name": "p\n", "statements": [{"effect": "allow", "actions": ["*"], "resources": ["*"]}]}, None)
@example({"name": "p", "statements": [{"effect": "deny", "actions": ["*"], "resources": ["*"],
                                       "conditions": {"hours_utc": [0, 10**30]}}]}, None)  # fmt: skip
@example({"name": "p", "statements": [{"effect": "deny", "actions": ["*"], "resources": ["*"],
                                       "conditions": {"source_cidrs": ["fe80::1%eth0/64"]}}]}, None)  # fmt: skip
def test_policy_documents_decode_validate_and_evaluate(document: Any, request: AccessRequest | None) -> None:
    policy = decode_policy(msgspec.json.encode(document))
    if policy is None:
        return
    # The stored form (the JSON the authorizer writes) reads back as the same, still valid, document.
    stored = msgspec.json.encode(policy)
    again = msgspec.json.decode(stored, type=PolicyDocument)
    assert again == policy
    again.validate()
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", policy.name)
    if request is None:
        return
    decision = evaluate([policy], request)
    assert isinstance(decision, Decision)
    if decision.statement is not None:
        assert policy.statements[decision.statement].effect == ("allow" if decision.allowed else "deny")
    else:
        assert not decision.allowed


@PROPERTY
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
@example(b"[" * 100_000 + b"]" * 100_000)
@example(b'{"name": "p", "statements": ' + b"[" * 50_000 + b"]" * 50_000 + b"}")
@example(b'{"name": "p", "statements": [{"effect": "allow", "actions": ["*"], "resources": ["*"], '
         b'"conditions": {"hours_utc": [1e999, 1]}}]}')  # fmt: skip
def test_policy_bytes_decode_to_a_validation_error(raw: bytes) -> None:
    decode_policy(raw)


def test_patterns_are_matched_in_bounded_time() -> None:
    """Wildcards that backtrack in a naive matcher ("*a*a*a…b" against "aaaa…") take linear time."""
    pattern = "*a" * 40 + "b"
    policy = decode_policy(msgspec.json.encode({"name": "p", "statements": [
        {"effect": "allow", "actions": ["*"], "resources": [pattern, "[" * 1000, "*?" * 2000 + "b"]}]}))  # fmt: skip
    assert policy is not None
    request = AccessRequest("p", (), "default", "key:Sign", "a" * 20_000)
    started = time.perf_counter()
    for _ in range(20):
        assert not evaluate([policy], request).allowed
    assert time.perf_counter() - started < 2.0


# -- key policies, names and labels -------------------------------------------------------------

policy_values = st.one_of(
    json_scalars,
    st.sampled_from([0, 59, 60, 61, MAX_DELETION_WINDOW, MAX_DELETION_WINDOW + 1, 2**63, 2**64, -1, True, False, 1.5]),
)


@PROPERTY
@given(
    data=st.one_of(
        st.dictionaries(
            st.one_of(
                st.sampled_from(["rotation_period", "version_ttl", "exportable", "deletion_window", "allow_backup"]),
                st.text(max_size=10),
            ),
            policy_values,
            max_size=5,
        ),
        st.dictionaries(st.one_of(st.integers(), st.text(max_size=4)), policy_values, max_size=3),
        json_values,
    )
)
@example({1: 2, "a": 3})  # mixed key types: the unknown-field message sorted them (a TypeError)
@example("rotation_period")  # not a mapping: dict("…") was a ValueError
@example([["exportable", True]])
def test_key_policy_from_dict_raises_only_invalid_input(data: Any) -> None:
    try:
        policy = KeyPolicy.from_dict(data)
    except InvalidInput as e:  # InvalidType is an InvalidInput
        assert e.field is not None and e.field.startswith("policy")
        return
    for name in ("rotation_period", "version_ttl"):
        value = getattr(policy, name)
        assert value is None or (type(value) is int and value >= 60)
    assert type(policy.exportable) is bool
    assert type(policy.deletion_window) is int and 0 <= policy.deletion_window <= MAX_DELETION_WINDOW
    assert KeyPolicy.from_dict(policy.to_dict()) == policy  # the stored form reads back


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
LABEL = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
names = st.one_of(
    st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z"),
    st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z").map(lambda s: s + "\n"),
    nasty_text,
    json_scalars,
    st.text(alphabet="a", min_size=127, max_size=130),
)


@PROPERTY
@given(name=names)
@example("key\n")  # "$" matched before a trailing newline: this name was accepted
@example("a" * 128 + "\n")
@example("k\x00")
def test_check_name_accepts_exactly_the_documented_names(name: Any) -> None:
    try:
        assert check_name(name) == name
    except InvalidInput as e:
        assert e.field == "name"
        assert not (isinstance(name, str) and NAME.fullmatch(name))
        return
    assert NAME.fullmatch(name)


label_keys = st.one_of(
    st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,62}\Z"),
    st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,62}\Z").map(lambda s: s + "\n"),
    nasty_text,
)


@PROPERTY
@given(
    labels=st.one_of(
        st.dictionaries(label_keys, st.one_of(st.text(max_size=260), json_scalars), max_size=4),
        st.integers(60, 70).map(lambda n: {f"k{i}": "v" for i in range(n)}),
        json_values,
    )
)
@example({"env\n": "prod"})
@example({"env": "x" * 257})
@example({"env": "\x00"})
def test_check_labels_accepts_exactly_the_documented_labels(labels: Any) -> None:
    try:
        out = check_labels(labels)
    except InvalidInput as e:
        assert e.field == "labels"
        return
    assert labels is None or out == labels
    assert len(out) <= 64
    for k, v in out.items():
        assert LABEL.fullmatch(k), k
        assert isinstance(v, str) and len(v) <= 256
