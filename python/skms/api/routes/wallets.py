"""/v1/wallets: HD wallets, addresses and signatures by derivation path."""

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody, Parameter

from skms.api import schemas as s
from skms.api.deps import context
from skms.errors import InvalidInput, UnsupportedOperation
from skms.keys import WALLET_TYPE, KeyInfo
from skms.keys.wallets import MAX_ADDRESSES
from skms.wallet import address_path


def wallet_out(info: KeyInfo) -> s.WalletOut:
    if info.type != WALLET_TYPE:
        raise UnsupportedOperation(f"{info.name!r} is a {info.type} key, not a wallet")
    meta = info.meta
    return s.WalletOut(
        name=info.name, id=info.id, state=info.state, words=meta.get("words"), language=meta.get("language"),
        fingerprint=str(meta.get("fingerprint", "")), labels=info.labels, policy=info.policy,
        created_at=info.created_at,
    )  # fmt: skip


class WalletController(Controller):
    path = "/v1/wallets"
    tags = ["wallets"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @post("/", status_code=201, summary="Create (or import) an HD wallet; the mnemonic is shown once")
    async def create(self, request: Request[Any, Any, Any], data: JSONBody[s.WalletCreate]) -> s.WalletCreated:
        service, principal = context(request)
        policy = data.policy.to_dict() if data.policy else None
        if data.phrase is not None:
            info = await service.import_wallet(
                principal.tenant, data.name, phrase=data.phrase, passphrase=data.passphrase, labels=data.labels,
                policy=policy, principal=principal,
            )  # fmt: skip
            return s.WalletCreated(wallet_out(info))
        info, phrase = await service.create_wallet(
            principal.tenant, data.name, words=data.words, passphrase=data.passphrase, language=data.language,
            labels=data.labels, policy=policy, principal=principal,
        )  # fmt: skip
        return s.WalletCreated(wallet_out(info), phrase)

    @get("/{name:str}", summary="Wallet metadata")
    async def show(self, request: Request[Any, Any, Any], name: str) -> s.WalletOut:
        service, principal = context(request)
        return wallet_out(await service.get_wallet(principal.tenant, name, principal=principal))

    @get("/{name:str}/xpub", summary="Extended public key at a path (watch-only export)")
    async def xpub(
        self,
        request: Request[Any, Any, Any],
        name: str,
        path: str = Parameter(default="m/84'/0'/0'", description="absolute derivation path"),
    ) -> s.XpubOut:
        service, principal = context(request)
        out = await service.wallet_xpub(principal.tenant, name, path, principal=principal)
        return s.XpubOut(**out)

    @post("/{name:str}/addresses", status_code=200, summary="Derive addresses")
    async def addresses(
        self, request: Request[Any, Any, Any], name: str, data: JSONBody[s.AddressesRequest]
    ) -> s.AddressesOut:
        service, principal = context(request)
        if not 1 <= data.count <= MAX_ADDRESSES:
            raise InvalidInput(f"count must be 1 to {MAX_ADDRESSES}, got {data.count}")
        items = await service.wallet_addresses(
            principal.tenant, name, chain=data.chain, account=data.account, change=data.change, start=data.start,
            count=data.count, kind=data.kind, network=data.network, principal=principal,
        )  # fmt: skip
        return s.AddressesOut([s.AddressOut(**i) for i in items])

    @post("/{name:str}/sign", status_code=200, summary="Sign with the key at a derivation path")
    async def sign(
        self, request: Request[Any, Any, Any], name: str, data: JSONBody[s.WalletSignRequest]
    ) -> s.WalletSignatureOut:
        service, principal = context(request)
        path = data.path
        if path is None:
            if data.chain is None:
                raise InvalidInput("give path, or chain with account/change/index")
            path = address_path(data.chain, data.account, data.change, data.index, data.kind)
        out = await service.wallet_sign(
            principal.tenant, name, path=path, scheme=data.scheme, payload=data.payload, digest=data.digest,
            chain_id=data.chain_id, principal=principal,
        )  # fmt: skip
        return s.WalletSignatureOut(**out)
