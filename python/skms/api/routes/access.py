"""/v1/auth/api-keys and /v1/authz: API keys, policies, bindings and the decision simulator."""

from litestar import Controller, delete, get, post, put
from litestar.datastructures import State

from skms.api import schemas as s
from skms.auth import Principal
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
    async def create(self, data: s.ApiKeyCreate, principal: Principal, state: State) -> s.ApiKeyCreated:
        token, record = await _access(state).create_api_key(
            principal, data.principal, data.roles, data.description, data.ttl
        )
        return s.ApiKeyCreated(token, api_key_out(record))

    @get("/", summary="List API keys (never their secrets)")
    async def list_keys(self, principal: Principal, state: State) -> s.ApiKeyList:
        return s.ApiKeyList([api_key_out(r) for r in await _access(state).list_api_keys(principal)])

    @delete("/{key_id:str}", status_code=204, summary="Revoke an API key")
    async def revoke(self, key_id: str, principal: Principal, state: State) -> None:
        await _access(state).revoke_api_key(principal, key_id)


class PolicyController(Controller):
    path = "/v1/authz"
    tags = ["authz"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @get("/policies", summary="List policies (built-in roles and custom policies)")
    async def list_policies(self, principal: Principal, state: State) -> list[PolicyDocument]:
        return await _access(state).list_policies(principal)

    @get("/policies/{name:str}", summary="A policy document")
    async def get_policy(self, name: str, principal: Principal, state: State) -> PolicyDocument:
        return await _access(state).get_policy(principal, name)

    @put("/policies/{name:str}", summary="Create or replace a policy")
    async def put_policy(self, name: str, data: PolicyDocument, principal: Principal, state: State) -> PolicyDocument:
        if data.name != name:
            from skms.errors import InvalidInput

            raise InvalidInput(f"the document is named {data.name!r} but the path names {name!r}")
        return await _access(state).put_policy(principal, data)

    @delete("/policies/{name:str}", status_code=204, summary="Delete a policy")
    async def delete_policy(self, name: str, principal: Principal, state: State) -> None:
        await _access(state).delete_policy(principal, name)

    @put("/principals/{name:str}", summary="Bind roles and policies to a principal")
    async def bind(self, name: str, data: s.BindingIn, principal: Principal, state: State) -> s.BindingOut:
        b = await _access(state).bind(principal, Binding(name, tuple(data.roles), tuple(data.policies)))
        return s.BindingOut(b.principal, list(b.roles), list(b.policies))

    @get("/principals/{name:str}", summary="What a principal is bound to")
    async def binding(self, name: str, principal: Principal, state: State) -> s.BindingOut:
        b = await _access(state).get_binding(principal, name)
        return s.BindingOut(b.principal, list(b.roles), list(b.policies))

    @post("/simulate", status_code=200, summary="The decision for a principal, action and resource, and why")
    async def simulate(self, data: s.SimulateRequest, principal: Principal, state: State) -> s.DecisionOut:
        d = await _access(state).simulate(
            principal, data.principal, data.action, data.resource, data.roles, data.source, data.key_type,
            data.key_labels,
        )  # fmt: skip
        return s.DecisionOut(d.allowed, d.reason, d.policy, d.statement, d.sid)
