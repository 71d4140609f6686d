"""mTLS client identity.

* Unit level: :class:`skms.auth.mtls.ClientCertificates` maps a certificate's SAN (else CN) to the
  principal, refuses certificates of another CA, expired or not yet valid ones, and trusts
  ``X-Client-Cert`` only from ``trusted_proxies``.
* In-process HTTP: the ASGI app is called with a scope whose ``client`` is a chosen address
  (the test client's own address, ``"testclient"``, is not an IP address and never trusted).
* Real TLS: ``skms serve --dev`` with ``SKMS_TLS_CERT``/``SKMS_TLS_KEY``/``SKMS_TLS_CLIENT_CA``;
  granian refuses a client without a certificate or with one of another CA at the handshake.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509

from security_support import Harness, Issued, assert_401, assert_403, bearer, harness, issue, make_ca, server_cert
from server_support import free_port, skms_executable
from skms.auth.mtls import ClientCertificates
from skms.errors import InvalidInput, Unauthenticated

CA = make_ca("SKMS test client CA")
OTHER_CA = make_ca("Some other CA")
NOW = datetime.datetime.now(datetime.UTC)


def forwarded(cert: Issued) -> str:
    """The certificate as nginx's ``$ssl_client_escaped_cert`` forwards it."""
    return quote(cert.cert_pem.decode(), safe="")


ALICE = issue(CA, common_name="Alice", sans=[x509.RFC822Name("alice@example.com")])


# -- unit level -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates() -> ClientCertificates:
    return ClientCertificates(CA.cert_pem, ["127.0.0.1/32", "10.0.0.0/8", "::1"])


@pytest.mark.parametrize(
    ("cert", "principal"),
    [
        (ALICE, "alice@example.com"),
        (issue(CA, common_name="svc", sans=[x509.DNSName("payments.internal.example")]), "payments.internal.example"),
        (issue(CA, common_name="svc", sans=[x509.UniformResourceIdentifier("spiffe://example.org/ns/pay/sa/api")]),
         "spiffe://example.org/ns/pay/sa/api"),
        (issue(CA, common_name="svc", sans=[x509.RFC822Name("first@example.com"), x509.DNSName("second.example")]),
         "first@example.com"),
        (issue(CA, common_name="svc", sans=[x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
                                            x509.DNSName("after-ip.example")]), "after-ip.example"),
    ],
    ids=["email", "dns", "uri", "first-san", "skips-ip-san"],
)  # fmt: skip
def test_san_is_the_principal(certificates: ClientCertificates, cert: Issued, principal: str) -> None:
    p = certificates.principal(forwarded(cert))
    assert (p.id, p.tenant, p.roles, p.kind) == (principal, "default", (), "mtls")


def test_common_name_without_usable_san(certificates: ClientCertificates) -> None:
    cert = issue(CA, common_name="cn-only-service", sans=[x509.IPAddress(ipaddress.ip_address("10.0.0.9"))])
    assert certificates.principal(forwarded(cert)).id == "cn-only-service"


def test_unescaped_pem_is_accepted_too(certificates: ClientCertificates) -> None:
    assert certificates.principal(ALICE.cert_pem.decode()).id == "alice@example.com"


REFUSED = {
    "another CA": lambda: issue(OTHER_CA, common_name="Mallory", sans=[x509.RFC822Name("alice@example.com")]),
    "self-signed, same subject as the CA": lambda: _self_signed_like_ca(),
    "expired": lambda: issue(CA, common_name="old", sans=[x509.RFC822Name("old@example.com")],
                             not_before=NOW - datetime.timedelta(days=10), not_after=NOW - datetime.timedelta(days=1)),
    "not yet valid": lambda: issue(CA, common_name="new", sans=[x509.RFC822Name("new@example.com")],
                                   not_before=NOW + datetime.timedelta(days=1),
                                   not_after=NOW + datetime.timedelta(days=10)),
    "the CA certificate itself": lambda: CA,
}  # fmt: skip


def _self_signed_like_ca() -> Issued:
    fake = make_ca("SKMS test client CA")  # same name, different key
    return issue(fake, common_name="Mallory", sans=[x509.RFC822Name("alice@example.com")])


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_certificates(certificates: ClientCertificates, case: str) -> None:
    with pytest.raises(Unauthenticated):
        certificates.principal(forwarded(REFUSED[case]()))


@pytest.mark.parametrize("text", ["", "garbage", quote("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")])
def test_garbage_is_refused(certificates: ClientCertificates, text: str) -> None:
    with pytest.raises(Unauthenticated):
        certificates.principal(text)


@pytest.mark.parametrize(
    ("source", "trusted"),
    [
        ("127.0.0.1", True),
        ("10.9.8.7", True),
        ("::1", True),
        ("127.0.0.2", False),
        ("192.0.2.1", False),
        ("11.0.0.1", False),
        (None, False),
        ("testclient", False),
        ("", False),
    ],
)
def test_only_trusted_proxies_may_forward(certificates: ClientCertificates, source: str | None, trusted: bool) -> None:
    assert certificates.trusts(source) is trusted


def test_no_trusted_proxies_trusts_nobody() -> None:
    assert not ClientCertificates(CA.cert_pem, []).trusts("127.0.0.1")


def test_client_ca_must_be_pem() -> None:
    with pytest.raises(InvalidInput):
        ClientCertificates(b"not a certificate", [])


# -- in-process HTTP (ASGI scope with a chosen client address) -----------------------------------------------


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    directory = tmp_path_factory.mktemp("mtls")
    ca_file = directory / "client-ca.pem"
    ca_file.write_bytes(CA.cert_pem)
    with harness(directory, tls_client_ca=str(ca_file), trusted_proxies=["127.0.0.1/32"]) as h:
        h.create_key("mtls-key", "ed25519")
        assert h.bind("alice@example.com", ["crypto-user"], []).status_code == 200
        yield h


def sign_via(h: Harness, source: str, cert: Issued | None, token: str | None = None) -> httpx.Response:
    headers = {}
    if cert is not None:
        headers["X-Client-Cert"] = forwarded(cert)
    if token is not None:
        headers.update(bearer(token))
    return h.asgi(
        "POST", "/v1/keys/mtls-key/sign", source=(source, 44321), headers=headers, json_body={"input": "AA=="}
    )


def test_certificate_from_trusted_proxy_is_the_principal(h: Harness) -> None:
    assert sign_via(h, "127.0.0.1", ALICE).status_code == 200
    # A certificate principal without a binding is authenticated but may do nothing.
    bob = issue(CA, common_name="Bob", sans=[x509.RFC822Name("bob@example.com")])
    body = assert_403(sign_via(h, "127.0.0.1", bob), "key:Sign")
    assert body["detail"].startswith("bob@example.com ")


def test_certificate_of_another_ca_is_refused(h: Harness) -> None:
    mallory = issue(OTHER_CA, common_name="Alice", sans=[x509.RFC822Name("alice@example.com")])
    assert_401(sign_via(h, "127.0.0.1", mallory))
    assert_401(sign_via(h, "127.0.0.1", REFUSED["expired"]()))


def test_header_from_an_untrusted_address_is_ignored(h: Harness) -> None:
    assert_401(sign_via(h, "192.0.2.10", ALICE))
    # With a bearer token, the token decides who the caller is, not the forwarded certificate.
    nobody = h.token("mtls-bearer-nobody", [])
    body = assert_403(sign_via(h, "192.0.2.10", ALICE, nobody), "key:Sign")
    assert body["detail"].startswith("mtls-bearer-nobody ")
    # The in-process test client ("testclient") is not a trusted proxy either.
    r = h.client.post("/v1/keys/mtls-key/sign", json={"input": "AA=="}, headers={"X-Client-Cert": forwarded(ALICE)})
    assert_401(r)


# -- real TLS: skms serve with a client CA ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("tls-server")
    cert, key = server_cert(CA).write(directory, "server")
    ca_file = directory / "client-ca.pem"
    ca_file.write_bytes(CA.cert_pem)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKMS_")}
    env.update(SKMS_TLS_CERT=cert, SKMS_TLS_KEY=key, SKMS_TLS_CLIENT_CA=str(ca_file), SKMS_LOG_LEVEL="WARNING")
    log = (directory / "server.log").open("wb")
    args = [skms_executable(), "serve", "--dev", "--data-dir", str(directory), "--listen", f"127.0.0.1:{port}",
            "--workers", "1"]  # fmt: skip
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"https://127.0.0.1:{port}"
    good = client_context(directory, ALICE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (directory / "server.log").read_text()
            try:
                if httpx.get(f"{base}/v1/sys/health", verify=good, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (directory / "server.log").read_text()
            time.sleep(0.1)
        yield base, directory
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


def client_context(directory: Path, cert: Issued | None) -> ssl.SSLContext:
    """Trusts the test CA (which made the server certificate); presents ``cert`` when given."""
    ca = directory / "trust.pem"
    ca.write_bytes(CA.cert_pem)
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        stem = f"client-{cert.cert.serial_number}"
        certfile, keyfile = cert.write(directory, stem)
        context.load_cert_chain(certfile, keyfile)
    return context


def test_tls_client_with_the_right_ca_connects(tls_server: tuple[str, Path]) -> None:
    base, directory = tls_server
    context = client_context(directory, ALICE)
    assert httpx.get(f"{base}/v1/sys/health", verify=context, timeout=5).status_code == 200
    token = (directory / "admin-token").read_text().strip()
    assert httpx.get(f"{base}/v1/keys", verify=context, headers=bearer(token), timeout=5).status_code == 200
    # The handshake certificate is not an identity on its own (granian does not pass it to the app).
    assert httpx.get(f"{base}/v1/keys", verify=context, timeout=5).status_code == 401


@pytest.mark.parametrize("who", ["no certificate", "another CA", "expired"])
def test_tls_handshake_refuses(tls_server: tuple[str, Path], who: str) -> None:
    base, directory = tls_server
    cert = {"no certificate": None, "another CA": issue(OTHER_CA, common_name="Mallory",
                                                          sans=[x509.RFC822Name("alice@example.com")]),
            "expired": REFUSED["expired"]()}[who]  # fmt: skip
    context = client_context(directory, cert)
    with pytest.raises(httpx.TransportError, match=r"(?i)alert"):  # a TLS alert from the server
        httpx.get(f"{base}/v1/sys/health", verify=context, timeout=5)
