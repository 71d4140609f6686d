"""The security guard: every service call is rate-limited, authorized and audited here.

Order: rate limit → authorization (default deny) → the operation → the audit
record. The result is returned only after its audit record is durable (fail
closed); a denied call is audited too.
"""

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from skms.audit.events import mark_audited
from skms.auth import Principal
from skms.authz.authorizer import Authorizer
from skms.authz.policy import AccessRequest, Decision
from skms.context import CURRENT, GUARDED
from skms.errors import Forbidden, InvalidInput, NotFound, Sealed, SKMSError, Unauthenticated
from skms.keys.service import WALLET_TYPE, Guard, KeyInfo, KeyService

T = TypeVar("T")


def _version_of(result: object) -> int | None:
    # (output, version), the crypto calls, first: the common case.
    if isinstance(result, tuple) and result and isinstance(result[-1], int) and not isinstance(result[-1], bool):
        return result[-1]
    if isinstance(result, KeyInfo):
        return result.latest_version
    return None


class SecurityGuard(Guard):
    def __init__(
        self,
        service: KeyService,
        authorizer: Authorizer,
        audit: Any = None,
        limiter: Any = None,
    ) -> None:
        self._service = service
        self.authorizer = authorizer
        self.audit = audit
        self.limiter = limiter

    async def _stored(self, tenant: str, name: str) -> Any:
        try:
            return await self._service.cached_record(tenant, name)
        except NotFound:
            return None

    async def decide(self, principal: Principal, action: str, tenant: str, resource: str) -> Decision:
        kind, _, name = resource.partition(":")
        if kind == "key" and name not in ("", "*"):
            record = await self._stored(tenant, name)
            if record is not None and record.type == WALLET_TYPE:
                # A wallet reached through a key route is still a wallet: wallet rules decide.
                kind, resource = "wallet", f"wallet:{name}"
                action = "wallet:" + action.partition(":")[2]

        async def key_attributes() -> tuple[str | None, dict[str, str] | None]:
            if kind not in ("key", "wallet") or name in ("", "*"):
                return None, None
            record = await self._stored(tenant, name)
            return (None, None) if record is None else (record.type, record.labels)

        request = AccessRequest(
            principal.id, principal.roles, tenant, action, resource, CURRENT.get().source, time.time()
        )
        return await self.authorizer.decide(request, key_attributes)

    async def _record(
        self,
        principal: Principal,
        action: str,
        tenant: str,
        resource: str,
        result: str,
        version: int | None,
        inputs: Sequence[bytes | str],
    ) -> None:
        if self.audit is None:
            return
        await self.audit.record(principal.id, tenant, action, resource, result, version, inputs, CURRENT.get())

    async def run(
        self,
        principal: object,
        action: str,
        tenant: str,
        resource: str,
        call: Callable[[], Awaitable[T]],
        inputs: Sequence[bytes | str],
    ) -> T:
        if principal is None:
            return await call()  # the library itself, in-process: trusted
        if not isinstance(principal, Principal):
            raise Unauthenticated("unknown kind of principal")
        if "\x00" in resource:  # no stored name holds one, and the audit log could not record it
            raise InvalidInput("a name cannot hold a NUL character")
        if self._service.sealer.sealed:
            # Nothing can be decided or audited without the root key: say so plainly.
            raise Sealed("the store is sealed: unseal it with POST /v1/sys/unseal or `skms operator unseal`")
        if self.limiter is not None:
            await self.limiter.take(principal.id, action)
        if tenant != principal.tenant:
            await self._record(principal, action, tenant, resource, "denied", None, inputs)
            raise Forbidden(f"{principal.id} belongs to another tenant")
        decision = await self.decide(principal, action, tenant, resource)
        if not decision.allowed:
            await self._record(principal, action, tenant, resource, "denied", None, inputs)
            raise Forbidden(f"{principal.id} may not {action} on {resource}: {decision.reason}")
        try:
            result = await call()
        except SKMSError as e:
            await self._record(principal, action, tenant, resource, f"error:{type(e).__name__}", None, inputs)
            mark_audited(e)  # the API does not record it again as a refused input
            raise
        await self._record(principal, action, tenant, resource, "allowed", _version_of(result), inputs)
        return result

    async def check(self, principal: object, action: str, tenant: str, resource: str) -> None:
        if GUARDED.get() or principal is None:
            return
        resource = resource if ":" in resource else f"{action.partition(':')[0]}:{resource}"

        async def nothing() -> None:
            return None

        await self.run(principal, action, tenant, resource, nothing, ())


def input_hash(key: bytes, data: bytes | str) -> str:
    """A keyed hash of an input for the audit record: links records without revealing data."""
    raw = data.encode() if isinstance(data, str) else data
    return hmac.new(key, raw, hashlib.sha256).hexdigest()[:32]
