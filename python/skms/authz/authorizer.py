"""Decisions for principals: built-in role policies plus custom policies attached to them.

Custom policies and bindings live in the key store (tables authz_policies and
authz_bindings) and are cached for a few seconds per node.
"""

import time
from dataclasses import dataclass
from typing import Any

import msgspec

from skms.authz.policy import BUILTIN_ROLES, AccessRequest, Decision, PolicyDocument, evaluate, needs_key_attributes
from skms.errors import InvalidInput, NotFound

#: Seconds a node trusts its cached copy of policies and bindings.
POLICY_CACHE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Binding:
    """What a principal gets beyond the roles its credential carries."""

    principal: str
    roles: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()


class Authorizer:
    def __init__(self, store: Any) -> None:
        self._store = store
        self._cache: dict[tuple[str, str], tuple[float, list[PolicyDocument]]] = {}

    def invalidate(self) -> None:
        self._cache.clear()

    async def policies_for(self, tenant: str, principal: str, roles: tuple[str, ...]) -> list[PolicyDocument]:
        key = (tenant, principal)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            bound = cached[1]
        else:
            bound = await self._load_bound(tenant, principal)
            self._cache[key] = (now + POLICY_CACHE_SECONDS, bound)
        return [BUILTIN_ROLES[r] for r in roles if r in BUILTIN_ROLES] + bound

    async def _load_bound(self, tenant: str, principal: str) -> list[PolicyDocument]:
        try:
            raw = await self._store.get_authz_binding(tenant, principal)
        except NotFound:
            return []
        binding = Binding(principal, tuple(raw["roles"]), tuple(raw["policies"]))
        out = [BUILTIN_ROLES[r] for r in binding.roles if r in BUILTIN_ROLES]
        for name in binding.policies:
            try:
                out.append(msgspec.json.decode(await self._store.get_authz_policy(tenant, name), type=PolicyDocument))
            except NotFound:
                continue  # a detached policy denies nothing and allows nothing
        return out

    async def decide(self, request: AccessRequest, key_attributes: Any = None) -> Decision:
        policies = await self.policies_for(request.tenant, request.principal, request.roles)
        if key_attributes is not None and needs_key_attributes(policies):
            key_type, labels = await key_attributes()
            request = AccessRequest(
                request.principal, request.roles, request.tenant, request.action, request.resource, request.source,
                request.now, key_type, labels,
            )  # fmt: skip
        return evaluate(policies, request)

    # -- management --------------------------------------------------------------------------------

    async def put_policy(self, tenant: str, document: PolicyDocument) -> None:
        document.validate()
        await self._store.put_authz_policy(tenant, document.name, msgspec.json.encode(document).decode())
        self.invalidate()

    async def get_policy(self, tenant: str, name: str) -> PolicyDocument:
        if name in BUILTIN_ROLES:
            return BUILTIN_ROLES[name]
        return msgspec.json.decode(await self._store.get_authz_policy(tenant, name), type=PolicyDocument)

    async def list_policies(self, tenant: str) -> list[PolicyDocument]:
        custom = [
            msgspec.json.decode(doc, type=PolicyDocument) for doc in await self._store.list_authz_policies(tenant)
        ]
        return list(BUILTIN_ROLES.values()) + custom

    async def delete_policy(self, tenant: str, name: str) -> None:
        if name in BUILTIN_ROLES:
            raise InvalidInput(f"{name!r} is a built-in role")
        await self._store.delete_authz_policy(tenant, name)
        self.invalidate()

    async def bind(self, tenant: str, binding: Binding) -> None:
        for role in binding.roles:
            if role not in BUILTIN_ROLES:
                raise InvalidInput(f"unknown role {role!r}; built-in roles: {', '.join(BUILTIN_ROLES)}")
        for name in binding.policies:
            if name in BUILTIN_ROLES:
                raise InvalidInput(f"{name!r} is a built-in role: list it under roles, not policies")
            await self.get_policy(tenant, name)
        await self._store.put_authz_binding(tenant, binding.principal, list(binding.roles), list(binding.policies))
        self.invalidate()

    async def binding(self, tenant: str, principal: str) -> Binding:
        try:
            raw = await self._store.get_authz_binding(tenant, principal)
        except NotFound:
            return Binding(principal)
        return Binding(principal, tuple(raw["roles"]), tuple(raw["policies"]))
