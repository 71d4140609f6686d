"""Decisions for principals: built-in role policies plus custom policies attached to them.

Custom policies and bindings live in the key store (tables authz_policies and
authz_bindings) and are cached for a few seconds per node, with the decisions
made from them: a decision that depends only on the principal, the action and
the resource is reused until the policies are reloaded.
"""

import time
from dataclasses import dataclass
from typing import Any

import msgspec

from skms.authz.policy import (
    BUILTIN_ROLES,
    AccessRequest,
    Decision,
    PolicyDocument,
    evaluate,
    needs_key_attributes,
    reads_the_request_context,
)
from skms.errors import InvalidInput, NotFound

#: Seconds a node trusts its cached copy of policies and bindings.
POLICY_CACHE_SECONDS = 2.0
#: Principals (with their roles) whose policies are cached, and decisions cached for each.
MAX_CACHED_PRINCIPALS = 10_000
MAX_CACHED_DECISIONS = 4096


@dataclass(frozen=True, slots=True)
class Binding:
    """What a principal gets beyond the roles its credential carries."""

    principal: str
    roles: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()


@dataclass(slots=True)
class _Policies:
    """The policies of one principal with one set of roles, as cached."""

    until: float
    documents: list[PolicyDocument]
    #: A condition reads the key's type or labels.
    key_attributes: bool
    #: Decisions by (action, resource); None when a condition reads the key's attributes, the
    #: source address or the time, so that no decision holds for another request.
    decisions: dict[tuple[str, str], Decision] | None


class Authorizer:
    def __init__(self, store: Any) -> None:
        self._store = store
        self._cache: dict[tuple[str, str, tuple[str, ...]], _Policies] = {}

    def invalidate(self) -> None:
        self._cache.clear()

    async def _policies(self, tenant: str, principal: str, roles: tuple[str, ...]) -> _Policies:
        key = (tenant, principal, roles)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached.until > now:
            return cached
        documents = [BUILTIN_ROLES[r] for r in roles if r in BUILTIN_ROLES] + await self._load_bound(tenant, principal)
        key_attributes = needs_key_attributes(documents)
        reusable = not key_attributes and not reads_the_request_context(documents)
        entry = _Policies(now + POLICY_CACHE_SECONDS, documents, key_attributes, {} if reusable else None)
        if len(self._cache) >= MAX_CACHED_PRINCIPALS:
            self._cache.clear()
        self._cache[key] = entry
        return entry

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
        """``key_attributes``: an async callable giving the key's (type, labels), called when a condition needs them."""
        policies = await self._policies(request.tenant, request.principal, request.roles)
        decisions = policies.decisions
        if decisions is None:
            if key_attributes is not None and policies.key_attributes:
                key_type, labels = await key_attributes()
                request = msgspec.structs.replace(request, key_type=key_type, key_labels=labels)
            return evaluate(policies.documents, request)
        decided = decisions.get((request.action, request.resource))
        if decided is None:
            decided = evaluate(policies.documents, request)
            if len(decisions) < MAX_CACHED_DECISIONS:
                decisions[(request.action, request.resource)] = decided
        return decided

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
