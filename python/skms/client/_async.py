"""The asynchronous client: :class:`AsyncClient` (asyncio or trio, through httpx and anyio)."""

import itertools
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

import anyio
import httpx

from skms.client import _core as core
from skms.client import models as m
from skms.client._core import Call, Config

P = ParamSpec("P")
T = TypeVar("T")


def _op(build: Callable[P, Call[T]]) -> Callable[Concatenate["AsyncClient", P], Coroutine[Any, Any, T]]:
    async def method(self: "AsyncClient", /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.send(build(*args, **kwargs))

    core.describe(method, build, "AsyncClient")
    return method


class AsyncClient:
    """An asynchronous SKMS client (httpx); the same methods as :class:`~skms.client.Client`, awaited.

    ``addr`` and ``token`` default to ``SKMS_ADDR`` and ``SKMS_TOKEN``. Errors raise the classes of
    :mod:`skms.errors` (with ``status``, ``field`` and ``request_id``); a network failure raises
    :class:`~skms.client.TransportError`. GET requests are retried ``retries`` times on 503.
    Use it as an async context manager, or await :meth:`aclose`.
    """

    def __init__(
        self,
        addr: str | None = None,
        token: str | None = None,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        verify: bool | ssl.SSLContext = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._config = Config.resolve(addr, token, timeout, retries)
        self._http = httpx.AsyncClient(**self._config.http_options(), verify=verify, transport=transport)

    @property
    def addr(self) -> str:
        return self._config.addr

    def __repr__(self) -> str:
        return f"AsyncClient({self._config!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def send(self, call: Call[T]) -> T:
        """Sends one :class:`~skms.client.Call` (what every method does) and returns its parsed result."""
        for attempt in itertools.count():
            with core.transport_errors(self._config, call):
                response = await self._http.request(
                    call.method, call.path, content=call.body, params=call.params, headers=call.headers
                )
            delay = core.retry_delay(call, response, attempt, self._config.retries)
            if delay is None:
                return core.finish(call, response)
            await anyio.sleep(delay)
        raise AssertionError("unreachable")

    # -- iterators -------------------------------------------------------------------------------

    async def iter_keys(
        self,
        *,
        page_size: int = 100,
        type: str | None = None,
        state: str | None = None,
        prefix: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> AsyncIterator[m.Key]:
        """Every key that matches, page after page."""
        cursor: str | None = None
        while True:
            page = await self.send(
                core.list_keys(limit=page_size, cursor=cursor, type=type, state=state, prefix=prefix, labels=labels)
            )
            for key in page.keys:
                yield key
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def iter_addresses(
        self,
        name: str,
        chain: str,
        *,
        count: int,
        start: int = 0,
        chunk: int = core.ADDRESS_CHUNK,
        account: int = 0,
        change: int = 0,
        kind: str | None = None,
        network: str = "mainnet",
    ) -> AsyncIterator[list[m.Address]]:
        """``count`` addresses from ``start``, fetched and yielded ``chunk`` at a time."""
        for first, size in core.chunks(start, count, chunk):
            yield await self.send(
                core.wallet_addresses(
                    name, chain, account=account, change=change, start=first, count=size, kind=kind, network=network
                )
            )

    # -- keys ----------------------------------------------------------------------------------------
    create_key = _op(core.create_key)
    list_keys = _op(core.list_keys)
    get_key = _op(core.get_key)
    update_key = _op(core.update_key)
    rotate_key = _op(core.rotate_key)
    set_key_state = _op(core.set_key_state)
    schedule_deletion = _op(core.schedule_deletion)
    cancel_deletion = _op(core.cancel_deletion)
    # -- crypto --------------------------------------------------------------------------------------
    encrypt = _op(core.encrypt)
    encrypt_batch = _op(core.encrypt_batch)
    decrypt = _op(core.decrypt)
    decrypt_batch = _op(core.decrypt_batch)
    rewrap = _op(core.rewrap)
    rewrap_batch = _op(core.rewrap_batch)
    datakey = _op(core.datakey)
    sign = _op(core.sign)
    sign_batch = _op(core.sign_batch)
    verify = _op(core.verify)
    verify_batch = _op(core.verify_batch)
    hmac = _op(core.hmac)
    hmac_batch = _op(core.hmac_batch)
    verify_hmac = _op(core.verify_hmac)
    verify_hmac_batch = _op(core.verify_hmac_batch)
    encapsulate = _op(core.encapsulate)
    decapsulate = _op(core.decapsulate)
    # -- wallets -------------------------------------------------------------------------------------
    create_wallet = _op(core.create_wallet)
    import_wallet = _op(core.import_wallet)
    get_wallet = _op(core.get_wallet)
    wallet_xpub = _op(core.wallet_xpub)
    wallet_addresses = _op(core.wallet_addresses)
    wallet_sign = _op(core.wallet_sign)
    # -- random, hash, sys ---------------------------------------------------------------------------
    random = _op(core.random)
    hash = _op(core.hash)
    backup = _op(core.backup)
    register_backup_recipient = _op(core.register_backup_recipient)
    list_backup_recipients = _op(core.list_backup_recipients)
    delete_backup_recipient = _op(core.delete_backup_recipient)
    restore = _op(core.restore)
    create_api_key = _op(core.create_api_key)
    list_api_keys = _op(core.list_api_keys)
    revoke_api_key = _op(core.revoke_api_key)
    put_policy = _op(core.put_policy)
    get_policy = _op(core.get_policy)
    list_policies = _op(core.list_policies)
    delete_policy = _op(core.delete_policy)
    bind_principal = _op(core.bind_principal)
    get_binding = _op(core.get_binding)
    simulate = _op(core.simulate)
    audit = _op(core.audit)
    verify_audit = _op(core.verify_audit)
    health = _op(core.health)
    ready = _op(core.ready)
    seal_status = _op(core.seal_status)
    init = _op(core.init)
    unseal = _op(core.unseal)
    seal = _op(core.seal)
    rotate_root = _op(core.rotate_root)
    metrics = _op(core.metrics)
