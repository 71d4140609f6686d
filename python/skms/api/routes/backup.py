"""/v1/backup, /v1/backup/recipients and /v1/restore: encrypted bundles of a tenant's keys, only
for backup recipients an admin registered (see skms.keys.backup)."""

from typing import Any

from litestar import Request, delete, get, post
from litestar.params import JSONBody

from skms.api import schemas as s
from skms.api.deps import context
from skms.keys.backup import BackupRecipient


def _recipient_out(r: BackupRecipient) -> s.RecipientOut:
    return s.RecipientOut(r.name, r.public_key, r.fingerprint, r.created_at, r.created_by)


@post("/v1/backup", status_code=200, tags=["backup"], summary="Back up the tenant's keys for a registered recipient")
async def create_backup(request: Request[Any, Any, Any], data: JSONBody[s.BackupRequest]) -> s.BackupOut:
    service, principal = context(request)
    result = await service.backup(principal.tenant, data.names, recipient=data.recipient, principal=principal)
    return s.BackupOut(result.bundle, result.recipient, list(result.keys), list(result.skipped))


@post("/v1/backup/recipients", status_code=201, tags=["backup"], summary="Register a backup recipient (admin)")
async def register_recipient(request: Request[Any, Any, Any], data: JSONBody[s.RecipientCreate]) -> s.RecipientOut:
    service, principal = context(request)
    recipient = await service.register_backup_recipient(
        principal.tenant, data.name, data.public_key, principal=principal
    )
    return _recipient_out(recipient)


@get("/v1/backup/recipients", tags=["backup"], summary="The tenant's backup recipients")
async def list_recipients(request: Request[Any, Any, Any]) -> s.RecipientList:
    service, principal = context(request)
    recipients = await service.list_backup_recipients(principal.tenant, principal=principal)
    return s.RecipientList([_recipient_out(r) for r in recipients])


@delete("/v1/backup/recipients/{name:str}", status_code=204, tags=["backup"], summary="Remove a backup recipient")
async def delete_recipient(request: Request[Any, Any, Any], name: str) -> None:
    service, principal = context(request)
    await service.delete_backup_recipient(principal.tenant, name, principal=principal)


@post("/v1/restore", status_code=200, tags=["backup"], summary="Restore a bundle into the caller's tenant (admin)")
async def restore_backup(request: Request[Any, Any, Any], data: JSONBody[s.RestoreRequest]) -> s.RestoreOut:
    service, principal = context(request)
    counts = await service.restore(
        data.bundle, data.backup_private_key, tenant_map=None, overwrite=data.overwrite, principal=principal
    )
    return s.RestoreOut(counts.get("keys", 0), counts.get("versions", 0), counts.get("replaced", 0))
