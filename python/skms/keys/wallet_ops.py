"""The wallet operations of :class:`~skms.keys.service.KeyService` (the wallets themselves:
:mod:`skms.keys.wallets`, imported when first used)."""

import asyncio
from typing import Any

from skms.crypto.random import run_generation
from skms.errors import InvalidInput, UnsupportedOperation
from skms.keys.core import WALLET_TYPE, ServiceCore
from skms.keys.guarding import guarded
from skms.keys.info import KeyInfo
from skms.keys.model import KeyState


class WalletMixin(ServiceCore):
    @guarded("wallet:Create")
    async def create_wallet(
        self,
        tenant: str,
        name: str,
        *,
        words: int = 24,
        passphrase: str = "",
        language: str = "english",
        labels: dict[str, str] | None = None,
        policy: dict[str, Any] | None = None,
        principal: object = None,
    ) -> tuple[KeyInfo, str]:
        """A new HD wallet. Returns its metadata and the mnemonic, shown this once."""
        from skms.keys import wallets

        root, phrase = await run_generation(wallets.WalletRoot.generate, words, passphrase, language)
        info = await self._insert(
            tenant, name, WALLET_TYPE, "derive", labels, policy, KeyState.ACTIVE, root.material(),
            None, root.meta(),
        )  # fmt: skip
        return info, phrase

    @guarded("wallet:Create")
    async def import_wallet(
        self,
        tenant: str,
        name: str,
        *,
        phrase: str | None = None,
        passphrase: str = "",
        seed: bytes | None = None,
        labels: dict[str, str] | None = None,
        policy: dict[str, Any] | None = None,
        principal: object = None,
    ) -> KeyInfo:
        from skms.keys import wallets

        root = wallets.WalletRoot.from_phrase(phrase, passphrase) if phrase is not None else None
        if root is None:
            if seed is None:
                raise InvalidInput("import a wallet from a phrase or a seed")
            root = wallets.WalletRoot.from_seed(seed)
        return await self._insert(
            tenant, name, WALLET_TYPE, "derive", labels, policy, KeyState.ACTIVE, root.material(),
            None, root.meta(),
        )  # fmt: skip

    async def _wallet(self, tenant: str, name: str, operation: str) -> Any:
        cached = await self._load(tenant, name)
        if cached.record.type != WALLET_TYPE:
            raise UnsupportedOperation(f"{name!r} is a {cached.record.type} key, not a wallet")
        version = self._for_protect(cached, operation)
        return self._key_object(cached, version)

    @guarded("wallet:Derive")
    async def wallet_xpub(self, tenant: str, name: str, path: str, *, principal: object = None) -> dict[str, str]:
        root = await self._wallet(tenant, name, "derive")
        return root.xpub(path)  # type: ignore[no-any-return]

    @guarded("wallet:Derive")
    async def wallet_addresses(
        self,
        tenant: str,
        name: str,
        *,
        chain: str,
        account: int = 0,
        change: int = 0,
        start: int = 0,
        count: int = 20,
        kind: str | None = None,
        network: str = "mainnet",
        principal: object = None,
    ) -> list[dict[str, Any]]:
        root = await self._wallet(tenant, name, "derive")
        return await asyncio.to_thread(root.addresses, chain, account, change, start, count, kind, network)

    @guarded("wallet:Sign")
    async def wallet_sign(
        self,
        tenant: str,
        name: str,
        *,
        path: str,
        scheme: str,
        payload: bytes | None = None,
        digest: bytes | None = None,
        chain_id: int | None = None,
        principal: object = None,
    ) -> dict[str, Any]:
        root = await self._wallet(tenant, name, "sign")
        return root.sign(path, scheme, payload=payload, digest=digest, chain_id=chain_id)  # type: ignore[no-any-return]
