"""PKCS#11 hardware security modules, through python-pkcs11 (the ``skms[hsm]`` extra).

* :class:`HsmConfig`: module path, token label or serial, where the PIN is (a variable's name or
  a file; never the PIN itself).
* :class:`Hsm`: the token through a bounded pool of logged-in sessions per process, every call
  off the event loop; errors are :mod:`skms.errors` ``Hsm*`` classes (:mod:`skms.hsm.ckr` maps
  each ``CKR_*``), and the pool logs in again once a token that went away is back.
* :class:`HsmRandom`: the token's generator as a random source for key generation.

Only :class:`HsmConfig` is imported eagerly, so settings validate without the extra installed;
the other names import python-pkcs11 when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from skms.hsm.config import HsmConfig

if TYPE_CHECKING:
    from skms.hsm.ckr import hsm_error
    from skms.hsm.kinds import KeyKind, KeyPair, KeyRef, ecdsa_der
    from skms.hsm.random import HsmRandom
    from skms.hsm.token import Hsm

_LAZY = {
    "Hsm": "skms.hsm.token",
    "HsmRandom": "skms.hsm.random",
    "KeyKind": "skms.hsm.kinds",
    "KeyPair": "skms.hsm.kinds",
    "KeyRef": "skms.hsm.kinds",
    "ecdsa_der": "skms.hsm.kinds",
    "hsm_error": "skms.hsm.ckr",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skms.hsm' has no attribute {name!r}")


__all__ = ["Hsm", "HsmConfig", "HsmRandom", "KeyKind", "KeyPair", "KeyRef", "ecdsa_der", "hsm_error"]
