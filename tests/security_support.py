"""Helpers of the security-layer tests (``tests/test_security_*.py``).

* :class:`Harness`: the SKMS app in-process (``litestar.testing.TestClient``) on a SQLite
  store in a temporary directory, initialized through ``POST /v1/sys/init`` (passphrase
  seal), with the admin token, API keys per role, and a way to run coroutines on the
  app's event loop (``run``) or to send a request from a chosen client address (``asgi``).
* PKI: a CA and certificates made with ``cryptography`` (for mTLS).
* JWT: JWKs of Ed25519, P-256 and RSA public keys, and tokens signed with any header.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from litestar import Litestar
from litestar.testing import TestClient

from server_process import PROBLEM_JSON, assert_problem
from skms.api import create_app
from skms.api.settings import Settings

PASSPHRASE = "correct horse battery staple, security tests"
#: The built-in roles, and a principal without any role.
ROLES = ("admin", "key-admin", "crypto-user", "wallet-operator", "auditor")
NO_ROLE = "(no role)"
ALL_PRINCIPALS = (*ROLES, NO_ROLE)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def principal_name(role: str) -> str:
    return "nobody" if role == NO_ROLE else f"{role}-user"


def free_port_url(path: str = "/jwks.json") -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def settings_for(directory: Path, **overrides: Any) -> Settings:
    return Settings(
        database_url=f"sqlite:///{directory / 'skms.db'}", data_dir=str(directory), log_level="WARNING", **overrides
    )


def assert_401(response: httpx.Response) -> dict[str, Any]:
    body = assert_problem(response, 401, title="Unauthenticated")
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer"), response.headers
    return body


def assert_403(response: httpx.Response, action: str) -> dict[str, Any]:
    body = assert_problem(response, 403, title="Forbidden")
    assert action in body["detail"], f"the 403 does not name {action}: {body}"
    return body


@dataclass
class Harness:
    """The app, its test client (lifespan running) and the admin token."""

    app: Litestar
    client: TestClient[Any]
    directory: Path
    admin_token: str
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def admin(self) -> dict[str, str]:
        return bearer(self.admin_token)

    def run(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Runs ``await fn(*args)`` on the app's event loop."""
        return self.client.blocking_portal.call(fn, *args)

    def api_key(self, principal: str, roles: Sequence[str], **extra: Any) -> dict[str, Any]:
        r = self.client.post(
            "/v1/auth/api-keys", json={"principal": principal, "roles": list(roles), **extra}, headers=self.admin
        )
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    def token(self, principal: str, roles: Sequence[str] = (), **extra: Any) -> str:
        token: str = self.api_key(principal, roles, **extra)["token"]
        return token

    def role_token(self, role: str) -> str:
        """One API key per built-in role (principal ``<role>-user``), and one without roles (``nobody``)."""
        if role not in self.tokens:
            self.tokens[role] = self.token(principal_name(role), [] if role == NO_ROLE else [role])
        return self.tokens[role]

    def create_key(self, name: str, kind: str, **extra: Any) -> dict[str, Any]:
        r = self.client.post("/v1/keys", json={"name": name, "type": kind, **extra}, headers=self.admin)
        assert r.status_code == 201, r.text
        info: dict[str, Any] = r.json()
        return info

    def put_policy(self, name: str, statements: list[dict[str, Any]]) -> httpx.Response:
        return self.client.put(
            f"/v1/authz/policies/{name}", json={"name": name, "statements": statements}, headers=self.admin
        )

    def bind(self, principal: str, roles: Sequence[str] = (), policies: Sequence[str] = ()) -> httpx.Response:
        return self.client.put(
            f"/v1/authz/principals/{principal}",
            json={"roles": list(roles), "policies": list(policies)},
            headers=self.admin,
        )

    def unseal(self) -> None:
        r = self.client.post("/v1/sys/unseal", json={"passphrase": PASSPHRASE})
        assert r.status_code == 200 and r.json()["sealed"] is False, r.text

    def asgi(
        self,
        method: str,
        path: str,
        *,
        source: tuple[str, int] = ("127.0.0.1", 40000),
        headers: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> httpx.Response:
        """A request whose ASGI scope has ``client = source`` (the test client's is ``"testclient"``)."""

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=source)
            async with httpx.AsyncClient(transport=transport, base_url="http://skms.test") as client:
                response = await client.request(method, path, headers=headers, json=json_body)
                await response.aread()
                return response

        response: httpx.Response = self.run(send)
        return response


@contextlib.contextmanager
def harness(directory: Path, **settings: Any) -> Iterator[Harness]:
    """An initialized, unsealed SKMS app on a new SQLite store in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    app = create_app(settings_for(directory, **settings))
    with TestClient(app) as client:
        r = client.post("/v1/sys/init", json={"method": "passphrase", "passphrase": PASSPHRASE})
        assert r.status_code == 200, r.text
        yield Harness(app, client, directory, r.json()["admin_token"])


# -- PKI (mTLS) --------------------------------------------------------------------------------------


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def write(self, directory: Path, stem: str) -> tuple[str, str]:
        cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        return str(cert), str(key)


def make_ca(name: str) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(days=1))
        .not_valid_after(_now() + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def issue(
    ca: Issued,
    *,
    common_name: str | None = None,
    sans: list[x509.GeneralName] | None = None,
    server: bool = False,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
) -> Issued:
    """A leaf certificate of ``ca`` (client authentication, or server authentication when ``server``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else [])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or _now() - datetime.timedelta(hours=1))
        .not_valid_after(not_after or _now() + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=not common_name)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def server_cert(ca: Issued) -> Issued:
    return issue(ca, common_name="127.0.0.1", sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], server=True)


# -- JWT --------------------------------------------------------------------------------------------


def _int_b64(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8 or 1, "big"))


def jwk(public: Any, kid: str) -> dict[str, Any]:
    """The JWK of an Ed25519, P-256 or RSA public key."""
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw), "kid": kid}
    if isinstance(public, ec.EllipticCurvePublicKey):
        numbers = public.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
            "kid": kid,
        }
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        return {"kty": "RSA", "n": _int_b64(numbers.n), "e": _int_b64(numbers.e), "kid": kid}
    raise TypeError(type(public))


def _json_b64(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def signing_input(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_json_b64(header)}.{_json_b64(claims)}"


def sign_raw(alg: str, key: Any, data: bytes) -> bytes:
    """A JWS signature of ``data`` under ``alg`` with ``key`` (a private key, or bytes for HS256)."""
    if alg == "EdDSA":
        return bytes(key.sign(data))
    if alg == "ES256":
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if alg == "RS256":
        return bytes(key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
    if alg == "HS256":
        import hmac

        return hmac.digest(key, data, "sha256")
    raise ValueError(alg)


def make_jwt(header: dict[str, Any], claims: dict[str, Any], key: Any, sign_alg: str | None = None) -> str:
    """A compact JWS; ``sign_alg`` (default: the header's ``alg``) chooses how to sign."""
    text = signing_input(header, claims)
    signature = sign_raw(sign_alg or header["alg"], key, text.encode())
    return f"{text}.{b64url(signature)}"


__all__ = [
    "ALL_PRINCIPALS",
    "NO_ROLE",
    "PASSPHRASE",
    "PROBLEM_JSON",
    "ROLES",
    "Harness",
    "Issued",
    "assert_401",
    "assert_403",
    "assert_problem",
    "b64",
    "b64url",
    "bearer",
    "free_port_url",
    "harness",
    "issue",
    "jwk",
    "make_ca",
    "make_jwt",
    "principal_name",
    "server_cert",
    "settings_for",
    "sign_raw",
    "signing_input",
]
