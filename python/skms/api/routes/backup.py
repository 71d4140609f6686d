"""/v1/backup and /v1/restore: encrypted bundles of a tenant's keys (see skms.keys.backup)."""

from typing import Any

from litestar import Request, post
from litestar.params import JSONBody

from skms.api import schemas as s
from skms.api.deps import context


@post("/v1/backup", status_code=200, tags=["backup"], summary="Back up the tenant's keys for a backup public key")
async def create_backup(request: Request[Any, Any, Any], data: JSONBody[s.BackupRequest]) -> s.BackupOut:
    service, principal = context(request)
    bundle = await service.backup(
        principal.tenant, data.names, recipient_public_key=data.recipient_public_key, principal=principal
    )
    return s.BackupOut(bundle)


@post("/v1/restore", status_code=200, tags=["backup"], summary="Restore a bundle into the caller's tenant")
async def restore_backup(request: Request[Any, Any, Any], data: JSONBody[s.RestoreRequest]) -> s.RestoreOut:
    service, principal = context(request)
    counts = await service.restore(
        data.bundle, data.backup_private_key, tenant_map=None, overwrite=data.overwrite, principal=principal
    )
    return s.RestoreOut(counts.get("keys", 0), counts.get("versions", 0), counts.get("replaced", 0))
