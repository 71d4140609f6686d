"""Cross-node cache invalidation over Redis pub/sub.

Every node keeps key metadata (which version is newest, the policy, the state) in a short-lived
cache. When a node changes a key, :class:`RedisInvalidation` publishes the key's tenant and name
on a channel; every other node drops its cached metadata and decrypted material of that key, so
a rotation on one node is used by all of them at once rather than after the cache's time to live.

Only ``node id \\0 tenant \\0 name`` travels through Redis: never key material, never secrets.
Each node skips its own messages by the node id. If Redis is unreachable, nodes fall back to the
metadata time to live; after a reconnection (when messages may have been missed) a node drops its
whole cache.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from skms.errors import InvalidInput

if TYPE_CHECKING:
    from skms.keys.service import KeyService

log = logging.getLogger("skms.redis")

CHANNEL = "skms:invalidate"
MAX_PENDING = 10_000
_SEP = "\0"


class RedisInvalidation:
    """Publishes this node's key changes and applies the other nodes' (``start`` / ``stop``)."""

    def __init__(
        self,
        url: str,
        service: "KeyService",
        *,
        channel: str = CHANNEL,
        node_id: str | None = None,
        retry_delay: float = 0.5,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise InvalidInput("the Redis URL must start with redis://, rediss:// or unix://")
        self.url = url
        self.service = service
        self.channel = channel
        self.node_id = node_id or uuid.uuid4().hex
        self.retry_delay = retry_delay
        self._client: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._queue: asyncio.Queue[str] = asyncio.Queue(MAX_PENDING)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        #: Also told of every other node's (tenant, name), after the key cache: the API-key
        #: manager's ``forget`` hears revocations here (see skms.auth.api_keys.REVOCATION_SCOPE).
        self.listeners: list[Callable[[str, str], None]] = []
        #: Messages applied from other nodes (for metrics and tests).
        self.received = 0
        self.published = 0

    def __repr__(self) -> str:
        return f"<RedisInvalidation node={self.node_id} channel={self.channel!r}>"

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribes (returns once the subscription is live) and hooks into the service's changes."""
        if self._tasks:
            return
        self._loop = asyncio.get_running_loop()
        self._client = aioredis.Redis.from_url(
            self.url, health_check_interval=30, client_name=f"skms-invalidation-{self.node_id}"
        )
        self._pubsub = await self._subscribe()
        self.service.on_change.append(self._on_change)
        self._tasks = [
            asyncio.create_task(self._listen(), name="skms-redis-listen"),
            asyncio.create_task(self._publish(), name="skms-redis-publish"),
        ]

    async def stop(self, drain: float = 1.0) -> None:
        """Unhooks, sends what is still queued (for at most ``drain`` seconds), and disconnects."""
        with contextlib.suppress(ValueError):
            self.service.on_change.remove(self._on_change)
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), drain)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
            self._pubsub = None
        if self._client is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._client.aclose()
            self._client = None

    async def _subscribe(self) -> Any:
        assert self._client is not None
        pubsub: Any = self._client.pubsub()
        await pubsub.subscribe(self.channel)
        # Wait for Redis to confirm, so that no change made after start() returns is missed.
        while True:
            message = await pubsub.get_message(timeout=5.0)
            if message is None:
                await pubsub.aclose()
                raise TimeoutError("Redis did not confirm the subscription")
            if message["type"] == "subscribe":
                return pubsub

    # -- publishing ---------------------------------------------------------------------------------

    def _on_change(self, tenant: str, name: str) -> None:
        """The service's hook: runs after a write was committed, so it must never raise."""
        message = f"{self.node_id}{_SEP}{tenant}{_SEP}{name}"
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        try:
            if running is loop:
                self._enqueue(message)
            else:
                loop.call_soon_threadsafe(self._enqueue, message)
        except RuntimeError:  # the loop closed in between
            log.warning("a key invalidation was not published: the event loop is closed")

    def _enqueue(self, message: str) -> None:
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("the Redis invalidation queue is full: other nodes fall back to their cache TTL")

    async def _publish(self) -> None:
        assert self._client is not None
        while True:
            message = await self._queue.get()
            try:
                while True:
                    try:
                        await self._client.publish(self.channel, message.encode())
                        self.published += 1
                        break
                    except (RedisError, OSError) as e:
                        log.warning("publishing a key invalidation to Redis failed (%s); retrying", type(e).__name__)
                        await asyncio.sleep(self.retry_delay)
            finally:
                self._queue.task_done()

    # -- receiving ----------------------------------------------------------------------------------

    async def _listen(self) -> None:
        while True:
            try:
                if self._pubsub is None:
                    self._pubsub = await self._subscribe()
                    self._missed("resubscribed")
                while True:
                    message = await self._pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._handle(message)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as e:
                log.warning("the Redis invalidation subscription broke (%s); reconnecting", type(e).__name__)
                if self._pubsub is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await self._pubsub.aclose()
                    self._pubsub = None
                await asyncio.sleep(self.retry_delay)

    def _missed(self, why: str) -> None:
        """Messages may have been lost: forget every cached key (they are read again on use)."""
        log.info("Redis invalidation %s: dropping the key cache", why)
        self.service.purge()

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            # redis-py reconnected and subscribed again by itself: changes in between were missed.
            self._missed("reconnected")
            return
        if kind != "message":
            return
        data = message.get("data")
        try:
            text = data.decode() if isinstance(data, bytes) else str(data)
            node, tenant, name = text.split(_SEP, 2)
        except (UnicodeDecodeError, ValueError):
            log.debug("ignored a malformed invalidation message")
            return
        if node == self.node_id:
            return
        self.service.invalidate(tenant, name)
        for listener in self.listeners:
            listener(tenant, name)
        self.received += 1


__all__ = ["CHANNEL", "RedisInvalidation"]
