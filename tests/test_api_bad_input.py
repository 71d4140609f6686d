"""Bad input on every route: a 4xx ``application/problem+json`` naming the field, never a 5xx.

The routes and their body types come from the application, and the cases from
the body types (``msgspec`` structs): unknown fields, wrong types, bad base64
(also inside batch items), values that are not objects, malformed JSON, huge
numbers, bodies over the configured limit (this module's servers run with
``SKMS_MAX_BODY_BYTES=4096``), odd key names and bad query parameters.

Known server bugs found here are kept as ``xfail(strict=True)`` tests with the
request that reproduces them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

from server_process import Route, ServerProcess, app_routes, assert_problem, b64, concrete_path, server_fixture

MAX_BODY = 4096
server = server_fixture(SKMS_MAX_BODY_BYTES=str(MAX_BODY))

#: POST /v1/sys/seal takes no body and would seal the server (test_api_seal.py covers it).
ROUTES = [r for r in app_routes() if str(r) != "POST /v1/sys/seal"]
BODY_ROUTES = [r for r in ROUTES if r.body is not None]
NAMED_ROUTES = [r for r in ROUTES if "{name:str}" in r.path]
QUERY_ROUTES = [r for r in ROUTES if r.int_query]
WRONG_TYPE_CANDIDATES: list[Any] = [12345, "not-valid", True, 1.5, [1], {"zz": 1}]


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> httpx.Client:
    return server.client()


def _is_struct(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, msgspec.Struct)


def _error_path(body: Any, kind: type) -> str | None:
    """Where msgspec, decoding ``body`` as ``kind``, puts the first error (``$.a.b``), or None if it decodes."""
    try:
        msgspec.json.decode(json.dumps(body), type=kind)
    except msgspec.ValidationError as e:
        text = str(e)
        return text.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in text else "$"
    return None


def _mentions_bytes(annotation: Any) -> bool:
    return "bytes" in str(annotation)


def _item_struct(annotation: Any) -> type | None:
    """The struct of ``list[Struct] | None`` annotations (batch items)."""
    for arg in getattr(annotation, "__args__", ()) or ():
        inner = getattr(arg, "__args__", ()) or ()
        if getattr(arg, "__origin__", None) is list and inner and _is_struct(inner[0]):
            return inner[0]
    return None


def body_cases(kind: Any, optional: bool = False) -> Iterator[tuple[str, Any, str | None]]:
    """(label, JSON body, expected ``field``) of bad bodies for a request struct (``optional``: None is fine)."""
    yield "unknown field", {"zz_unknown_field": 1}, "zz_unknown_field"
    for label, value in (("array", []), ("null", None), ("number", 42), ("string", "text")):
        if value is not None or not optional:
            yield f"body is {label}", value, None
    if not _is_struct(kind):
        return
    for f in msgspec.structs.fields(kind):
        for candidate in WRONG_TYPE_CANDIDATES:
            if _error_path({f.name: candidate}, kind) == f"$.{f.name}":
                yield f"wrong type for {f.name}", {f.name: candidate}, f.name
                break
        if _mentions_bytes(f.type):
            yield f"bad base64 in {f.name}", {f.name: "***not base64***"}, f.name
        if "int" in str(f.type) and _error_path({f.name: 10**40}, kind) == f"$.{f.name}":
            yield f"huge integer for {f.name}", {f.name: 10**40}, f.name
        item = _item_struct(f.type)
        if item is not None:
            yield f"{f.name} is not a list", {f.name: {"a": 1}}, f.name
            for g in msgspec.structs.fields(item):
                if _mentions_bytes(g.type):
                    yield f"bad base64 in {f.name}[0].{g.name}", {f.name: [{g.name: "%%%"}]}, f"{f.name}[0].{g.name}"
            yield f"unknown field in {f.name}[0]", {f.name: [{"zz_item": 1}]}, None
    if any(f.required for f in msgspec.structs.fields(kind)):
        yield "missing required fields", {}, None


#: Bad-input cases that currently get a 5xx: (route or "*", case label) -> the bug. The generic tests
#: leave them out; the xfail(strict=True) tests at the end reproduce them until the server is fixed.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def known_bug(route: Route, label: str) -> bool:
    return (str(route), label) in KNOWN_BUGS or ("*", label) in KNOWN_BUGS


RAW_CASES = {
    "malformed JSON": b'{"a": ',
    "not UTF-8": b'{"a": "\xff\xfe"}',
    "trailing garbage": b"{} {}",
    "deeply nested": b"[" * 3000 + b"]" * 3000,
    "NaN": b'{"a": NaN}',
    "empty body": b"",
}


@pytest.mark.parametrize("route", BODY_ROUTES, ids=str)
def test_bad_bodies(server: ServerProcess, route: Route) -> None:
    path = concrete_path(route.path)
    failures = []
    assert route.body is not None
    with server.client() as api:
        for label, body, field in body_cases(route.body, route.body_optional):
            if known_bug(route, label):
                continue
            r = api.request(route.method, path, json=body)
            try:
                problem = assert_problem(r, 400)
                if problem["title"] == "ValidationError" or field is not None:
                    assert problem.get("field"), f"no field: {problem}"
                if field is not None:
                    assert problem["field"] == field, problem
            except AssertionError as e:
                failures.append(f"{label}: {json.dumps(body)[:80]} -> {e}")
        for label, raw in RAW_CASES.items():
            if known_bug(route, label):
                continue
            r = api.request(route.method, path, content=raw, headers={"content-type": "application/json"})
            try:
                assert_problem(r)
            except AssertionError as e:
                failures.append(f"{label}: {e}")
    assert not failures, f"{route}:\n" + "\n".join(failures)


@pytest.mark.parametrize("route", BODY_ROUTES, ids=str)
def test_oversized_body_is_413(server: ServerProcess, route: Route) -> None:
    path = concrete_path(route.path)
    headers = {"content-type": "application/json"}
    padding = "A" * (MAX_BODY + 100)
    # New connections: after a refused body the server may close the connection (see the report).
    r = server.fresh_request(route.method, path, content=json.dumps({"pad": padding}), headers=headers)
    assert_problem(r, 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds for streamed bodies too
        yield b'{"pad": "'
        for _ in range(10):
            yield b"A" * 1000
        yield b'"}'

    assert_problem(server.fresh_request(route.method, path, content=chunks(), headers=headers), 413)


def test_body_under_the_limit_is_served(api: httpx.Client) -> None:
    assert api.post("/v1/keys", json={"name": "near-limit", "type": "aes256-gcm"}).status_code == 201
    plaintext = b"x" * 2800  # about 3.8 KB of JSON once in base64
    r = api.post("/v1/keys/near-limit/encrypt", json={"plaintext": b64(plaintext)})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("route", [r for r in ROUTES if r.body is None], ids=str)
def test_routes_without_a_body_ignore_junk(server: ServerProcess, api: httpx.Client, route: Route) -> None:
    r = api.request(
        route.method, concrete_path(route.path), content=b'{"zz": [1, 2', headers={"content-type": "text/x"}
    )
    assert r.status_code < 500, r.text
    if r.status_code >= 400 and route.path == "/v1/auth/token":
        assert "error" in r.json()  # OAuth 2.0 errors have their own JSON form (RFC 6749, section 5.2)
    elif r.status_code >= 400:
        assert_problem(r)


ODD_NAMES = ["x" * 300, "ünïcödé", "a b", "..", "-leading-dash", "a%00b", "'; drop table keys; --", "a:b:c"]
NUL_NAME = "a%00b"


@pytest.mark.parametrize("route", NAMED_ROUTES, ids=str)
def test_odd_key_names(server: ServerProcess, api: httpx.Client, route: Route) -> None:
    body = {} if route.body is not None else None
    for name in ODD_NAMES:
        if name == NUL_NAME and server.backend == "postgresql":
            continue  # a known bug: see test_nul_in_a_key_name_is_a_4xx
        r = api.request(route.method, concrete_path(route.path, name), json=body)
        assert r.status_code < 500, (name, r.text)
        if r.status_code >= 400:
            assert_problem(r)


def test_nul_in_a_key_name_is_a_4xx(request: pytest.FixtureRequest, server: ServerProcess, api: httpx.Client) -> None:
    # On PostgreSQL: GET /v1/keys/a%00b -> 500 InternalError (the name goes to the database, which refuses NUL in
    # text); the same on every route with a name. SQLite answers 404.
    if server.backend == "postgresql":
        pass
    failures = []
    for route in NAMED_ROUTES:
        r = api.request(route.method, concrete_path(route.path, NUL_NAME), json={} if route.body is not None else None)
        if r.status_code >= 500:
            failures.append(str(route))
    assert not failures, f"5xx on {failures}"


def test_odd_names_are_refused_at_creation(api: httpx.Client) -> None:
    for name in ["x" * 300, "ünïcödé", "a b", "-leading-dash", "", "a/b"]:
        assert_problem(api.post("/v1/keys", json={"name": name, "type": "ed25519"}), 400)
        assert_problem(api.post("/v1/wallets", json={"name": name, "words": 12}), 400)


@pytest.mark.parametrize("route", QUERY_ROUTES, ids=str)
def test_bad_integer_query_parameters(api: httpx.Client, route: Route) -> None:
    for param in route.int_query:
        for value in ("abc", "1.5", "-1", str(10**40), ""):
            r = api.request(route.method, concrete_path(route.path), params={param: value})
            assert r.status_code < 500, (param, value, r.text)
            if value in ("abc", "1.5"):
                assert_problem(r, 400, field=param)


def test_bad_list_parameters(api: httpx.Client) -> None:
    assert_problem(api.get("/v1/keys", params={"limit": 0}), 400, field="limit")
    assert_problem(api.get("/v1/keys", params={"limit": 100000}), 400, field="limit")
    assert_problem(api.get("/v1/keys", params={"label": "no-colon"}), 400)
    for cursor in ("garbage", "\u00ff" * 10, "x" * 2000):
        assert_problem(api.get("/v1/keys", params={"cursor": cursor}), 400)


def test_unknown_names_of_things(api: httpx.Client) -> None:
    """Unknown key types, algorithms, chains, schemes and states: 4xx, never 5xx."""
    assert_problem(api.post("/v1/keys", json={"name": "t1", "type": "aes-128-ecb"}), 422, title="UnknownAlgorithm")
    assert_problem(api.post("/v1/keys", json={"name": "t1", "type": "hd-wallet"}), 400)
    assert_problem(api.post("/v1/keys", json={"name": "t1", "type": "ed25519", "purpose": "encrypt"}), 400)
    assert_problem(api.post("/v1/hash", json={"algorithm": "md4", "input": "AA=="}), 422)
    assert api.post("/v1/keys", json={"name": "t1", "type": "aes256-gcm"}).status_code == 201
    assert_problem(api.post("/v1/keys/t1/state", json={"state": "destroyed"}), 400, field="state")
    assert_problem(api.post("/v1/keys", json={"name": "t2", "type": "ed25519", "state": "suspended"}), 400)
    assert api.post("/v1/wallets", json={"name": "w1", "words": 12}).status_code == 201
    assert_problem(api.post("/v1/wallets", json={"name": "w2", "words": 13}), 400, field="words")
    assert_problem(api.post("/v1/wallets", json={"name": "w2", "language": "klingon"}), 400)
    assert_problem(api.post("/v1/wallets/w1/addresses", json={"chain": "dogecoin"}), 400, field="chain")
    assert_problem(api.post("/v1/wallets/w1/addresses", json={"chain": "bitcoin", "kind": "p2wsh"}), 400, field="kind")
    assert_problem(api.post("/v1/wallets/w1/sign", json={"scheme": "rot13", "chain": "bitcoin"}), 400, field="scheme")
    assert_problem(api.post("/v1/keys/t1/datakey", json={"size": 7}), 400)
    assert_problem(api.post("/v1/random", json={"bytes": 0}), 400)
    assert_problem(api.post("/v1/random", json={"bytes": 10**6}), 400)


def test_bad_ciphertexts_and_signatures(api: httpx.Client) -> None:
    assert api.post("/v1/keys", json={"name": "bad-aes", "type": "aes256-gcm"}).status_code == 201
    assert api.post("/v1/keys", json={"name": "bad-ed", "type": "ed25519"}).status_code == 201
    for text in ("", "skms:", "skms:v:AAAA", "skms:v0:AAAA", "skms:v1:***", "skms:v99999999999:AAAA", "AAAA"):
        r = api.post("/v1/keys/bad-aes/decrypt", json={"ciphertext": text})
        assert_problem(r, (400, 404, 422))
        r = api.post("/v1/keys/bad-ed/verify", json={"input": "AA==", "signature": text})
        assert_problem(r, (400, 404, 422))
    for data in (b"", b"\x00" * 3, b"\x00" * 28, b"\x00" * 100):
        assert_problem(api.post("/v1/keys/bad-aes/decrypt", json={"ciphertext": "skms:v1:" + b64(data)}), 400)
    r = api.post("/v1/keys/bad-ed/verify", json={"input": "AA==", "signature": "skms:v1:" + b64(b"\x01" * 7)})
    assert r.status_code in (200, 400), r.text
    if r.status_code == 200:
        assert r.json() == {"valid": False}


def test_batch_limits(api: httpx.Client) -> None:
    assert api.post("/v1/keys", json={"name": "batchy", "type": "hmac-sha256"}).status_code == 201
    assert_problem(api.post("/v1/keys/batchy/hmac", json={"batch": []}), 400)
    assert_problem(api.post("/v1/keys/batchy/hmac", json={}), 400)


# -- known bugs: kept failing until the server is fixed ------------------------------------------------------


def test_missing_required_field_is_named(api: httpx.Client) -> None:
    # POST /v1/keys {"type": "ed25519"} -> 400 {"field": "data", "detail": "Object missing required field `name`"}
    assert_problem(api.post("/v1/keys", json={"type": "ed25519"}), 400, field="name")


def test_unknown_nested_field_is_named_with_its_path(api: httpx.Client) -> None:
    # POST /v1/keys {"name": "n1", "type": "ed25519", "policy": {"zz": 1}} -> 400 {"field": "zz"}
    body = {"name": "n1", "type": "ed25519", "policy": {"zz": 1}}
    assert_problem(api.post("/v1/keys", json=body), 400, field="policy.zz")


def test_empty_body_detail_says_what_is_wrong(api: httpx.Client) -> None:
    # POST /v1/keys with an empty body -> 400 {"detail": "'data'", "field": "data"}
    r = api.post("/v1/keys", content=b"", headers={"content-type": "application/json"})
    problem = assert_problem(r, 400)
    assert problem["detail"] != "'data'" and "body" in problem["detail"].lower()


@pytest.mark.parametrize(("kind", "size"), [("ecdsa-p256", 5), ("ecdsa-p256", 48), ("ecdsa-p384", 32)])
def test_prehashed_digest_of_wrong_size_is_a_4xx(api: httpx.Client, kind: str, size: int) -> None:
    # POST /v1/keys/<ecdsa-p256 key>/sign {"input": "eHh4eHg=", "prehashed": true} -> 500 InternalError (ValueError)
    name = f"pre-{kind}-{size}"
    assert api.post("/v1/keys", json={"name": name, "type": kind}).status_code == 201
    assert_problem(api.post(f"/v1/keys/{name}/sign", json={"input": b64(b"x" * size), "prehashed": True}), 400)


def test_rsa_plaintext_too_long_is_a_4xx(api: httpx.Client) -> None:
    # POST /v1/keys/<rsa-3072 key, purpose encrypt>/encrypt {"plaintext": <400 bytes>} -> 500 InternalError
    assert api.post("/v1/keys", json={"name": "rsa-long", "type": "rsa-3072", "purpose": "encrypt"}).status_code == 201
    assert_problem(api.post("/v1/keys/rsa-long/encrypt", json={"plaintext": b64(b"x" * 400)}), 400)


def test_rsa_batch_with_a_plaintext_too_long_answers_per_item(api: httpx.Client) -> None:
    # POST /v1/keys/<rsa-3072>/encrypt {"batch": [{"plaintext": "aGk="}, {"plaintext": <400 bytes>}]} -> 500
    assert api.post("/v1/keys", json={"name": "rsa-batch", "type": "rsa-3072", "purpose": "encrypt"}).status_code == 201
    batch = [{"plaintext": b64(b"hi")}, {"plaintext": b64(b"x" * 400)}]
    r = api.post("/v1/keys/rsa-batch/encrypt", json={"batch": batch})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert "ciphertext" in results[0] and results[1]["error"]["status"] == 400


def test_json_body_that_is_not_utf8_is_a_4xx(api: httpx.Client) -> None:
    # POST /v1/keys with the body b'{"a": "\\xff\\xfe"}' (Content-Type: application/json) -> 500 InternalError;
    # the server log says "unhandled error" with error UnicodeDecodeError. The same on every route with a body.
    failures = []
    for route in BODY_ROUTES:
        raw = RAW_CASES["not UTF-8"]
        r = api.request(
            route.method, concrete_path(route.path), content=raw, headers={"content-type": "application/json"}
        )
        if r.status_code >= 500:
            failures.append(str(route))
    assert not failures, f"5xx on {failures}"
