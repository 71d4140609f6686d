"""The Litestar application: one ``create_app(settings)`` factory."""

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from skms import __version__
from skms.api import metrics
from skms.api.bodies import BodyMiddleware
from skms.api.metrics import count_corruption
from skms.api.middleware import AuthMiddleware, NoAuthMiddleware, RequestMiddleware, configure_logging
from skms.api.orphan import exit_with_parent
from skms.api.problems import EXCEPTION_HANDLERS, document_problems
from skms.api.routes import audit, auth, backup, misc, sys
from skms.api.routes.access import ApiKeyController, PolicyController
from skms.api.routes.keys import KeyController
from skms.api.routes.wallets import WalletController
from skms.api.settings import Settings, load_settings
from skms.audit import AuditLog
from skms.audit.refusals import RefusalAudit
from skms.audit.witness import open_witness
from skms.auth import ApiKeyManager, Issuer, JwtVerifier, TokenIssuer
from skms.authz import Authorizer
from skms.authz.access import AccessService
from skms.authz.guard import SecurityGuard
from skms.authz.ratelimit import MemoryRateLimiter, RedisRateLimiter
from skms.crypto.random import OsRandom, set_random_source
from skms.crypto.registry import CryptoPolicy
from skms.errors import SKMSError, UnsealFailed
from skms.keys import KeyService
from skms.keys.service import Guard

log = logging.getLogger("skms.server")

#: Seconds between runs of the rotation/deletion scheduler.
SCHEDULER_PERIOD = 30.0
#: Garbage-collector thresholds of a server worker (CPython's are 700, 10, 10).
GC_THRESHOLDS = (20_000, 20, 10)


async def _scheduler(service: KeyService) -> None:
    while True:
        await asyncio.sleep(SCHEDULER_PERIOD)
        if service.sealer.sealed:
            continue
        try:
            done = await service.run_due()
            if any(done.values()):
                log.info("scheduled work done", extra={"fields": done})
        except Exception:
            log.exception("scheduled rotation/deletion failed")
        try:
            # A root rotated on another node: wrap new data keys with it from now on; then drop the
            # retired roots no key row uses any more (skms.keys.seal.ROOT_GRACE_SECONDS).
            await service.sealer.refresh()
            await service.sealer.prune_roots()
        except Exception:
            log.exception("rereading the seal record failed")


async def _auto_unseal(service: KeyService, settings: Settings) -> None:
    """Gives the sealer the configured HSM, and unseals a pkcs11 store from it (auto-unseal).

    A store sealed by its HSM that cannot be opened stops the start: the error says whether the
    settings, the token, its PIN or the wrapping key is the problem (the worker exits, and
    granian with it, non-zero).
    """
    config = settings.hsm_config()
    if config is not None and service.sealer.hsm is None:  # hsm_random made it already
        from skms.hsm import Hsm

        service.sealer.hsm = Hsm(config)
    record = await service.store.get_seal()
    if record is None or record.method != "pkcs11":
        return
    try:
        if config is None:
            raise UnsealFailed(
                "the store is sealed by an HSM (seal method pkcs11) but hsm_module is not set: "
                "configure the hsm_* settings"
            )
        await service.sealer.auto_unseal()
    except SKMSError as e:
        log.critical(f"cannot start: auto-unseal from the HSM failed: {e}")
        raise


def _use_hsm_random(service: KeyService, settings: Settings) -> None:
    """hsm_random: the token's generator is mixed into every key made from here on (before the
    audit log or anything else makes one); the HSM is the one the seal and HSM keys use."""
    config = settings.hsm_config()
    if not settings.hsm_random or config is None:  # the settings refuse hsm_random without an HSM
        return
    from skms.hsm import Hsm, HsmRandom

    service.sealer.hsm = Hsm(config)
    set_random_source(HsmRandom(service.sealer.hsm))


async def _check_hsm_random(service: KeyService, settings: Settings) -> None:
    """One draw at start, so that a token that cannot answer stops the start with its reason."""
    if not settings.hsm_random or service.sealer.hsm is None:
        return
    try:
        await service.sealer.hsm.generate_random(16)
    except SKMSError as e:
        log.critical(f"cannot start: hsm_random is on and the token's generator does not answer: {e}")
        raise


def create_app(settings: Settings | None = None) -> Litestar:
    """The SKMS server application for ``settings`` (from the environment by default)."""
    settings = settings or load_settings()
    configure_logging(settings.log_level)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        policy = CryptoPolicy(
            allow_deprecated=settings.crypto_allow_deprecated,
            fips_only=settings.crypto_fips_only,
            quantum_safe_only=settings.crypto_quantum_safe_only,
        )
        service = await KeyService.open(settings.database_url, crypto_policy=policy, metadata_ttl=settings.metadata_ttl)
        app.state.service = service
        _use_hsm_random(service, settings)
        service.on_corruption.append(count_corruption)
        api_keys = ApiKeyManager(service)
        app.state.api_keys = api_keys
        authorizer = Authorizer(service.store)
        witness = open_witness(settings.audit_witness) if settings.audit_witness else None
        audit_log = AuditLog(
            service, checkpoint_interval=settings.audit_checkpoint_interval, witness=witness,
            witness_fail_closed=settings.audit_witness_fail_closed,
            on_witness=metrics.witness_delivery,
        )  # fmt: skip
        await audit_log.start()
        app.state.audit = audit_log
        if not settings.insecure_no_security:
            app.state.refusals = RefusalAudit(
                audit_log, per_second=settings.audit_refusals_per_second, on_refusal=metrics.refusal
            )
        guard: Guard
        if settings.insecure_no_security:
            log.warning("insecure_no_security: authentication, authorization, rate limits and audit are OFF")
            guard = Guard()  # allow-all, records nothing
        else:
            limits = settings.rate_limits()
            limiter: Any = (
                RedisRateLimiter(settings.redis_url, limits) if settings.redis_url else MemoryRateLimiter(limits)
            )
            guard = SecurityGuard(service, authorizer, audit=audit_log, limiter=limiter)
        service.guard = guard
        app.state.access = AccessService(api_keys, authorizer, guard)
        tokens = TokenIssuer(service, api_keys, settings.token_issuer)
        app.state.tokens = tokens
        trusted = [
            Issuer(i.issuer, i.audience, i.jwks_file, i.jwks_url, i.roles_claim, i.default_tenant, i.bound_tenants,
                   settings.jwt_max_lifetime)
            for i in settings.jwt_issuers
        ]  # fmt: skip
        app.state.jwt = JwtVerifier([*trusted, tokens.self_issuer])
        if settings.tls_client_ca:
            from skms.auth.mtls import ClientCertificates

            with open(settings.tls_client_ca, "rb") as f:
                app.state.client_certificates = ClientCertificates(f.read(), settings.trusted_proxies)
        tasks: list[asyncio.Task[Any]] = []
        extras: list[Any] = []
        try:
            if settings.unseal_keyfile:
                await service.sealer.unseal_at_start(settings.unseal_keyfile)
            transit = settings.transit_config()
            if transit is not None:
                from skms.keys.transit import TransitSeal, auto_unseal

                service.sealer.transit = TransitSeal(transit)
                # One try now; on failure the server runs sealed and keeps trying (as Vault does).
                retry = await auto_unseal(service.sealer, service.sealer.transit)
                if retry is not None:
                    tasks.append(retry)
            await _auto_unseal(service, settings)
            await _check_hsm_random(service, settings)
            if settings.redis_url:
                from skms.storage.redis_bus import RedisInvalidation

                bus = RedisInvalidation(settings.redis_url, service)
                bus.listeners.append(api_keys.forget)  # revocations on other nodes end at once here
                await bus.start()
                extras.append(bus)
            from skms.api.relay import UnsealRelay

            relay = UnsealRelay.from_environment(service)
            if relay is not None:
                app.state.unseal_relay = relay
                await relay.start()
                extras.append(relay)
            tasks.append(asyncio.create_task(_scheduler(service)))
            yield
        finally:
            for task in tasks:
                task.cancel()
            for extra in reversed(extras):
                with contextlib.suppress(Exception):
                    await extra.stop()
            with contextlib.suppress(Exception):
                if app.state.get("refusals") is not None:
                    await app.state.refusals.flush()
            with contextlib.suppress(Exception):
                await app.state.audit.stop()
            if settings.hsm_random:
                set_random_source(OsRandom())  # this process's next app (tests) starts from the OS
            if service.sealer.hsm is not None:
                with contextlib.suppress(Exception):
                    service.sealer.hsm.close()
            await service.close()

    def on_app_init(config: AppConfig) -> AppConfig:
        config.state["settings"] = settings
        return config

    app = Litestar(
        route_handlers=[
            KeyController,
            WalletController,
            ApiKeyController,
            PolicyController,
            backup.create_backup,
            backup.register_recipient,
            backup.list_recipients,
            backup.delete_recipient,
            backup.restore_backup,
            audit.list_audit,
            audit.verify_audit,
            audit.verify_audit_with_witness,
            auth.token,
            auth.jwks,
            misc.random,
            misc.hash_data,
            sys.health,
            sys.ready,
            sys.get_seal_status,
            sys.init,
            sys.unseal,
            sys.seal,
            sys.rotate_root,
            sys.metrics,
        ],
        middleware=[
            RequestMiddleware,
            NoAuthMiddleware if settings.insecure_no_security else AuthMiddleware,
            BodyMiddleware,  # after authentication: only public routes' bodies are read for anyone
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        on_app_init=[on_app_init],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="SKMS",
            version=__version__,
            description="Secure Key Management System: keys, wallets and cryptographic operations.",
            components=Components(
                security_schemes={"apiKey": SecurityScheme(type="http", scheme="bearer", description="SKMS API key")}
            ),
            security=[{"apiKey": []}],
        ),
        debug=False,
    )
    document_problems(app.openapi_schema)
    return app


def create_app_from_env() -> Litestar:
    """Factory for granian (``skms.api.app:create_app_from_env``): once in each worker process."""
    parent = os.environ.get("SKMS_SERVER_PID")
    if parent and parent.isdigit() and int(parent) == os.getppid():
        exit_with_parent(int(parent))
    app = create_app(load_settings())
    # The modules and the app live as long as the worker: the collector need not walk them
    # again, nor run every 700 allocations when a request makes a few hundred that die young.
    # Measured under load: about 8% more requests per second, with security on and off.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return app
