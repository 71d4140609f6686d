"""Server configuration: environment variables (``SKMS_*``) over an optional TOML file,
parsed into one msgspec struct with errors that name the setting."""

import os
import tomllib
from collections.abc import Mapping
from typing import Any

import msgspec

from skms.authz.ratelimit import DEFAULT_LIMITS, Limit
from skms.errors import HsmConfigError, InvalidInput
from skms.hsm.config import HsmConfig
from skms.keys.transit import TransitConfig

#: Hosts that only this machine can reach.
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class IssuerSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A trusted JWT issuer."""

    issuer: str
    audience: str = "skms"
    jwks_file: str | None = None
    jwks_url: str | None = None
    roles_claim: str = "roles"
    #: Tenant of the tokens that carry no "tenant" claim (default: the first of ``tenants``, else "default").
    tenant: str | None = None
    #: Every tenant this issuer's tokens may name in a "tenant" claim; empty: ``tenant`` alone. A
    #: token naming any other tenant is refused, so an issuer trusted for one tenant reaches no other.
    tenants: list[str] = []

    def __post_init__(self) -> None:
        for name in [*self.tenants, *([self.tenant] if self.tenant is not None else [])]:
            if not name or name.startswith("__"):
                raise InvalidInput(f"jwt_issuers {self.issuer!r}: tenant {name!r} is empty or internal to SKMS")
        if self.tenant is not None and self.tenants and self.tenant not in self.tenants:
            raise InvalidInput(f"jwt_issuers {self.issuer!r}: tenant {self.tenant!r} is not among its tenants")

    @property
    def default_tenant(self) -> str:
        return self.tenant or (self.tenants[0] if self.tenants else "default")

    @property
    def bound_tenants(self) -> frozenset[str]:
        """The tenants a token of this issuer may act in."""
        return frozenset(self.tenants) | {self.default_tenant}


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    #: Where keys live: ``sqlite:///path`` (default) or ``postgresql://…``.
    database_url: str = "sqlite:///.skms-dev/skms.db"
    #: Optional Redis for cross-node cache invalidation (never secrets).
    redis_url: str | None = None
    #: host:port to listen on.
    listen: str = "127.0.0.1:8470"
    #: Server worker processes; 0 means one per core.
    workers: int = 0
    tls_cert: str | None = None
    tls_key: str | None = None
    #: PEM CA bundle for client certificates (mTLS): other CAs are refused at the handshake.
    tls_client_ca: str | None = None
    #: Networks of TLS terminators allowed to forward a verified client certificate (X-Client-Cert).
    trusted_proxies: list[str] = []
    #: Largest request body accepted, in bytes.
    max_body_bytes: int = 1_048_576
    #: Concurrent requests per worker before new ones get 503 (admission control).
    max_in_flight: int = 512
    #: Concurrent requests to the public routes that take a body (init, unseal, token), per worker:
    #: a budget of their own, so unauthenticated callers cannot take the slots of authenticated ones.
    max_in_flight_public: int = 32
    #: Concurrent requests to public routes from one source address, per worker.
    max_in_flight_per_source: int = 4
    #: Seconds a client has to send the request headers (granian) and, separately, the whole body.
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    #: Deepest nesting of arrays and objects accepted in a JSON body.
    max_json_depth: int = 64
    #: Largest batch (items per request).
    max_batch: int = 10_000
    #: Directory for development state (key file, admin token) and runtime files.
    data_dir: str = ".skms-dev"
    #: Unseal automatically at start from this key file (development).
    unseal_keyfile: str | None = None
    log_level: str = "INFO"
    #: Seconds a node may use cached key metadata before rereading it.
    metadata_ttl: float = 1.0
    #: Crypto policy (see skms.crypto.registry.CryptoPolicy).
    crypto_fips_only: bool = False
    crypto_quantum_safe_only: bool = False
    crypto_allow_deprecated: bool = False
    #: Trusted JWT issuers (TOML array of tables, or JSON in SKMS_JWT_ISSUERS).
    jwt_issuers: list[IssuerSettings] = []
    #: The ``iss`` of the tokens this server issues at /v1/auth/token.
    token_issuer: str = "skms"
    #: Longest lifetime (``exp`` - ``iat``, or ``exp`` - now without ``iat``) of a trusted issuer's JWT, seconds.
    jwt_max_lifetime: float = 86_400.0
    #: Requests per second per principal and route class (see skms.authz.ratelimit), in each
    #: worker, or across all nodes with Redis; bursts of up to twice as many pass.
    rate_limit_crypto: float = DEFAULT_LIMITS["crypto"].rate
    rate_limit_read: float = DEFAULT_LIMITS["read"].rate
    rate_limit_admin: float = DEFAULT_LIMITS["admin"].rate
    #: Benchmarking only: no authentication, authorization, rate limit or audit record; every
    #: request acts as an admin of tenant ``default``. Refused unless listening on loopback.
    insecure_no_security: bool = False
    #: Where every signed audit checkpoint is also sent, out of the database's reach (skms.audit.witness):
    #: ``file:///path`` (JSON lines; best on another volume), ``http(s)://…`` (POST) or ``syslog://…``.
    audit_witness: str | None = None
    #: Refuse audited operations (503) while the witness does not take checkpoints, instead of only
    #: logging and counting the failures.
    audit_witness_fail_closed: bool = False
    #: Seconds between checkpoints of a busy chain (also every 1,000 records and at stop): how long
    #: the newest records may stay unsigned and unwitnessed.
    audit_checkpoint_interval: float = 10.0
    #: Audit records per second, per source and reason, of refused requests (failed authentication,
    #: bad input); past it, one summary record a second counts the rest (0: summaries only).
    audit_refusals_per_second: float = 10.0
    #: A PKCS#11 HSM (skms.hsm, the ``skms[hsm]`` extra): the module's path, the token by label or by
    #: serial, and where its user PIN is: a variable's *name* or a 0600 file, never the PIN itself.
    #: Used by the ``pkcs11`` seal (auto-unseal) and by HSM-resident keys.
    hsm_module: str | None = None
    hsm_token_label: str | None = None
    hsm_token_serial: str | None = None
    hsm_pin_env: str | None = None
    hsm_pin_file: str | None = None
    #: HSM sessions (and threads) per worker.
    hsm_sessions: int = 4
    #: Mix the HSM's generator (C_GenerateRandom) into new key material: OS random XOR token random
    #: (seed-based keys, data keys, root keys, wallet entropy; RSA and Falcon keep OpenSSL's/the OS's).
    hsm_random: bool = False
    #: The ``transit`` seal (skms.keys.transit): another SKMS server whose ``aes256-gcm`` key wraps
    #: this store's unseal key: its address (https://, or http:// to loopback only), the key's name,
    #: and where its token is (a variable's *name* or a 0600 file, never the token itself); optional
    #: CA bundle and client certificate (mTLS). Longest wait between auto-unseal retries, seconds.
    transit_address: str | None = None
    transit_key: str | None = None
    transit_token_env: str | None = None
    transit_token_file: str | None = None
    transit_ca_file: str | None = None
    transit_client_cert: str | None = None
    transit_client_key: str | None = None
    transit_retry_max: float = 30.0

    def __post_init__(self) -> None:
        host, sep, port = self.listen.rpartition(":")
        if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
            raise InvalidInput(f"listen must be host:port, got {self.listen!r}")
        if self.workers < 0:
            raise InvalidInput(f"workers must be 0 (one per core) or more, got {self.workers}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise InvalidInput("tls_cert and tls_key go together")
        if self.max_body_bytes < 1024:
            raise InvalidInput("max_body_bytes must be at least 1024")
        for name in ("max_in_flight", "max_in_flight_public", "max_in_flight_per_source", "max_json_depth"):
            if getattr(self, name) < 1:
                raise InvalidInput(f"{name} must be at least 1")
        for name in ("header_timeout", "body_timeout"):
            if not 0.1 <= getattr(self, name) <= 3600:
                raise InvalidInput(f"{name} must be between 0.1 and 3600 seconds")
        for cls, rate in self._rates().items():
            if not rate > 0:
                raise InvalidInput(f"rate_limit_{cls} must be a positive number of requests per second")
        if self.insecure_no_security and self.host not in LOOPBACK:
            raise InvalidInput(
                f"insecure_no_security serves every request unauthenticated: it is refused unless listen is a "
                f"loopback address ({', '.join(sorted(LOOPBACK))}), got {self.listen!r}"
            )
        if not 0 < self.jwt_max_lifetime <= 366 * 86_400:
            raise InvalidInput("jwt_max_lifetime must be a positive number of seconds, at most a year")
        if any(i.issuer == self.token_issuer for i in self.jwt_issuers):
            raise InvalidInput(f"jwt_issuers: {self.token_issuer!r} is this server's own token_issuer")
        if not 0.01 <= self.audit_checkpoint_interval <= 3600:
            raise InvalidInput("audit_checkpoint_interval must be 0.01 to 3600 seconds")
        if not 0 <= self.audit_refusals_per_second <= 10_000:
            raise InvalidInput("audit_refusals_per_second must be 0 to 10000")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise InvalidInput(f"log_level must be DEBUG, INFO, WARNING or ERROR, got {self.log_level!r}")
        self.hsm_config()  # the HSM settings are checked together
        self.transit_config()  # and the transit seal's

    def hsm_config(self) -> HsmConfig | None:
        """The HSM of these settings, or None without ``hsm_module``."""
        if self.hsm_module is None:
            if self.hsm_random:
                raise InvalidInput(
                    "hsm_random mixes the HSM's generator into new keys: it needs the HSM, set hsm_module "
                    "and the token (hsm_token_label or hsm_token_serial, hsm_pin_env or hsm_pin_file)"
                )
            given = [n for n, default in _HSM_DEFAULTS.items() if getattr(self, n) != default]
            if given:
                raise InvalidInput(f"{', '.join(given)}: set hsm_module (the PKCS#11 library's path) too")
            return None
        try:
            return HsmConfig(
                module=self.hsm_module,
                token_label=self.hsm_token_label,
                token_serial=self.hsm_token_serial,
                pin_env=self.hsm_pin_env,
                pin_file=self.hsm_pin_file,
                sessions=self.hsm_sessions,
            )
        except HsmConfigError as e:
            raise InvalidInput(str(e)) from None

    def transit_config(self) -> TransitConfig | None:
        """The transit seal's server of these settings, or None without ``transit_address``."""
        if self.transit_address is None:
            given = [n for n, default in _TRANSIT_DEFAULTS.items() if getattr(self, n) != default]
            if given:
                raise InvalidInput(f"{', '.join(given)}: set transit_address (the transit server) too")
            return None
        if self.transit_key is None:
            raise InvalidInput("transit_address needs transit_key (the aes256-gcm key's name on that server)")
        return TransitConfig(
            address=self.transit_address,
            key=self.transit_key,
            token_env=self.transit_token_env,
            token_file=self.transit_token_file,
            ca_file=self.transit_ca_file,
            client_cert=self.transit_client_cert,
            client_key=self.transit_client_key,
            retry_max=self.transit_retry_max,
        )

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    def _rates(self) -> dict[str, float]:
        """rate_limit_<class> for each route class of skms.authz.ratelimit."""
        return {cls: getattr(self, f"rate_limit_{cls}") for cls in DEFAULT_LIMITS}

    def rate_limits(self) -> dict[str, Limit]:
        """The token buckets of skms.authz.ratelimit for these settings."""
        return {cls: Limit(rate, 2 * rate) for cls, rate in self._rates().items()}

    @property
    def worker_count(self) -> int:
        return self.workers or (os.cpu_count() or 1)


FIELDS = tuple(Settings.__struct_fields__)
_HSM_DEFAULTS = {
    f.name: f.default for f in msgspec.structs.fields(Settings) if f.name.startswith("hsm_") and f.name != "hsm_module"
}

_TRANSIT_DEFAULTS = {
    f.name: f.default
    for f in msgspec.structs.fields(Settings)
    if f.name.startswith("transit_") and f.name != "transit_address"
}


def load_settings(environ: Mapping[str, str] = os.environ, config_file: str | None = None) -> Settings:
    """Settings from ``config_file`` (or ``SKMS_CONFIG``), then ``SKMS_<FIELD>`` variables."""
    raw: dict[str, Any] = {}
    path = config_file or environ.get("SKMS_CONFIG")
    if path:
        try:
            with open(path, "rb") as f:
                raw.update(tomllib.load(f))
        except OSError as e:
            raise InvalidInput(f"cannot read the config file {path}: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise InvalidInput(f"the config file {path} is not valid TOML: {e}") from None
    for name in FIELDS:
        value = environ.get(f"SKMS_{name.upper()}")
        if value is None:
            continue
        if name == "trusted_proxies":
            raw[name] = [p.strip() for p in value.split(",") if p.strip()]
        elif name == "jwt_issuers":
            try:
                raw[name] = msgspec.json.decode(value)
            except msgspec.DecodeError:
                raise InvalidInput("SKMS_JWT_ISSUERS must be a JSON array of issuer objects") from None
        else:
            raw[name] = value
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as e:
        raise InvalidInput(f"bad setting: {e}") from None
