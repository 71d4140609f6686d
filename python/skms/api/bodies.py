"""Request bodies are read whole, within a size, a time and a nesting bound, before any decoding.

A body larger than ``max_body_bytes`` answers 413 before it is read (when Content-Length says
so) or as soon as it grows past the limit; a body that does not arrive within ``body_timeout``
seconds answers 408, so a slow client cannot hold a worker's slot; a JSON body nested deeper
than ``max_json_depth`` answers 400 before a recursive decoder sees it.
"""

import asyncio
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPRequestEvent, Receive, ReceiveMessage, Scope, Send

from skms.api.problems import TYPE_BASE, send_problem

#: Methods whose requests carry a body.
WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_OPENERS = b"[{"
#: Normalizes brackets to ( and ), and drops every other byte.
_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def too_deep(body: bytes, limit: int) -> bool:
    """True when a JSON text nests arrays and objects more than ``limit`` deep, or its brackets
    outside strings do not balance (then it is not JSON and the decoder would refuse it anyway).

    Linear in the body: each pass over the bracket skeleton removes one level of nesting.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # cannot nest deeper than it has brackets
    # Brackets inside strings do not count: drop escaped backslashes and quotes, then strings.
    text = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    parts = text.split(b'"')
    skeleton = b"".join(parts[::2]).translate(_BRACKETS, _NOT_BRACKETS)
    for _ in range(limit):
        shorter = skeleton.replace(b"()", b"")
        if len(shorter) == len(skeleton):
            break
        skeleton = shorter
    return bool(skeleton)


async def refuse(send: Send, status: int, kind: str, detail: str, *, close: bool = True) -> None:
    """A problem answer from this middleware; ``close`` when the body was not read (nor will be)."""
    title = "".join(word.capitalize() for word in kind.split("-"))
    problem: dict[str, Any] = {"type": TYPE_BASE + kind, "title": title, "status": status, "detail": detail}
    if status == 400:
        problem["field"] = "body"
    await send_problem(send, problem, {b"connection": b"close"} if close else None)


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ConnectionAbortedError  # the client went away
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class BodyMiddleware:
    """Reads the body of a request whole and checks it before the app decodes it, then replays it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope.get("method") not in WITH_BODY:
            await self.app(scope, receive, send)
            return
        settings = scope["app"].state.settings
        limit: int = settings.max_body_bytes
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or len(length) > 18 or int(length) > limit):
            await refuse(send, 413, "payload-too-large", f"the request body is over the {limit}-byte limit")
            return
        try:
            async with asyncio.timeout(settings.body_timeout):
                body = await read_body(receive, limit)
        except BodyTooLarge:
            await refuse(send, 413, "payload-too-large", f"the request body is over the {limit}-byte limit")
            return
        except TimeoutError:
            detail = f"the request body did not arrive within {settings.body_timeout:g} s"
            await refuse(send, 408, "request-timeout", detail)
            return
        except ConnectionAbortedError:
            return
        depth: int = settings.max_json_depth
        if too_deep(body, depth):
            detail = f"the JSON body nests deeper than {depth} levels (max_json_depth), or is not JSON"
            await refuse(send, 400, "invalid-input", detail, close=False)
            return
        replayed = False

        async def replay() -> ReceiveMessage:
            nonlocal replayed
            if not replayed:
                replayed = True
                whole: HTTPRequestEvent = {"type": "http.request", "body": body, "more_body": False}
                return whole
            return await receive()

        await self.app(scope, replay, send)
