"""Hypothesis-generated bodies against a real server: no answer is a 5xx (issue 13, "Also").

Every route that takes a body (POST, PUT, PATCH; ``POST /v1/sys/seal`` aside, which would seal
the server) and every POST route without one gets bodies from ``fuzz_support``: shaped by the
route's own struct (mostly decodable, so that the key service, wallet, policy and backup code
behind the decoder runs), junk, deeply nested and mutated JSON, under key and wallet names that
exist as well as odd ones. Every answer is below 500, and every 4xx is a problem+json document.
The server runs on SQLite and on PostgreSQL; its logs are checked at the end as for every test
server (JSON lines with request ids, no secrets).

Not repeated here: the fixed bad-input cases and body limits (``test_api_bad_input.py``) and the
OpenAPI contract (``test_api_schemathesis.py``).
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fuzz_support import bodies, decodable_bodies
from server_process import Route, ServerProcess, app_routes, assert_problem, concrete_path, server_fixture

server = server_fixture()

#: Routes with a body, and POST routes without one (they must ignore whatever they are sent).
ROUTES: list[Route] = [
    r for r in app_routes() if str(r) != "POST /v1/sys/seal" and (r.body is not None or r.method == "POST")
]
KEYS = {"fz-aes": "aes256-gcm", "fz-ed": "ed25519", "fz-p256": "ecdsa-p256", "fz-hmac": "hmac-sha256",
        "fz-kem": "ml-kem-768"}  # fmt: skip
WALLET = "fz-wallet"
ODD_NAMES = ["no-such-key", "x" * 200, "ünï", "a b", "..", "%2e%2e", "*", "fz-aes\n"]
#: Examples per server (each one request): about 3 s per backend.
EXAMPLES = 250


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> httpx.Client:
    client = server.client()
    for name, kind in KEYS.items():
        assert client.post("/v1/keys", json={"name": name, "type": kind}).status_code == 201
    r = client.post("/v1/wallets", json={"name": WALLET, "words": 12})
    assert r.status_code == 201, r.text
    server.secret(r.json()["mnemonic"])
    return client


def _names(route: Route) -> st.SearchStrategy[str]:
    mine = [WALLET, WALLET, WALLET, "fz-aes"] if route.path.startswith("/v1/wallets/") else [*KEYS, *KEYS]
    return st.one_of(st.sampled_from(mine), st.sampled_from(ODD_NAMES), st.text(min_size=1, max_size=20))


@st.composite
def requests(draw: st.DrawFn) -> tuple[Route, str, bytes]:
    route = draw(st.sampled_from(ROUTES))
    name = draw(_names(route))
    if route.body is not None:
        body = draw(decodable_bodies(route.body) if draw(st.integers(0, 2)) else bodies(route.body))
    else:
        body = draw(st.sampled_from([b"", b"{}", b'{"zz": 1}', b"[" * 5000 + b"]" * 5000, b"\xff"]))
    if route.path.startswith("/v1/authz/policies/") and draw(st.booleans()):
        # A policy document is stored only under its own name: use it, so that validation is reached.
        with contextlib.suppress(ValueError, KeyError, TypeError, RecursionError):
            name = json.loads(body)["name"]
    path = concrete_path(route.path, quote(str(name), safe=""))
    return route, path, body


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.large_base_example],
)
@given(request=requests())
def test_generated_bodies_never_get_a_5xx(
    server: ServerProcess, api: httpx.Client, request: tuple[Route, str, bytes]
) -> None:
    route, path, body = request
    r = api.request(route.method, path, content=body, headers={"content-type": "application/json"})
    event(f"{r.status_code // 100}xx")  # pytest --hypothesis-show-statistics: how many got through
    assert r.status_code < 500, f"{route} {path} body={body[:200]!r}: {r.status_code} {r.text[:300]}"
    if r.status_code >= 400 and route.path != "/v1/auth/token":  # OAuth errors have their own form
        assert_problem(r)
    if r.status_code < 300 and "mnemonic" in r.text:
        _register_secrets(server, r.json())


def _b64url_json(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


#: Opaque cursors and paths that come back in query strings.
cursors = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda t, c, q: _b64url_json([t, c, q]),
        st.one_of(st.floats(0, 4e9), st.integers()),
        st.one_of(st.text(max_size=20), st.just("a\x00b")),
        st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([2**63, 2**64 - 1, -1])),
    ),
    st.text(max_size=40).map(lambda t: "c1." + base64.urlsafe_b64encode(t.encode()).decode().rstrip("=")),
    st.sampled_from(["c1.AA", "c1.//8", "c1." + "A" * 5000]),
)
QUERIES = [
    ("/v1/audit", "cursor", cursors),
    ("/v1/keys", "cursor", cursors),
    ("/v1/keys", "label", st.text(max_size=30)),
    ("/v1/audit", "since", st.one_of(st.text(max_size=10), st.sampled_from(["1e999", "nan", "-inf", "1" * 400]))),
    (
        f"/v1/wallets/{WALLET}/xpub",
        "path",
        st.one_of(st.text(max_size=40), st.sampled_from(["m/2147483648", "m/" + "0/" * 300 + "0"])),
    ),
]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.sampled_from(QUERIES).flatmap(lambda q: st.tuples(st.just(q[0]), st.just(q[1]), q[2])))
def test_generated_query_strings_never_get_a_5xx(api: httpx.Client, query: tuple[str, str, str]) -> None:
    """Cursors, label filters, times and derivation paths read from query strings."""
    path, parameter, value = query
    r = api.get(path, params={parameter: value})
    event(f"{r.status_code // 100}xx")
    assert r.status_code < 500, f"GET {path}?{parameter}={value[:100]!r}: {r.status_code} {r.text[:300]}"
    if r.status_code >= 400:
        assert_problem(r)


# -- the defects these properties found, each pinned with the request that showed it ------------


@pytest.mark.parametrize(
    "cursor",
    [
        _b64url_json([1.0, "host-1-0011aabb", 2**64 - 1]),  # was a 500: OverflowError in the SQLite driver
        _b64url_json([1.0, "host-1-0011aabb", 2**63]),  # and out of bigint range on PostgreSQL
        _b64url_json([1.0, "host-1-0011aabb", -1]),
        _b64url_json([1.0, "a\x00b", 1]),
    ],
)
def test_audit_cursors_a_database_cannot_hold_are_a_400(api: httpx.Client, cursor: str) -> None:
    assert_problem(api.get("/v1/audit", params={"cursor": cursor}), 400)


@pytest.mark.parametrize("version", ["²", "١", "𝟙", "9" * 5000])
def test_envelope_versions_in_other_digits_are_a_400(api: httpx.Client, version: str) -> None:
    # "²" was a 500 (int() refused what isdigit() accepted); "١" was read as version 1.
    for route, body in (("decrypt", {"ciphertext": f"skms:v{version}:AAAA"}),
                        ("verify", {"input": "AA==", "signature": f"skms:v{version}:AAAA"})):  # fmt: skip
        key = "fz-aes" if route == "decrypt" else "fz-ed"
        assert_problem(api.post(f"/v1/keys/{key}/{route}", json=body), 400)


@pytest.mark.parametrize("name", ["fz-newline\n", "fz-newline\n\n"])
def test_key_names_ending_in_a_newline_are_refused(api: httpx.Client, name: str) -> None:
    # "$" in the name pattern matched before a trailing newline: these names were created.
    assert_problem(api.post("/v1/keys", json={"name": name, "type": "aes256-gcm"}), 400, field="name")
    assert_problem(api.post("/v1/keys", json={"name": "fz-l", "type": "aes256-gcm", "labels": {"env\n": "x"}}), 400)


@pytest.mark.parametrize("chain_id", [-1, -18, 0])
def test_negative_chain_ids_are_refused(api: httpx.Client, chain_id: int) -> None:
    # -18 gave v = 0 or 1 (read back as a signature without a chain), -1 an odd "v must be …" refusal.
    body = {"scheme": "ethereum-digest", "path": "m/44'/60'/0'/0/0", "digest": base64.b64encode(bytes(32)).decode(),
            "chain_id": chain_id}  # fmt: skip
    problem = assert_problem(api.post(f"/v1/wallets/{WALLET}/sign", json=body), 400)
    assert "chain_id" in problem["detail"]


def _register_secrets(server: ServerProcess, answer: Any) -> None:
    """A wallet the fuzzer created shows its phrase once: it must not reach the server's log either."""
    if isinstance(answer, dict) and isinstance(answer.get("mnemonic"), str):
        server.secret(answer["mnemonic"])


def test_the_generator_reaches_every_route() -> None:
    """Every route with a body is in the list (a new route is fuzzed at once)."""
    with_body = {str(r) for r in app_routes() if r.body is not None} - {"POST /v1/sys/seal"}
    assert with_body <= {str(r) for r in ROUTES}
