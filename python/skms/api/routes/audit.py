"""/v1/audit: the audit log (filters, pagination) and its verification."""

from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.params import Parameter, QueryParameter

from skms.api.deps import context
from skms.audit import AuditLog, AuditRecord


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
    service, principal = context(request)
    await service.guard.check(principal, "audit:Verify", principal.tenant, "audit:*")
    return (await _audit(request).verify()).to_dict()


def _record(r: AuditRecord) -> dict[str, Any]:
    out = msgspec.to_builtins(r)
    assert isinstance(out, dict)
    return out
