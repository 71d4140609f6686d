"""/v1/sys: health, readiness, initialization, seal and unseal, root rotation; /metrics."""

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import JSONBody

from skms.api import schemas as s
from skms.api.deps import context
from skms.api.metrics import render_metrics
from skms.auth import ApiKeyManager
from skms.errors import Sealed
from skms.keys import KeyService


async def seal_status(service: KeyService) -> s.SealStatus:
    record = await service.store.get_seal()
    if record is None:
        return s.SealStatus(initialized=False, sealed=True)
    threshold = record.params.get("threshold") if record.method == "shamir" else None
    return s.SealStatus(initialized=True, sealed=service.sealer.sealed, method=record.method, threshold=threshold)


@get("/v1/sys/health", tags=["sys"], summary="Liveness")
async def health() -> s.Health:
    return s.Health("ok")


@get("/v1/sys/ready", tags=["sys"], summary="Readiness: storage reachable and unsealed")
async def ready(request: Request[Any, Any, Any]) -> s.Health:
    service = context(request, authenticated=False)[0]
    await service.store.ping()
    if service.sealer.sealed:
        failure = getattr(service.sealer.transit, "last_failure", None)
        if failure is not None:  # one word (sealed, unreachable, token, key…): no address, no detail
            raise Sealed(f"the store is sealed: auto-unseal by the transit server failed ({failure}); retrying")
        raise Sealed("the store is sealed")
    return s.Health("ready")


@get("/v1/sys/seal-status", tags=["sys"], summary="Initialized and sealed state")
async def get_seal_status(request: Request[Any, Any, Any]) -> s.SealStatus:
    service = context(request, authenticated=False)[0]
    return await seal_status(service)


@post("/v1/sys/init", status_code=200, tags=["sys"], summary="Initialize the store (once); returns the admin token")
async def init(request: Request[Any, Any, Any], data: JSONBody[s.InitRequest], state: State) -> s.InitOut:
    service = context(request, authenticated=False)[0]
    keyfile = state.settings.unseal_keyfile if data.method == "keyfile" else None  # configuration, never the body
    result = await service.sealer.initialize(
        data.method,
        passphrase=data.passphrase,
        threshold=data.threshold,
        shares=data.shares,
        keyfile=keyfile,
        key_label=data.key_label,
    )
    api_keys: ApiKeyManager = state.api_keys
    token, _ = await api_keys.create("default", "admin", ["admin"], "created at initialization")
    relay = state.get("unseal_relay")
    if relay is not None:
        await relay.publish()
    return s.InitOut(token, result.shares)


@post(
    "/v1/sys/unseal", status_code=200, tags=["sys"], summary="Unseal with a passphrase, shares or the key file's bytes"
)
async def unseal(request: Request[Any, Any, Any], data: JSONBody[s.UnsealRequest], state: State) -> s.SealStatus:
    service = context(request, authenticated=False)[0]
    await service.sealer.unseal(passphrase=data.passphrase, shares=data.shares, key=data.key)
    relay = state.get("unseal_relay")
    if relay is not None:
        await relay.publish()
    return await seal_status(service)


@post("/v1/sys/seal", status_code=200, tags=["sys"], summary="Seal: drop every decrypted secret until unsealed")
async def seal(request: Request[Any, Any, Any], state: State) -> s.SealStatus:
    service, principal = context(request)
    await service.guard.check(principal, "sys:Seal", principal.tenant, "*")
    relay = state.get("unseal_relay")
    if relay is not None:
        await relay.retract()
    await service.sealer.seal_by_operator()
    return await seal_status(service)


@post(
    "/v1/sys/rotate-root",
    status_code=200,
    tags=["sys"],
    summary="Rotate the root key: a new root wraps every data key (admin; sys:RotateRoot)",
)
async def rotate_root(request: Request[Any, Any, Any], state: State) -> s.RootRotated:
    """The admin's authorization is the proof: the server uses the unseal key it holds while
    unsealed, whatever the seal method. The other workers of this server take the new root
    through the relay; other nodes reread the seal record (at the first key of the new root, and
    every scheduler period)."""
    service, principal = context(request)

    async def rotate() -> int:
        return await service.sealer.rotate_root_held()

    root_id = await service.guard.run(principal, "sys:RotateRoot", principal.tenant, "sys:root", rotate, ())
    relay = state.get("unseal_relay")
    if relay is not None:
        await relay.publish()
    return s.RootRotated(root_id)


@get("/metrics", tags=["sys"], summary="Prometheus metrics", media_type="text/plain")
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    service = context(request, authenticated=False)[0]
    body, content_type = render_metrics(service.sealer.sealed)
    return Response(body, media_type=content_type)
