"""/v1/audit: the audit log (filters, pagination) and its verification."""

from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.params import Parameter, QueryParameter

from skms.api.deps import context
from skms.audit import AuditLog, AuditRecord
from skms.audit.witness import LINE_TYPE, decode_checkpoint


def _audit(request: Request[Any, Any, Any]) -> AuditLog:
    log: AuditLog = request.scope["app"].state.audit
    return log


@get("/v1/audit", tags=["audit"], summary="Audit records of the caller's tenant, oldest first")
async def list_audit(
    request: Request[Any, Any, Any],
    principal_filter: Annotated[str | None, QueryParameter(name="principal")] = None,
    action: str | None = None,
    resource: str | None = None,
    result: str | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int = Parameter(default=100, ge=1, le=1000),
    cursor: str | None = None,
) -> dict[str, Any]:
    service, principal = context(request)
    await service.guard.check(principal, "audit:Read", principal.tenant, "audit:*")
    records, next_cursor = await _audit(request).query(
        tenant=principal.tenant, principal=principal_filter, action=action, resource=resource, result=result,
        since=since, until=until, limit=limit, cursor=cursor,
    )  # fmt: skip
    return {"records": [_record(r) for r in records], "next_cursor": next_cursor}


@get("/v1/audit/verify", tags=["audit"], summary="Verify every chain: names the first changed, missing or moved record")
async def verify_audit(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Against the configured witness too, when it is a file this server can read."""
    service, principal = context(request)
    await service.guard.check(principal, "audit:Verify", principal.tenant, "audit:*")
    return (await _audit(request).verify()).to_dict()


class WitnessCheckpoint(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One line of a witness (skms.audit.witness): a signed checkpoint; hashes and signature in hex."""

    type: str = LINE_TYPE
    chain_id: str
    seq: int
    time: float
    hash: str
    mac: str
    key_version: int
    signature: str
    prev_seq: int | None = None


class VerifyWithWitness(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    #: The checkpoints a witness kept: every chain they name must be in the log, at least as long.
    witness: list[WitnessCheckpoint]


@post(
    "/v1/audit/verify", tags=["audit"], status_code=200,
    summary="Verify every chain against a witness's checkpoints: also names deleted tails, chains and checkpoints",
)  # fmt: skip
async def verify_audit_with_witness(request: Request[Any, Any, Any], data: VerifyWithWitness) -> dict[str, Any]:
    service, principal = context(request)
    await service.guard.check(principal, "audit:Verify", principal.tenant, "audit:*")
    witness = [decode_checkpoint(msgspec.to_builtins(w)) for w in data.witness]
    return (await _audit(request).verify(witness=witness)).to_dict()


def _record(r: AuditRecord) -> dict[str, Any]:
    out = msgspec.to_builtins(r)
    assert isinstance(out, dict)
    return out
