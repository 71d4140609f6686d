"""AccessService: managing who may do what (API keys, policies, bindings) and simulating decisions.

Like KeyService, it checks and audits every call through the guard, so the REST
API, the CLI and any later interface get the same answers.
"""

from typing import Any

from skms.auth import ApiKeyManager, Principal
from skms.authz.authorizer import Authorizer, Binding
from skms.authz.policy import BUILTIN_ROLES, AccessRequest, Decision, PolicyDocument
from skms.errors import InvalidInput
from skms.keys.service import Guard
from skms.storage.base import ApiKeyRecord


class AccessService:
    def __init__(self, api_keys: ApiKeyManager, authorizer: Authorizer, guard: Guard) -> None:
        self.api_keys = api_keys
        self.authorizer = authorizer
        self.guard = guard

    # -- API keys -----------------------------------------------------------------------------

    async def create_api_key(
        self, caller: Principal, principal: str, roles: list[str], description: str = "", ttl: float | None = None
    ) -> tuple[str, ApiKeyRecord]:
        await self.guard.check(caller, "auth:CreateApiKey", caller.tenant, f"principal:{principal}")
        unknown = [r for r in roles if r not in BUILTIN_ROLES]
        if unknown:
            raise InvalidInput(f"unknown roles {unknown}; built-in roles: {', '.join(BUILTIN_ROLES)}")
        if ttl is not None and ttl <= 0:
            raise InvalidInput("ttl must be positive seconds")
        return await self.api_keys.create(caller.tenant, principal, roles, description, ttl)

    async def list_api_keys(self, caller: Principal) -> list[ApiKeyRecord]:
        await self.guard.check(caller, "auth:ListApiKeys", caller.tenant, "principal:*")
        return await self.api_keys.list(caller.tenant)

    async def revoke_api_key(self, caller: Principal, key_id: str) -> None:
        await self.guard.check(caller, "auth:RevokeApiKey", caller.tenant, f"api-key:{key_id}")
        records = {r.id: r for r in await self.api_keys.list(caller.tenant)}
        if key_id not in records:
            from skms.errors import NotFound

            raise NotFound("no such API key")
        await self.api_keys.revoke(key_id)

    # -- policies and bindings ---------------------------------------------------------------

    async def put_policy(self, caller: Principal, document: PolicyDocument) -> PolicyDocument:
        await self.guard.check(caller, "authz:ManagePolicies", caller.tenant, f"policy:{document.name}")
        if document.name in BUILTIN_ROLES:
            raise InvalidInput(f"{document.name!r} is a built-in role and cannot be replaced")
        await self.authorizer.put_policy(caller.tenant, document)
        return document

    async def get_policy(self, caller: Principal, name: str) -> PolicyDocument:
        await self.guard.check(caller, "authz:ReadPolicies", caller.tenant, f"policy:{name}")
        return await self.authorizer.get_policy(caller.tenant, name)

    async def list_policies(self, caller: Principal) -> list[PolicyDocument]:
        await self.guard.check(caller, "authz:ReadPolicies", caller.tenant, "policy:*")
        return await self.authorizer.list_policies(caller.tenant)

    async def delete_policy(self, caller: Principal, name: str) -> None:
        await self.guard.check(caller, "authz:ManagePolicies", caller.tenant, f"policy:{name}")
        await self.authorizer.delete_policy(caller.tenant, name)

    async def bind(self, caller: Principal, binding: Binding) -> Binding:
        await self.guard.check(caller, "authz:ManagePolicies", caller.tenant, f"principal:{binding.principal}")
        await self.authorizer.bind(caller.tenant, binding)
        return binding

    async def get_binding(self, caller: Principal, principal: str) -> Binding:
        await self.guard.check(caller, "authz:ReadPolicies", caller.tenant, f"principal:{principal}")
        return await self.authorizer.binding(caller.tenant, principal)

    async def simulate(
        self,
        caller: Principal,
        principal: str,
        action: str,
        resource: str,
        roles: list[str] | None = None,
        source: str | None = None,
        key_type: str | None = None,
        key_labels: dict[str, str] | None = None,
    ) -> Decision:
        """The decision and the statement that decided it, without doing anything."""
        await self.guard.check(caller, "authz:Simulate", caller.tenant, f"principal:{principal}")
        request = AccessRequest(
            principal, tuple(roles or ()), caller.tenant, action, resource, source, key_type=key_type,
            key_labels=key_labels,
        )  # fmt: skip

        async def attributes() -> Any:
            return key_type, key_labels

        return await self.authorizer.decide(request, attributes)
