"""mTLS client identity: a client certificate's subject or SAN becomes the principal.

Two ways certificates reach SKMS:
- granian terminates TLS with ``tls_client_ca``: a certificate from another CA is
  refused at the handshake. granian 2.8 does not hand the certificate to the
  application, so in this mode the identity comes from the second way;
- a TLS terminator (nginx, Envoy, a load balancer) in ``trusted_proxies`` forwards
  the verified certificate, URL-encoded PEM, in ``X-Client-Cert`` (nginx:
  ``$ssl_client_escaped_cert``). SKMS verifies it again against the client CA.

The principal is the first SAN (email, DNS name or URI), else the subject CN;
its roles and policies come from its binding (``PUT /v1/authz/principals/{name}``).
"""

import datetime
import ipaddress
import time
from urllib.parse import unquote

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from skms.auth.api_keys import Principal
from skms.errors import InvalidInput, Unauthenticated


class ClientCertificates:
    def __init__(self, ca_pem: bytes, trusted_proxies: list[str], tenant: str = "default") -> None:
        try:
            roots = x509.load_pem_x509_certificates(ca_pem)
        except ValueError:
            raise InvalidInput("tls_client_ca must hold PEM certificates") from None
        self._store = Store(roots)
        self._proxies = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        self.tenant = tenant

    def trusts(self, source: str | None) -> bool:
        if source is None:
            return False
        try:
            address = ipaddress.ip_address(source)
        except ValueError:
            return False
        return any(address in net for net in self._proxies)

    def principal(self, escaped_pem: str) -> Principal:
        try:
            cert = x509.load_pem_x509_certificate(unquote(escaped_pem).encode())
        except ValueError:
            raise Unauthenticated("the forwarded client certificate is not PEM") from None
        verifier = PolicyBuilder().store(self._store).time(_now()).build_client_verifier()
        try:
            verified = verifier.verify(cert, [])
        except VerificationError:
            raise Unauthenticated("the client certificate is not issued by the client CA") from None
        return Principal(identity(verified.subjects, cert), self.tenant, (), kind="mtls")


def _now() -> datetime.datetime:
    return datetime.datetime.fromtimestamp(time.time(), tz=datetime.UTC)


def identity(subjects: list[x509.GeneralName] | None, cert: x509.Certificate) -> str:
    for name in subjects or []:
        if isinstance(name, x509.RFC822Name | x509.DNSName | x509.UniformResourceIdentifier):
            return str(name.value)
    common = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if common:
        return str(common[0].value)
    raise Unauthenticated("the client certificate names no subject")
