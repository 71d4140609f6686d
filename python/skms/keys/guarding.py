"""The authorization and audit seam of the key service: :class:`Guard` and the :func:`guarded` decorator.

Allow-all until the security layer (``skms.authz.guard.SecurityGuard``) replaces the service's guard,
so every interface gets the same answer.
"""

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from skms.context import GUARDED

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class Guard:
    """Authorization and audit seam: allow-all without a record. The security layer subclasses it."""

    async def run(
        self,
        principal: object,
        action: str,
        tenant: str,
        resource: str,
        call: Callable[[], Awaitable[T]],
        inputs: Sequence[bytes | str],
    ) -> T:
        """Authorizes, runs ``call``, records the outcome, and only then returns the result."""
        return await call()

    async def check(self, principal: object, action: str, tenant: str, resource: str) -> None:
        """Authorizes (and records) an action outside a guarded call; a no-op inside one."""
        return None


def guarded(action: str, named: bool = True) -> Callable[[F], F]:
    """Runs a service method through the guard: ``tenant`` and ``name`` are its first two arguments.

    Calls made while another guarded call runs (rewrap → decrypt, encrypt) are part of it.
    """
    kind = action.partition(":")[0]

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        async def run_guarded(self: Any, tenant: str, *args: Any, principal: object = None, **kwargs: Any) -> Any:
            if GUARDED.get():
                return await fn(self, tenant, *args, **kwargs)
            resource = f"{kind}:{args[0]}" if named and args else f"{kind}:*"
            inputs = [a for a in args[1:] if isinstance(a, bytes | str)]

            async def call() -> Any:
                token = GUARDED.set(True)
                try:
                    return await fn(self, tenant, *args, **kwargs)
                finally:
                    GUARDED.reset(token)

            return await self.guard.run(principal, action, tenant, resource, call, inputs)

        return run_guarded  # type: ignore[return-value]

    return decorate


__all__ = ["Guard", "guarded"]
