"""Problems (``application/problem+json``) back to the exceptions of :mod:`skms.errors`.

A problem whose ``title`` names a class of :mod:`skms.errors` raises a subclass of that class
(``except skms.errors.NotFound`` works) that also carries :class:`ProblemDetails`: ``status``,
``field``, ``type``, ``request_id`` and the decoded ``problem``. Validation errors raise
:class:`~skms.errors.InvalidInput`; other titles fall back on the HTTP status, then on
:class:`~skms.errors.SKMSError`.
"""

from typing import Any

import msgspec

from skms import errors
from skms.client.models import Problem

#: Library classes by name, for ``title`` lookup.
_LIBRARY: dict[str, type[errors.SKMSError]] = {
    name: cls
    for name in errors.__all__
    if isinstance(cls := getattr(errors, name), type) and issubclass(cls, errors.SKMSError)
}

#: Titles that are not library class names (framework validation and HTTP errors).
_BY_TITLE: dict[str, type[errors.SKMSError]] = {"ValidationError": errors.InvalidInput}

#: Fallback for other titles, by HTTP status.
_BY_STATUS: dict[int, type[errors.SKMSError]] = {
    400: errors.InvalidInput,
    401: errors.Unauthenticated,
    403: errors.Forbidden,
    404: errors.NotFound,
    405: errors.UnsupportedOperation,
    409: errors.Conflict,
    413: errors.InvalidInput,
    415: errors.InvalidInput,
    422: errors.InvalidInput,
}


class ProblemDetails:
    """Mixin of every exception raised for an HTTP problem: what the server said, beyond the message."""

    problem: Problem
    request_id: str | None

    @property
    def status(self) -> int:
        return self.problem.status

    @property
    def title(self) -> str:
        return self.problem.title

    @property
    def detail(self) -> str:
        return self.problem.detail

    @property
    def field(self) -> str | None:
        return self.problem.field

    @property
    def type(self) -> str:
        return self.problem.type

    def __reduce__(self) -> tuple[Any, tuple[Problem, str | None]]:
        return error_from_problem, (self.problem, self.request_id)


class TransportError(errors.SKMSError):
    """The server could not be reached, timed out, or answered something that is not SKMS."""


_CLASSES: dict[type[errors.SKMSError], type[errors.SKMSError]] = {}


def _with_details(base: type[errors.SKMSError]) -> type[errors.SKMSError]:
    cls = _CLASSES.get(base)
    if cls is None:
        namespace: dict[str, Any] = {"__module__": __name__, "__doc__": base.__doc__, "__qualname__": base.__name__}
        cls = type(base.__name__, (ProblemDetails, base), namespace)
        _CLASSES[base] = cls
    return cls


def error_class(title: str, status: int) -> type[errors.SKMSError]:
    """The library class for a problem ``title`` (falling back on ``status``)."""
    return _LIBRARY.get(title) or _BY_TITLE.get(title) or _BY_STATUS.get(status) or errors.SKMSError


def error_from_problem(problem: Problem, request_id: str | None = None) -> errors.SKMSError:
    """The exception for ``problem``: a subclass of the library class with :class:`ProblemDetails`."""
    cls = _with_details(error_class(problem.title, problem.status))
    exc = cls(problem.detail or problem.title)
    details: Any = exc
    details.problem = problem
    details.request_id = request_id
    return exc


def error_from_response(status: int, content_type: str, body: bytes, request_id: str | None) -> errors.SKMSError:
    """The exception for an error response, problem+json or not."""
    problem: Problem | None = None
    if "json" in content_type:
        try:
            problem = msgspec.json.decode(body, type=Problem)
        except msgspec.DecodeError:
            problem = None
    if problem is None:
        text = body[:200].decode("utf-8", "replace").strip() or f"HTTP {status}"
        problem = Problem(title=f"HTTP {status}", status=status, detail=text)
    elif problem.status != status:
        problem = msgspec.structs.replace(problem, status=status)
    return error_from_problem(problem, request_id)


__all__ = ["ProblemDetails", "TransportError", "error_class", "error_from_problem", "error_from_response"]
