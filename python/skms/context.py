"""Per-request context shared by the layers: set by the API, read by the security layer."""

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str = "-"
    source: str | None = None


_NO_REQUEST = RequestContext()
CURRENT: contextvars.ContextVar[RequestContext] = contextvars.ContextVar("skms_request", default=_NO_REQUEST)
#: True while a guarded service call runs: nested service calls are part of it.
GUARDED: contextvars.ContextVar[bool] = contextvars.ContextVar("skms_guarded", default=False)
