"""/v1/auth/api-keys and /v1/authz: API keys, policies, bindings and the decision simulator."""

from typing import Any

from litestar import Controller, Request, delete, get, post, put
from litestar.datastructures import State
from litestar.params import JSONBody

from skms.api import schemas as s
from skms.api.deps import context
from skms.authz import Binding, PolicyDocument
from skms.authz.access import AccessService
from skms.storage.base import ApiKeyRecord


def _access(state: State) -> AccessService:
    access: AccessService = state.access
    return access


def api_key_out(r: ApiKeyRecord) -> s.ApiKeyOut:
    return s.ApiKeyOut(r.id, r.principal, r.roles, r.description, r.created_at, r.expires_at, r.revoked_at)


class ApiKeyController(Controller):
    path = "/v1/auth/api-keys"
    tags = ["auth"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @post("/", status_code=201, summary="Create an API key (the token is shown once)")
    async def create(
        self, request: Request[Any, Any, Any], data: JSONBody[s.ApiKeyCreate], state: State
    ) -> s.ApiKeyCreated:
        principal = context(request)[1]
        token, record = await _access(state).create_api_key(
            principal, data.principal, data.roles, data.description, data.ttl
        )
        return s.ApiKeyCreated(token, api_key_out(record))

    @get("/", summary="List API keys (never their secrets)")
    async def list_keys(self, request: Request[Any, Any, Any], state: State) -> s.ApiKeyList:
        principal = context(request)[1]
        return s.ApiKeyList([api_key_out(r) for r in await _access(state).list_api_keys(principal)])

    @delete("/{key_id:str}", status_code=204, summary="Revoke an API key")
    async def revoke(self, request: Request[Any, Any, Any], key_id: str, state: State) -> None:
        principal = context(request)[1]
        await _access(state).revoke_api_key(principal, key_id)


class PolicyController(Controller):
    path = "/v1/authz"
    tags = ["authz"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @get("/policies", summary="List policies (built-in roles and custom policies)")
    async def list_policies(self, request: Request[Any, Any, Any], state: State) -> list[PolicyDocument]:
        principal = context(request)[1]
        return await _access(state).list_policies(principal)

    @get("/policies/{name:str}", summary="A policy document")
    async def get_policy(self, request: Request[Any, Any, Any], name: str, state: State) -> PolicyDocument:
        principal = context(request)[1]
        return await _access(state).get_policy(principal, name)

    @put("/policies/{name:str}", summary="Create or replace a policy")
    async def put_policy(
        self, request: Request[Any, Any, Any], name: str, data: JSONBody[PolicyDocument], state: State
    ) -> PolicyDocument:
        principal = context(request)[1]
        if data.name != name:
            from skms.errors import InvalidInput

            raise InvalidInput(f"the document is named {data.name!r} but the path names {name!r}")
        return await _access(state).put_policy(principal, data)

    @delete("/policies/{name:str}", status_code=204, summary="Delete a policy")
    async def delete_policy(self, request: Request[Any, Any, Any], name: str, state: State) -> None:
        principal = context(request)[1]
        await _access(state).delete_policy(principal, name)

    @put("/principals/{name:str}", summary="Bind roles and policies to a principal")
    async def bind(
        self, request: Request[Any, Any, Any], name: str, data: JSONBody[s.BindingIn], state: State
    ) -> s.BindingOut:
        principal = context(request)[1]
        b = await _access(state).bind(principal, Binding(name, tuple(data.roles), tuple(data.policies)))
        return s.BindingOut(b.principal, list(b.roles), list(b.policies))

    @get("/principals/{name:str}", summary="What a principal is bound to")
    async def binding(self, request: Request[Any, Any, Any], name: str, state: State) -> s.BindingOut:
        principal = context(request)[1]
        b = await _access(state).get_binding(principal, name)
        return s.BindingOut(b.principal, list(b.roles), list(b.policies))

    @post("/simulate", status_code=200, summary="The decision for a principal, action and resource, and why")
    async def simulate(
        self, request: Request[Any, Any, Any], data: JSONBody[s.SimulateRequest], state: State
    ) -> s.DecisionOut:
        principal = context(request)[1]
        d = await _access(state).simulate(
            principal, data.principal, data.action, data.resource, data.roles, data.source, data.key_type,
            data.key_labels,
        )  # fmt: skip
        return s.DecisionOut(d.allowed, d.reason, d.policy, d.statement, d.sid)
