"""/v1/keys: lifecycle and cryptographic operations (Vault transit style)."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import JSONBody, Parameter, QueryParameter

from skms.api import schemas as s
from skms.api.deps import check_batch, context
from skms.api.problems import problem_of
from skms.errors import InvalidInput, SKMSError
from skms.keys import KeyInfo
from skms.keys.service import UNSET

T = TypeVar("T")


def key_out(info: KeyInfo) -> s.KeyOut:
    return s.KeyOut(
        name=info.name, id=info.id, type=info.type, purpose=info.purpose, labels=info.labels, policy=info.policy,
        state=info.state, latest_version=info.latest_version, min_version=info.min_version,
        created_at=info.created_at, updated_at=info.updated_at, deletion_at=info.deletion_at,
        destroyed_at=info.destroyed_at, backend=info.backend,
        versions=[s.VersionOut(v.version, v.created_at, v.state, v.expires_at, v.public_key) for v in info.versions],
    )  # fmt: skip


async def run_batch(items: list[T], one: Callable[[T], Awaitable[s.BatchItemResult]]) -> s.BatchResults:
    results = []
    for item in items:
        try:
            results.append(await one(item))
        except SKMSError as e:
            results.append(s.BatchItemResult(error=s.Problem(**problem_of(e))))
    return s.BatchResults(results)


def _single(value: T | None, field: str) -> T:
    if value is None:
        raise InvalidInput(f"give {field}, or a batch")
    return value


def _parse_labels(values: list[str] | None) -> dict[str, str]:
    out = {}
    for item in values or []:
        k, sep, v = item.partition(":")
        if not sep:
            raise InvalidInput(f"label filters are key:value, got {item!r}")
        out[k] = v
    return out


class KeyController(Controller):
    path = "/v1/keys"
    tags = ["keys"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @post("/", status_code=201, summary="Create a key")
    async def create(self, request: Request[Any, Any, Any], data: JSONBody[s.KeyCreate]) -> s.KeyOut:
        service, principal = context(request)
        info = await service.create_key(
            principal.tenant, data.name, data.type, purpose=data.purpose, labels=data.labels,
            policy=data.policy.to_dict() if data.policy else None, state=data.state, backend=data.backend,
            principal=principal,
        )  # fmt: skip
        return key_out(info)

    @get("/", summary="List keys")
    async def list_keys(
        self,
        request: Request[Any, Any, Any],
        limit: int = Parameter(default=100, ge=1, le=1000),
        cursor: str | None = None,
        type: str | None = None,
        key_state: Annotated[str | None, QueryParameter(name="state")] = None,
        prefix: str | None = None,
        label: list[str] | None = Parameter(default=None, description="key:value, repeatable"),
    ) -> s.KeyList:
        service, principal = context(request)
        page, nxt = await service.list_keys(
            principal.tenant, type=type, state=key_state, prefix=prefix, labels=_parse_labels(label), limit=limit,
            cursor=cursor, principal=principal,
        )  # fmt: skip
        return s.KeyList([key_out(i) for i in page], nxt)

    @get("/{name:str}", summary="Key metadata and public keys")
    async def show(self, request: Request[Any, Any, Any], name: str) -> s.KeyOut:
        service, principal = context(request)
        return key_out(await service.get_key(principal.tenant, name, principal=principal))

    @patch("/{name:str}", summary="Update policy, labels or minimum version")
    async def update(self, request: Request[Any, Any, Any], name: str, data: JSONBody[s.KeyUpdate]) -> s.KeyOut:
        service, principal = context(request)
        policy = UNSET if isinstance(data.policy, msgspec.UnsetType) else data.policy.to_dict()
        info = await service.update_key(
            principal.tenant, name,
            labels=UNSET if isinstance(data.labels, msgspec.UnsetType) else data.labels,
            policy=policy,
            min_version=UNSET if isinstance(data.min_version, msgspec.UnsetType) else data.min_version,
            principal=principal,
        )  # fmt: skip
        return key_out(info)

    @post("/{name:str}/rotate", status_code=200, summary="Add a new version")
    async def rotate(self, request: Request[Any, Any, Any], name: str) -> s.KeyOut:
        service, principal = context(request)
        return key_out(await service.rotate_key(principal.tenant, name, principal=principal))

    @post("/{name:str}/state", status_code=200, summary="Activate, suspend or mark compromised")
    async def state(self, request: Request[Any, Any, Any], name: str, data: JSONBody[s.StateChange]) -> s.KeyOut:
        service, principal = context(request)
        return key_out(await service.set_state(principal.tenant, name, data.state, principal=principal))

    @delete("/{name:str}", status_code=200, summary="Schedule destruction (default 7 days)")
    async def schedule_deletion(
        self,
        request: Request[Any, Any, Any],
        name: str,
        window: int | None = Parameter(default=None, ge=0, description="seconds before destruction"),
    ) -> s.KeyOut:
        service, principal = context(request)
        return key_out(await service.schedule_deletion(principal.tenant, name, window, principal=principal))

    @post("/{name:str}/cancel-deletion", status_code=200, summary="Cancel a scheduled destruction")
    async def cancel_deletion(self, request: Request[Any, Any, Any], name: str) -> s.KeyOut:
        service, principal = context(request)
        return key_out(await service.cancel_deletion(principal.tenant, name, principal=principal))

    # -- crypto ------------------------------------------------------------------------------

    @post("/{name:str}/encrypt", status_code=200, summary="Encrypt (single or batch)")
    async def encrypt(
        self, request: Request[Any, Any, Any], name: str, data: JSONBody[s.EncryptRequest], state: State
    ) -> s.CiphertextOut | s.BatchResults:
        service, principal = context(request)

        async def one(item: s.EncryptItem) -> s.BatchItemResult:
            text, version = await service.encrypt(
                principal.tenant, name, item.plaintext, item.associated_data, principal=principal
            )
            return s.BatchItemResult(ciphertext=text, key_version=version)

        if data.batch is not None:
            return await run_batch(check_batch(data.batch, state), one)
        text, version = await service.encrypt(
            principal.tenant, name, _single(data.plaintext, "plaintext"), data.associated_data, principal=principal
        )
        return s.CiphertextOut(text, version)

    @post("/{name:str}/decrypt", status_code=200, summary="Decrypt (single or batch)")
    async def decrypt(
        self, request: Request[Any, Any, Any], name: str, data: JSONBody[s.DecryptRequest], state: State
    ) -> s.PlaintextOut | s.BatchResults:
        service, principal = context(request)

        async def one(item: s.DecryptItem) -> s.BatchItemResult:
            plain = await service.decrypt(
                principal.tenant, name, item.ciphertext, item.associated_data, principal=principal
            )
            return s.BatchItemResult(plaintext=plain)

        if data.batch is not None:
            return await run_batch(check_batch(data.batch, state), one)
        plain = await service.decrypt(
            principal.tenant, name, _single(data.ciphertext, "ciphertext"), data.associated_data, principal=principal
        )
        return s.PlaintextOut(plain)

    @post("/{name:str}/rewrap", status_code=200, summary="Re-encrypt under the newest version")
    async def rewrap(
        self, request: Request[Any, Any, Any], name: str, data: JSONBody[s.DecryptRequest], state: State
    ) -> s.CiphertextOut | s.BatchResults:
        service, principal = context(request)

        async def one(item: s.DecryptItem) -> s.BatchItemResult:
            text, version = await service.rewrap(
                principal.tenant, name, item.ciphertext, item.associated_data, principal=principal
            )
            return s.BatchItemResult(ciphertext=text, key_version=version)

        if data.batch is not None:
            return await run_batch(check_batch(data.batch, state), one)
        text, version = await service.rewrap(
            principal.tenant, name, _single(data.ciphertext, "ciphertext"), data.associated_data, principal=principal
        )
        return s.CiphertextOut(text, version)

    @post("/{name:str}/datakey", status_code=200, summary="Generate a data key (single or batch)")
    async def datakey(
        self, request: Request[Any, Any, Any], name: str, data: JSONBody[s.DatakeyRequest], state: State
    ) -> s.DatakeyOut | s.BatchResults:
        service, principal = context(request)

        async def one(item: s.DatakeyItem) -> s.BatchItemResult:
            plain, text, version = await service.datakey(
                principal.tenant, name, item.size, item.associated_data, principal=principal
            )
            return s.BatchItemResult(
                ciphertext=text,
                key_version=version,
                plaintext=plain.expose_secret() if item.include_plaintext else None,
            )

        if data.batch is not None:
            return await run_batch(check_batch(data.batch, state), one)
        result = await one(data)
        assert result.ciphertext is not None and result.key_version is not None
        return s.DatakeyOut(result.ciphertext, result.key_version, result.plaintext)

    @post("/{name:str}/sign", status_code=200, summary="Sign (single or batch)")
    async def sign(
        self, request: Request[Any, Any, Any], name: str, data: JSONBody[s.SignRequest], state: State
    ) -> s.SignatureOut | s.BatchResults:
        service, principal = context(request)

        async def one(item: s.SignItem) -> s.BatchItemResult:
            sig, version = await service.sign(
                principal.tenant, name, item.input, prehashed=item.prehashed, principal=principal
            )
            return s.BatchItemResult(signature=sig, key_version=version)

        if data.batch is not None:
            items = check_batch(data.batch, state)
            if not any(item.prehashed for item in items):
                # One authorization, one audit record and one native batch for the whole request.
                sigs, version = await service.sign_batch(
                    principal.tenant, name, [item.input for item in items], principal=principal
                )
                return s.BatchResults([s.BatchItemResult(signature=sig, key_version=version) for sig in sigs])
            return await run_batch(items, one)
        sig, version = await service.sign(
            principal.tenant, name, _single(data.input, "input"), prehashed=data.prehashed, principal=principal
        )
        return s.SignatureOut(sig, version)

    @post("/{name:str}/verify", status_code=200, summary="Verify (single or batch)")
    async def verify(
        self, request: Request[Any, Any, Any], name: str, data: JSONBody[s.VerifyRequest], state: State
    ) -> s.ValidOut | s.BatchResults:
        service, principal = context(request)

        async def one(item: s.VerifyItem) -> s.BatchItemResult:
            ok = await service.verify(
                principal.tenant, name, item.input, item.signature, prehashed=item.prehashed, principal=principal
            )
            return s.BatchItemResult(valid=ok)

        if data.batch is not None:
            return await run_batch(check_batch(data.batch, state), one)
        ok = await service.verify(
            principal.tenant, name, _single(data.input, "input"), _single(data.signature, "signature"),
            prehashed=data.prehashed, principal=principal,
        )  # fmt: skip
        return s.ValidOut(ok)

    @post("/{name:str}/hmac", status_code=200, summary="Compute or verify an HMAC (single or batch)")
    async def hmac(
        self, request: Request[Any, Any, Any], name: str, data: JSONBody[s.HmacRequest], state: State
    ) -> s.HmacOut | s.BatchResults:
        service, principal = context(request)

        async def one(item: s.HmacItem) -> s.BatchItemResult:
            if item.hmac is not None:
                ok = await service.verify_mac(principal.tenant, name, item.input, item.hmac, principal=principal)
                return s.BatchItemResult(valid=ok)
            tag, version = await service.mac(principal.tenant, name, item.input, principal=principal)
            return s.BatchItemResult(hmac=tag, key_version=version)

        if data.batch is not None:
            return await run_batch(check_batch(data.batch, state), one)
        result = await one(s.HmacItem(_single(data.input, "input"), data.hmac))
        return s.HmacOut(hmac=result.hmac, key_version=result.key_version, valid=result.valid)

    @post("/{name:str}/encapsulate", status_code=200, summary="KEM encapsulation to this key (single or batch)")
    async def encapsulate(
        self,
        request: Request[Any, Any, Any],
        name: str,
        state: State,
        data: JSONBody[s.EncapsulateRequest] | None = None,
    ) -> s.EncapsulateOut | s.BatchResults:
        service, principal = context(request)

        async def one(_: s.EncapsulateItem) -> s.BatchItemResult:
            shared, text, version = await service.encapsulate(principal.tenant, name, principal=principal)
            return s.BatchItemResult(shared_secret=shared.expose_secret(), ciphertext=text, key_version=version)

        if data is not None and data.batch is not None:
            return await run_batch(check_batch(data.batch, state), one)
        shared, text, version = await service.encapsulate(principal.tenant, name, principal=principal)
        return s.EncapsulateOut(shared.expose_secret(), text, version)

    @post("/{name:str}/decapsulate", status_code=200, summary="KEM decapsulation (single or batch)")
    async def decapsulate(
        self, request: Request[Any, Any, Any], name: str, data: JSONBody[s.DecapsulateRequest], state: State
    ) -> s.SharedSecretOut | s.BatchResults:
        service, principal = context(request)

        async def one(item: s.DecapsulateItem) -> s.BatchItemResult:
            shared = await service.decapsulate(principal.tenant, name, item.ciphertext, principal=principal)
            return s.BatchItemResult(shared_secret=shared.expose_secret())

        if data.batch is not None:
            return await run_batch(check_batch(data.batch, state), one)
        shared = await service.decapsulate(
            principal.tenant, name, _single(data.ciphertext, "ciphertext"), principal=principal
        )
        return s.SharedSecretOut(shared.expose_secret())
