"""The token's generator as a :class:`skms.crypto.random.RandomSource` (issue 14, item 7).

Off by default. With the ``hsm_random`` setting the server calls
``set_random_source(HsmRandom(hsm))`` at start, and every later key generation of the process
mixes ``C_GenerateRandom`` output into the OS's (:mod:`skms.crypto.random` says why it mixes).
"""

from __future__ import annotations

import asyncio
import logging

from skms.hsm.token import Hsm

log = logging.getLogger("skms.hsm")


class HsmRandom:
    """``random_bytes(n)``: ``n`` bytes from the token (a blocking call of a few microseconds on
    SoftHSM2; a network HSM costs a round trip); ``random_bytes_async(n)`` the same through the
    HSM's worker threads. Errors are :class:`skms.errors.HsmError`\\s, never a silent fallback to
    another source."""

    def __init__(self, hsm: Hsm) -> None:
        self.hsm = hsm
        #: Blocking draws made on a thread that runs an event loop (each one stalled the loop): a
        #: generation that should have gone through run_generation or random_secret_async, or one
        #: that took more than run_generation drew ahead.
        self.loop_blocked = 0

    def random_bytes(self, n: int) -> bytes:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            self.loop_blocked += 1
            if self.loop_blocked == 1:
                log.warning("hsm_random: a key generation asked the token on the event loop (it blocked the loop)")
        return self.hsm.random_bytes(n)

    async def random_bytes_async(self, n: int) -> bytes:
        return await self.hsm.generate_random(n)

    def __repr__(self) -> str:
        return f"HsmRandom({self.hsm!r})"


__all__ = ["HsmRandom"]
