"""The token's generator as a :class:`skms.crypto.random.RandomSource` (issue 14, item 7).

Off by default: ``set_random_source(HsmRandom(hsm))`` makes every later key generation of the
process draw from ``C_GenerateRandom`` instead of the OS. Nothing in the server does that yet
(the ``hsm_random`` setting is validated, and the key service will read it).
"""

from __future__ import annotations

from skms.hsm.token import Hsm


class HsmRandom:
    """``random_bytes(n)``: ``n`` bytes from the token (a blocking call of a few microseconds on
    SoftHSM2; a network HSM costs a round trip). Errors are :class:`skms.errors.HsmError`\\s, never
    a silent fallback to another source."""

    def __init__(self, hsm: Hsm) -> None:
        self.hsm = hsm

    def random_bytes(self, n: int) -> bytes:
        return self.hsm.random_bytes(n)

    def __repr__(self) -> str:
        return f"HsmRandom({self.hsm!r})"


__all__ = ["HsmRandom"]
