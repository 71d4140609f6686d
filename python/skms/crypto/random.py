"""The CSPRNG behind key generation, pluggable so that an HSM can add to it.

Nonces for AEAD encryption come from the OS directly (``os.urandom``): they need
uniqueness, not a particular source, and the hot path should not pay for a
lookup. Key material comes from :func:`random_secret` (and :func:`random_bytes`),
which ask the source set by :func:`set_random_source` (the OS by default).

A source other than the OS is *mixed* with the OS, never used alone: each byte drawn
is ``OS byte XOR source byte``. The XOR of two independent inputs is uniform as soon
as either one is, so a token whose generator is weak or backdoored cannot weaken a
key (it never sees the OS half), and neither can a starved or broken OS generator
while the token's is sound. The source's half is a Python ``bytes`` object (the
token hands its bytes over as one); it is wiped after mixing.

A source other than the OS may block (an HSM answers over PKCS#11: microseconds on
SoftHSM2, a network round trip on a network HSM). Coroutines therefore draw through
:func:`random_secret_async`, and run generations that draw inside a key class
(``generate()``) through :func:`run_generation`, which draws ahead asynchronously: both
are as fast as before from the OS, and never wait for a token on the event loop.
"""

import asyncio
import os
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Protocol, TypeVar

from skms._native import SecretBytes
from skms.crypto.memory import wipe
from skms.errors import InternalError, InvalidType

T = TypeVar("T")


class RandomSource(Protocol):
    """Anything that returns ``n`` uniformly random bytes.

    A source may also have ``async random_bytes_async(n)``, used by coroutines instead of a
    thread around ``random_bytes`` (the HSM's answers it on its own worker threads).
    """

    def random_bytes(self, n: int) -> bytes: ...


class OsRandom:
    """The operating system's CSPRNG (getrandom(2) on Linux)."""

    def random_bytes(self, n: int) -> bytes:
        return os.urandom(n)


_source: RandomSource = OsRandom()


def set_random_source(source: RandomSource) -> None:
    """Mix ``source`` into every later key generation in this process (``OsRandom()``: the OS alone)."""
    global _source
    if not callable(getattr(source, "random_bytes", None)):
        raise InvalidType("a random source has a random_bytes(n) method")
    _source = source


def get_random_source() -> RandomSource:
    return _source


def _checked(data: object, n: int) -> bytes:
    if not isinstance(data, bytes) or len(data) != n:
        got = f"{len(data)} bytes" if isinstance(data, bytes) else f"a {type(data).__name__}"
        raise InternalError(f"the random source returned {got} instead of {n} bytes")
    return data


def _mixed(drawn: bytes | bytearray, n: int, at: int = 0) -> SecretBytes:
    """OS random XOR ``drawn[at:at + n]``, in a zeroizing buffer (the caller wipes ``drawn``)."""
    buffer = SecretBytes.random(n).expose_bytearray()
    try:
        for i in range(n):  # ints 0..255 are shared objects: no copy of a key byte is left behind
            buffer[i] ^= drawn[at + i]
        return SecretBytes(buffer)
    finally:
        wipe(buffer)


def _wipe(drawn: bytes) -> None:
    if len(drawn) > 1:  # b"" and 1-byte objects are shared singletons
        wipe(drawn)


class _Prefetched:
    """Source bytes drawn ahead of a synchronous generation (see :func:`run_generation`)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, n: int) -> SecretBytes | None:
        if self.at + n > len(self.data):
            return None
        secret = _mixed(self.data, n, self.at)
        self.at += n
        return secret


_prefetched: ContextVar[_Prefetched | None] = ContextVar("skms_prefetched_random", default=None)

#: Bytes :func:`run_generation` draws ahead: the most one generation takes (64: ML-KEM seeds,
#: Ed25519+ML-DSA-65, HMAC-SHA512), twice over for a rejection-sampling retry.
PREFETCH = 128


def random_bytes(n: int) -> bytes:
    """``n`` random bytes for a caller that wants a ``bytes`` object (not for keys SKMS keeps)."""
    if type(_source) is OsRandom:
        return os.urandom(n)
    drawn = _checked(_source.random_bytes(n), n)
    return (int.from_bytes(os.urandom(n), "big") ^ int.from_bytes(drawn, "big")).to_bytes(n, "big")


async def random_bytes_async(n: int) -> bytes:
    """:func:`random_bytes` for coroutines: a blocking source is asked off the event loop."""
    if type(_source) is OsRandom:
        return os.urandom(n)
    drawn = _checked(await _draw_async(n), n)
    return (int.from_bytes(os.urandom(n), "big") ^ int.from_bytes(drawn, "big")).to_bytes(n, "big")


def random_secret(n: int) -> SecretBytes:
    """``n`` random bytes in a zeroizing buffer: every generation of key material draws here.

    From the OS source they are drawn natively: no copy of a new key is ever a Python object.
    Another source is mixed in (OS XOR source), from the bytes :func:`run_generation` drew ahead
    when there are, else by a blocking call (coroutines use :func:`random_secret_async`).
    """
    if type(_source) is OsRandom:
        return SecretBytes.random(n)
    ahead = _prefetched.get()
    if ahead is not None:
        secret = ahead.take(n)
        if secret is not None:
            return secret
    drawn = _checked(_source.random_bytes(n), n)
    try:
        return _mixed(drawn, n)
    finally:
        _wipe(drawn)


async def random_secret_async(n: int) -> SecretBytes:
    """:func:`random_secret` for coroutines: a blocking source is asked off the event loop."""
    if type(_source) is OsRandom:
        return SecretBytes.random(n)
    drawn = _checked(await _draw_async(n), n)
    try:
        return _mixed(drawn, n)
    finally:
        _wipe(drawn)


def _draw_async(n: int) -> Awaitable[bytes]:
    source = _source
    fetch: Callable[[int], Awaitable[bytes]] | None = getattr(source, "random_bytes_async", None)
    return fetch(n) if fetch is not None else asyncio.to_thread(source.random_bytes, n)


async def run_generation(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)``, a synchronous generation that draws from :func:`random_secret`.

    From the OS it is simply called. From another source, :data:`PREFETCH` bytes are drawn
    first without blocking the event loop, and ``fn`` takes its bytes from them; then it runs on
    the loop's thread as it does from the OS (not on a thread of its own: what a library frees
    there stays in that thread's idle malloc arena, where no later work overwrites it).
    """
    if type(_source) is OsRandom:
        return fn(*args)
    drawn = _checked(await _draw_async(PREFETCH), PREFETCH)
    token = _prefetched.set(_Prefetched(drawn))
    try:
        return fn(*args)
    finally:
        _prefetched.reset(token)
        _wipe(drawn)


__all__ = [
    "PREFETCH",
    "OsRandom",
    "RandomSource",
    "get_random_source",
    "random_bytes",
    "random_bytes_async",
    "random_secret",
    "random_secret_async",
    "run_generation",
    "set_random_source",
]
