"""Dependencies the handlers receive: the key service and the calling principal."""

from typing import Any

from litestar import Request
from litestar.datastructures import State

from skms.auth import Principal
from skms.errors import InvalidInput, Unauthenticated
from skms.keys import KeyService

ANONYMOUS = Principal("anonymous", "-")


def context(request: Request[Any, Any, Any], authenticated: bool = True) -> tuple[KeyService, Principal]:
    """The key service and the caller, read from the app state and the scope.

    Handlers read them here rather than through dependency injection, which resolves
    several dependencies in a task group: that cost more than the signature itself.
    """
    service: KeyService = request.scope["app"].state.service
    user = request.scope.get("user")
    if not isinstance(user, Principal):
        if authenticated:
            raise Unauthenticated("authentication required: send Authorization: Bearer <api-key>")
        return service, ANONYMOUS
    return service, user


def check_batch(items: list[Any] | None, state: State) -> list[Any]:
    items = items or []
    limit: int = state.settings.max_batch
    if not items:
        raise InvalidInput("batch is empty")
    if len(items) > limit:
        raise InvalidInput(f"batch has {len(items)} items; the limit is {limit}")
    return items
