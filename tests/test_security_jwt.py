"""JWT bearer tokens from configured issuers: EdDSA, ES256 and RS256 accepted with the right
``iss``/``aud``/``exp``/``nbf``; everything else refused with 401 problem+json.

Tokens are built here with ``cryptography`` (no JWT library), against a JWKS file, and
against a JWKS served over HTTP from 127.0.0.1 that rotates.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

import skms.auth.jwt as jwt_module
from security_support import (
    Harness,
    assert_401,
    assert_403,
    b64url,
    bearer,
    free_port_url,
    harness,
    jwk,
    make_jwt,
    signing_input,
)
from skms.api.settings import IssuerSettings

ISSUER = "https://idp.example.test"
URL_ISSUER = "https://rotating-idp.example.test"
AUDIENCE = "skms-tests"

ED = ed25519.Ed25519PrivateKey.generate()
P256 = ec.generate_private_key(ec.SECP256R1())
RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_ED = ed25519.Ed25519PrivateKey.generate()  # not in any JWKS
KEYS: dict[str, tuple[str, Any]] = {"ed-1": ("EdDSA", ED), "p256-1": ("ES256", P256), "rsa-1": ("RS256", RSA)}


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "nbf": now, "exp": now + 300,
                            "roles": ["auditor"]}  # fmt: skip
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def token(kid: str = "ed-1", alg: str | None = None, key: Any = None, **extra: Any) -> str:
    key_alg, default_key = KEYS.get(kid, ("EdDSA", ED))
    header = {"alg": alg or key_alg, "typ": "JWT", "kid": kid}
    return make_jwt(header, claims(**extra), key if key is not None else default_key)


class Jwks:
    """A JWKS served over HTTP on 127.0.0.1; ``keys`` can be replaced (rotation)."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


URL_KEY_1 = ed25519.Ed25519PrivateKey.generate()
URL_KEY_2 = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def served() -> Iterator[Jwks]:
    jwks = Jwks()
    jwks.keys = [jwk(URL_KEY_1.public_key(), "url-1")]
    yield jwks
    jwks.close()


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory, served: Jwks) -> Iterator[Harness]:
    directory = tmp_path_factory.mktemp("jwt")
    jwks_file = directory / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [jwk(k.public_key(), kid) for kid, (_, k) in KEYS.items()]}))
    issuers = [
        IssuerSettings(issuer=ISSUER, audience=AUDIENCE, jwks_file=str(jwks_file), tenants=["default", "acme"]),
        IssuerSettings(issuer=URL_ISSUER, audience=AUDIENCE, jwks_url=served.url, roles_claim="scope"),
    ]
    with harness(directory, jwt_issuers=issuers) as h:
        h.create_key("jwt-signing", "ed25519")
        yield h


def get_keys(h: Harness, bearer_token: str) -> Any:
    return h.client.get("/v1/keys", headers=bearer(bearer_token))


# -- accepted -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kid", list(KEYS))
def test_accepted_algorithms(h: Harness, kid: str) -> None:
    assert get_keys(h, token(kid)).status_code == 200


def test_roles_come_from_the_roles_claim(h: Harness) -> None:
    signer = token(roles=["crypto-user"], sub="signer-svc")
    assert h.client.post("/v1/keys/jwt-signing/sign", json={"input": "AA=="}, headers=bearer(signer)).status_code == 200
    auditor = token(roles=["auditor"], sub="auditor-svc")
    body = assert_403(
        h.client.post("/v1/keys/jwt-signing/sign", json={"input": "AA=="}, headers=bearer(auditor)), "key:Sign"
    )
    assert body["detail"].startswith("auditor-svc ")  # the principal is the subject
    assert_403(get_keys(h, token(roles=[])), "key:List")
    assert_403(get_keys(h, token(roles=None)), "key:List")
    assert_403(get_keys(h, token(roles=["no-such-role"])), "key:List")
    assert get_keys(h, token(roles="auditor")).status_code == 200  # a space-separated string


def test_bindings_apply_to_jwt_subjects(h: Harness) -> None:
    assert h.bind("bound-subject", ["auditor"], []).status_code == 200
    assert get_keys(h, token(sub="bound-subject", roles=[])).status_code == 200


def test_audience_list_and_clock_skew(h: Harness) -> None:
    now = int(time.time())
    assert get_keys(h, token(aud=["other", AUDIENCE])).status_code == 200
    assert get_keys(h, token(exp=now - 30)).status_code == 200  # within the 60 s skew
    assert get_keys(h, token(nbf=now + 30)).status_code == 200
    assert get_keys(h, token(nbf=None, iat=None)).status_code == 200  # nbf is optional


# -- refused --------------------------------------------------------------------------------------------


def _none_token(signature: str = "") -> str:
    return f"{signing_input({'alg': 'none', 'typ': 'JWT', 'kid': 'ed-1'}, claims(roles=['admin']))}.{signature}"


def _hs256_with(public_bytes: bytes, kid: str) -> str:
    return make_jwt({"alg": "HS256", "typ": "JWT", "kid": kid}, claims(roles=["admin"]), public_bytes)


RSA_PEM = RSA.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
RSA_DER = RSA.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
ED_RAW = ED.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
P256_PEM = P256.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _tampered_payload() -> str:
    header, _, signature = token(roles=["auditor"]).split(".")
    forged = signing_input({"alg": "EdDSA", "typ": "JWT", "kid": "ed-1"}, claims(roles=["admin"])).split(".")[1]
    return f"{header}.{forged}.{signature}"


def _tampered_signature() -> str:
    text = token()
    head, _, sig = text.rpartition(".")
    return f"{head}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"


def _es256_der_signature() -> str:
    """ES256 with a DER signature instead of the JWS r||s form."""
    from cryptography.hazmat.primitives import hashes

    text = signing_input({"alg": "ES256", "typ": "JWT", "kid": "p256-1"}, claims())
    return f"{text}.{b64url(P256.sign(text.encode(), ec.ECDSA(hashes.SHA256())))}"


REFUSED = {
    "alg none, no signature": lambda: _none_token(),
    "alg none, with a signature": lambda: _none_token(b64url(ED.sign(b"x"))),
    "alg None spelled differently": lambda: make_jwt({"alg": "None", "kid": "ed-1"}, claims(), ED, sign_alg="EdDSA"),
    "HS256 keyed with the RSA public key PEM": lambda: _hs256_with(RSA_PEM, "rsa-1"),
    "HS256 keyed with the RSA public key DER": lambda: _hs256_with(RSA_DER, "rsa-1"),
    "HS256 keyed with the P-256 public key PEM": lambda: _hs256_with(P256_PEM, "p256-1"),
    "HS256 keyed with the Ed25519 public key": lambda: _hs256_with(ED_RAW, "ed-1"),
    "EdDSA header on a P-256 kid": lambda: make_jwt({"alg": "EdDSA", "kid": "p256-1"}, claims(), ED),
    "ES256 header on an RSA kid": lambda: make_jwt({"alg": "ES256", "kid": "rsa-1"}, claims(), P256),
    "RS256 header on an Ed25519 kid": lambda: make_jwt({"alg": "RS256", "kid": "ed-1"}, claims(), RSA),
    "PS256": lambda: make_jwt({"alg": "PS256", "kid": "rsa-1"}, claims(), RSA, sign_alg="RS256"),
    "ES256 with a DER signature": _es256_der_signature,
    "unknown kid": lambda: token("ed-unknown"),
    "no kid": lambda: make_jwt({"alg": "EdDSA", "typ": "JWT"}, claims(), ED),
    "signed by a key not in the JWKS": lambda: token("ed-1", key=OTHER_ED),
    "expired beyond the skew": lambda: token(exp=int(time.time()) - 120),
    "no exp": lambda: token(exp=None),
    "not yet valid": lambda: token(nbf=int(time.time()) + 120),
    "wrong iss": lambda: token(iss="https://evil.example.test"),
    "no iss": lambda: token(iss=None),
    "wrong aud": lambda: token(aud="someone-else"),
    "no aud": lambda: token(aud=None),
    "aud list without ours": lambda: token(aud=["a", "b"]),
    "missing sub": lambda: token(sub=None),
    "empty sub": lambda: token(sub=""),
    "non-string sub": lambda: token(sub=42),
    "tampered payload": _tampered_payload,
    "tampered signature": _tampered_signature,
    "signature stripped": lambda: token().rpartition(".")[0] + ".",
    "two parts": lambda: ".".join(token().split(".")[:2]),
    "four parts": lambda: token() + ".AAAA",
    "garbage": lambda: "garbage",
    "garbage with dots": lambda: "a.b.c",
    "header not JSON": lambda: b64url(b"{not json") + "." + token().split(".", 1)[1],
    "header a JSON list": lambda: b64url(b"[1]") + "." + token().split(".", 1)[1],
    "payload a JSON list": lambda: token().split(".")[0] + "." + b64url(b'["x"]') + ".AAAA",
    "not base64": lambda: "!!!.???.***",
    "non-utf8 payload": lambda: token().split(".")[0] + "." + b64url(b"\xff\xfe") + ".AAAA",
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused(h: Harness, case: str) -> None:
    assert_401(get_keys(h, REFUSED[case]()))


def test_tenant_claim(h: Harness) -> None:
    """The issuer's tenant by default; a "tenant" claim names another of the issuer's tenants; any
    tenant the issuer is not bound to, and SKMS's internal tenants, are refused."""
    h.create_key("default-only-key", "ed25519")
    assert h.client.get("/v1/keys/default-only-key", headers=bearer(token())).status_code == 200
    # Another tenant of the same issuer sees none of the default tenant's keys.
    assert h.client.get("/v1/keys/default-only-key", headers=bearer(token(tenant="acme"))).status_code == 404
    for internal in ("__system", "__audit", "__x"):
        assert_401(get_keys(h, token(tenant=internal, roles=["admin"])))
    # Tenants the issuer is not bound to: refused, whatever the roles.
    for other in ("globex", "Default", "acme ", "default\x00"):
        body = assert_401(get_keys(h, token(tenant=other, roles=["admin"])))
        assert "not trusted for" in body["detail"], body
    for bad in (42, "", None, ["acme"], {"name": "acme"}, True):
        assert_401(
            get_keys(h, make_jwt({"alg": "EdDSA", "typ": "JWT", "kid": "ed-1"}, {**claims(), "tenant": bad}, ED))
        )


def test_refused_token_never_reaches_the_handler_even_with_admin_roles(h: Harness) -> None:
    for forged in (_none_token(), _hs256_with(RSA_PEM, "rsa-1"), _tampered_payload()):
        assert_401(h.client.post("/v1/keys", json={"name": "forged", "type": "ed25519"}, headers=bearer(forged)))
    assert h.client.get("/v1/keys/forged", headers=h.admin).status_code == 404


@pytest.mark.parametrize("iss", [[ISSUER], {"x": 1}])
def test_non_string_issuer_is_refused(h: Harness, iss: Any) -> None:
    assert_401(get_keys(h, token(iss=iss)))


def test_non_list_roles_claim_is_not_a_server_error(h: Harness) -> None:
    assert get_keys(h, token(roles=42)).status_code in (401, 403)


# -- JWKS from a URL, with rotation ------------------------------------------------------------------------


def url_token(kid: str, key: Any, alg: str, **extra: Any) -> str:
    return make_jwt({"alg": alg, "typ": "JWT", "kid": kid}, claims(iss=URL_ISSUER, roles=None, **extra), key)


def test_jwks_url_and_rotation(h: Harness, served: Jwks, monkeypatch: pytest.MonkeyPatch) -> None:
    first = url_token("url-1", URL_KEY_1, "EdDSA", scope="auditor")
    hits = served.hits
    assert get_keys(h, first).status_code == 200  # fetched on first use
    assert served.hits == hits + 1
    assert get_keys(h, first).status_code == 200  # cached
    assert served.hits == hits + 1
    # The issuer rotates: url-2 replaces url-1.
    served.keys = [jwk(URL_KEY_2.public_key(), "url-2")]
    second = url_token("url-2", URL_KEY_2, "ES256", scope="auditor crypto-user")
    # Within REFETCH_SECONDS of the last fetch an unknown kid does not make SKMS fetch again (no amplification).
    assert_401(get_keys(h, second))
    assert served.hits == hits + 1
    monkeypatch.setattr(jwt_module, "REFETCH_SECONDS", 0.0)
    assert get_keys(h, second).status_code == 200  # the new kid is fetched on first use
    assert served.hits == hits + 2
    r = h.client.post("/v1/keys/jwt-signing/sign", json={"input": "AA=="}, headers=bearer(second))
    assert r.status_code == 200  # roles from the "scope" claim of this issuer
    # The retired key is gone with the refetch.
    assert_401(get_keys(h, first))
    served.keys = [jwk(URL_KEY_1.public_key(), "url-1"), jwk(URL_KEY_2.public_key(), "url-2")]


def test_jwks_url_issuer_refuses_what_the_file_issuer_refuses(h: Harness, served: Jwks) -> None:
    served.keys = [jwk(URL_KEY_1.public_key(), "url-1"), jwk(URL_KEY_2.public_key(), "url-2")]
    assert_401(get_keys(h, url_token("url-1", URL_KEY_1, "EdDSA", aud="other")))
    assert_401(get_keys(h, url_token("url-1", URL_KEY_1, "EdDSA", exp=int(time.time()) - 120)))
    # A token of the file issuer's key claiming the URL issuer: unknown kid there.
    assert_401(get_keys(h, make_jwt({"alg": "EdDSA", "kid": "ed-1"}, claims(iss=URL_ISSUER), ED)))


def test_unreachable_jwks_url_is_not_a_server_error(tmp_path: Path) -> None:
    issuers = [IssuerSettings(issuer=URL_ISSUER, audience=AUDIENCE, jwks_url=free_port_url())]
    with harness(tmp_path, jwt_issuers=issuers) as h2:
        r = get_keys(h2, url_token("url-1", URL_KEY_1, "EdDSA", scope="auditor"))
        assert r.status_code in (401, 503), r.text


# -- NumericDate claims and the maximum lifetime ------------------------------------------------------------


def raw_token(payload: str, kid: str = "ed-1") -> str:
    """A token signed by a trusted key whose payload is ``payload`` verbatim (``1e999``, ``NaN``…)."""
    header = b64url(json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": kid}).encode())
    text = f"{header}.{b64url(payload.encode())}"
    return f"{text}.{b64url(ED.sign(text.encode()))}"


def raw_claims(**raw: str | None) -> str:
    """The JSON of :func:`claims` with some members replaced by raw JSON text."""
    base: dict[str, str | None] = {k: json.dumps(v) for k, v in claims().items()}
    base.update(raw)
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in base.items() if v is not None) + "}"


NOW = int(time.time())
BAD_NUMERIC = {
    "exp 1e999": raw_claims(exp="1e999"),
    "exp -1e999": raw_claims(exp="-1e999"),
    "exp Infinity": raw_claims(exp="Infinity"),
    "exp NaN": raw_claims(exp="NaN"),
    "exp a huge integer": raw_claims(exp="9" * 400),
    "exp 2^60": raw_claims(exp=str(2**60)),
    "exp a string": raw_claims(exp=json.dumps(str(NOW + 300))),
    "exp true": raw_claims(exp="true"),
    "exp null": raw_claims(exp="null"),
    "exp a list": raw_claims(exp=f"[{NOW + 300}]"),
    "nbf 1e999": raw_claims(nbf="1e999"),
    "nbf NaN": raw_claims(nbf="NaN"),
    "nbf a string": raw_claims(nbf='"0"'),
    "nbf false": raw_claims(nbf="false"),
    "iat -1e999": raw_claims(iat="-1e999"),
    "iat NaN": raw_claims(iat="NaN"),
    "iat a string": raw_claims(iat=json.dumps(str(NOW))),
    "iat true": raw_claims(iat="true"),
    "lifetime over 24 h (exp - iat)": raw_claims(exp=str(NOW + 86_400 + 120)),
    # NOW is taken at collection: a margin of a day keeps exp - now over 24 h however late the case runs.
    "lifetime over 24 h (exp - now, no iat)": raw_claims(iat=None, exp=str(NOW + 2 * 86_400)),
    "iat long ago, exp later": raw_claims(iat=str(NOW - 10 * 86_400), exp=str(NOW + 300)),
    "iat in the future": raw_claims(iat=str(NOW + 3_600), exp=str(NOW + 3_900)),
}


@pytest.mark.parametrize("case", list(BAD_NUMERIC))
def test_numeric_dates_must_be_finite_numbers_within_the_lifetime(h: Harness, case: str) -> None:
    body = assert_401(get_keys(h, raw_token(BAD_NUMERIC[case])))
    assert body["detail"], body


def test_numeric_dates_accepted(h: Harness) -> None:
    now = time.time()
    assert get_keys(h, raw_token(raw_claims(exp=repr(now + 300.5), iat=repr(now), nbf=repr(now)))).status_code == 200
    assert get_keys(h, raw_token(raw_claims(exp=str(NOW + 86_000)))).status_code == 200  # within 24 h


def test_max_lifetime_is_a_setting(tmp_path: Path) -> None:
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [jwk(ED.public_key(), "ed-1")]}))
    issuers = [IssuerSettings(issuer=ISSUER, audience=AUDIENCE, jwks_file=str(jwks_file))]
    with harness(tmp_path / "s", jwt_issuers=issuers, jwt_max_lifetime=600) as h2:
        assert get_keys(h2, token(exp=int(time.time()) + 500)).status_code == 200
        body = assert_401(get_keys(h2, token(exp=int(time.time()) + 900)))
        assert "at most 600 s" in body["detail"], body


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tenant": "acme", "tenants": ["globex"]}, "not among its tenants"),
        ({"tenants": ["__system"]}, "internal"),
        ({"tenant": ""}, "empty"),
    ],
)
def test_issuer_tenant_settings_are_checked(fields: dict[str, Any], message: str) -> None:
    from skms.api.settings import load_settings
    from skms.errors import InvalidInput

    value = json.dumps([{"issuer": ISSUER, "jwks_file": "/nonexistent", **fields}])
    with pytest.raises(InvalidInput, match=message):
        load_settings({"SKMS_JWT_ISSUERS": value})


def test_issuer_tenant_defaults() -> None:
    plain = IssuerSettings(issuer=ISSUER)
    assert (plain.default_tenant, plain.bound_tenants) == ("default", frozenset({"default"}))
    bound = IssuerSettings(issuer=ISSUER, tenants=["blue", "green"])
    assert (bound.default_tenant, bound.bound_tenants) == ("blue", frozenset({"blue", "green"}))
    single = IssuerSettings(issuer=ISSUER, tenant="acme")
    assert single.bound_tenants == frozenset({"acme"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SKMS_JWT_MAX_LIFETIME": "0"}, "jwt_max_lifetime"),
        ({"SKMS_JWT_MAX_LIFETIME": "nan"}, "jwt_max_lifetime"),
        ({"SKMS_JWT_MAX_LIFETIME": "inf"}, "jwt_max_lifetime"),
        ({"SKMS_JWT_ISSUERS": json.dumps([{"issuer": "skms"}])}, "token_issuer"),
    ],
)
def test_bad_jwt_settings_are_refused(env: dict[str, str], message: str) -> None:
    from skms.api.settings import load_settings
    from skms.errors import InvalidInput

    with pytest.raises(InvalidInput, match=message):
        load_settings(env)


def test_each_issuer_is_bound_to_its_own_tenants(h: Harness, served: Jwks) -> None:
    """(After the rotation tests, which count the URL issuer's fetches.) The URL issuer is bound to "default"
    alone: the "acme" that the file issuer may name is not its to name."""
    served.keys = [jwk(URL_KEY_1.public_key(), "url-1"), jwk(URL_KEY_2.public_key(), "url-2")]
    assert get_keys(h, url_token("url-2", URL_KEY_2, "ES256", scope="auditor")).status_code == 200
    body = assert_401(get_keys(h, url_token("url-2", URL_KEY_2, "ES256", scope="auditor", tenant="acme")))
    assert "tenant" in body["detail"]


# -- property-based: whatever arrives, the verifier answers a principal or Unauthenticated --------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from skms.auth.jwt import Issuer, JwtVerifier  # noqa: E402
from skms.errors import InvalidInput, Unauthenticated  # noqa: E402

VERIFIER = JwtVerifier([
    Issuer(ISSUER, AUDIENCE, tenant="default", tenants=frozenset({"default", "acme"}),
           static_keys={kid: jwk(k.public_key(), kid) for kid, (_, k) in KEYS.items()}),
])  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
CLAIM_NAMES = st.sampled_from(["iss", "aud", "sub", "exp", "nbf", "iat", "tenant", "roles", "client_id", "x"])
ALGS = st.sampled_from(["EdDSA", "Ed25519", "ES256", "RS256", "HS256", "none", "None", "PS256", ""])
KIDS = st.sampled_from([*KEYS, "unknown", ""])


def outcome(text: str) -> str:
    """'ok' or 'refused'; anything else the verifier raises fails the test (it would be a 500)."""
    import asyncio

    try:
        principal = asyncio.run(VERIFIER.verify(text))
    except (Unauthenticated, InvalidInput):
        return "refused"
    assert principal.tenant in ("default", "acme"), principal
    return "ok"


@st.composite
def signed_tokens(draw: st.DrawFn) -> str:
    """Tokens signed by a trusted key (so the claims are checked), with drawn headers and claims."""
    kid = draw(KIDS)
    header: dict[str, Any] = {"alg": KEYS[kid][0] if kid in KEYS and draw(st.booleans()) else draw(ALGS), "kid": kid}
    if draw(st.booleans()):
        header.update(draw(st.dictionaries(st.sampled_from(["typ", "crit", "b64", "jku", "x5u", "cty", "kid"]), JSON,
                                           max_size=2)))  # fmt: skip
    body = claims() if draw(st.integers(0, 3)) else {}
    body.update(draw(st.dictionaries(CLAIM_NAMES, JSON, max_size=2)))
    kid = header["kid"] if isinstance(header.get("kid"), str) else "ed-1"
    sign_alg, key = KEYS.get(kid, ("EdDSA", ED))
    payload = json.dumps(body, allow_nan=True).encode()
    head = b64url(json.dumps(header, allow_nan=True).encode())
    text = f"{head}.{b64url(payload)}"
    from security_support import sign_raw

    return f"{text}.{b64url(sign_raw(sign_alg, key, text.encode()))}"


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=200))
def test_fuzz_any_text(text: str) -> None:
    outcome(text)


@FUZZ
@given(st.lists(st.binary(max_size=120), min_size=1, max_size=5))
def test_fuzz_base64_segments(segments: list[bytes]) -> None:
    outcome(".".join(b64url(s) for s in segments))


@FUZZ
@given(signed_tokens())
def test_fuzz_signed_headers_and_claims(text: str) -> None:
    outcome(text)


@FUZZ
@given(st.data())
def test_fuzz_one_character_changed(data: st.DataObject) -> None:
    text = token(roles=["admin"])
    assert outcome(text) == "ok"
    i = data.draw(st.integers(0, len(text) - 1))
    c = data.draw(st.characters(codec="ascii"))
    mutated = text[:i] + c + text[i + 1 :]
    result = outcome(mutated)
    # Base64url's last character may carry unused bits: a change there can leave the bytes as they were.
    if result == "ok":
        assert [_decoded(p) for p in mutated.split(".")] == [_decoded(p) for p in text.split(".")]


def _decoded(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.mark.parametrize(
    "content",
    ['{"keys": 5}', "[1]", '"keys"', "{}", "not json", "[" * 5000 + "]" * 5000, '{"keys": [5, "x", {"kid": 1}]}'],
    ids=["keys-not-a-list", "a-list", "a-string", "no-keys", "not-json", "deep", "bad-entries"],
)
def test_a_malformed_jwks_refuses_tokens_without_a_server_error(tmp_path: Path, content: str) -> None:
    import asyncio

    path = tmp_path / "jwks.json"
    path.write_text(content)
    verifier = JwtVerifier([Issuer(ISSUER, AUDIENCE, jwks_file=str(path))])
    with pytest.raises(Unauthenticated):
        asyncio.run(verifier.verify(token()))
