"""Where the HSM is and how to log in to it: validated at construction, with errors that name the setting.

The PIN itself is never held here: only where to read it (an environment variable's name or a
file's path). :meth:`HsmConfig.read_pin` reads it at each login, so a rotated PIN file is picked
up at the next re-login, and no object that could be logged or shown in a ``repr`` carries it.
This module does not import ``pkcs11``, so settings validate without the ``skms[hsm]`` extra.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass

from skms.errors import HsmConfigError

#: CK_TOKEN_INFO holds a 32-byte label and a 16-character serial number.
_LABEL_MAX = 32
_SERIAL_MAX = 16
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Sessions per worker process: at least one, and few enough that a token's session limit is safe.
SESSIONS_MAX = 64
_PIN_MAX = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class HsmConfig:
    """A PKCS#11 module, one token on it (by label or by serial) and where its user PIN is.

    ``pin_env`` is the *name* of an environment variable holding the PIN; ``pin_file`` the
    path of a file holding it (one trailing newline is ignored; the file must not be readable
    by group or others). Exactly one of the two, and exactly one of ``token_label`` and
    ``token_serial``. ``sessions`` bounds the sessions (and threads) of each worker process.
    """

    module: str
    token_label: str | None = None
    token_serial: str | None = None
    pin_env: str | None = None
    pin_file: str | None = None
    sessions: int = 4
    #: The module may be called from several threads at once. python-pkcs11 initialises every
    #: module with C_Initialize(NULL), which promises the opposite, so by default SKMS makes one
    #: call at a time per process; set this only for a module documented as thread-safe that way
    #: (SoftHSM2 is not: it fails concurrent calls with CKR_GENERAL_ERROR).
    parallel: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.module, str) or not self.module:
            raise HsmConfigError("hsm_module must be the path of a PKCS#11 library (.so)")
        if not os.path.isfile(self.module):
            raise HsmConfigError(f"hsm_module {self.module!r}: no such file (the PKCS#11 library of the HSM)")
        if (self.token_label is None) == (self.token_serial is None):
            raise HsmConfigError("name the token by exactly one of hsm_token_label and hsm_token_serial")
        if self.token_label is not None and not 0 < len(self.token_label.encode()) <= _LABEL_MAX:
            raise HsmConfigError(f"hsm_token_label must be 1 to {_LABEL_MAX} bytes, got {self.token_label!r}")
        if self.token_serial is not None and not (
            0 < len(self.token_serial) <= _SERIAL_MAX and self.token_serial.isprintable()
        ):
            raise HsmConfigError(f"hsm_token_serial must be 1 to {_SERIAL_MAX} characters, got {self.token_serial!r}")
        if (self.pin_env is None) == (self.pin_file is None):
            # The PIN itself is never a setting: it would end up on command lines and in config dumps.
            raise HsmConfigError("give exactly one of hsm_pin_env (a variable's name) and hsm_pin_file (a path)")
        if self.pin_env is not None and not _ENV_NAME.fullmatch(self.pin_env):
            raise HsmConfigError(f"hsm_pin_env must be an environment variable's name, got {self.pin_env!r}")
        if self.pin_file is not None and not self.pin_file:
            raise HsmConfigError("hsm_pin_file must be a path")
        if isinstance(self.sessions, bool) or not isinstance(self.sessions, int):
            raise HsmConfigError("hsm_sessions must be an integer")
        if not 1 <= self.sessions <= SESSIONS_MAX:
            raise HsmConfigError(f"hsm_sessions must be 1 to {SESSIONS_MAX}, got {self.sessions}")

    @property
    def token_name(self) -> str:
        """How the token is named in messages: ``label 'x'`` or ``serial 'y'``."""
        return f"label {self.token_label!r}" if self.token_label is not None else f"serial {self.token_serial!r}"

    def read_pin(self) -> str:
        """The user PIN, read now from its variable or file. Errors name the source, never the PIN."""
        if self.pin_env is not None:
            pin = os.environ.get(self.pin_env)
            if not pin:
                raise HsmConfigError(f"the HSM PIN variable {self.pin_env} is not set or empty")
            where = f"variable {self.pin_env}"
        else:
            assert self.pin_file is not None
            try:
                fd = os.open(self.pin_file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            except OSError as e:
                raise HsmConfigError(f"cannot read the HSM PIN file {self.pin_file}: {e.strerror}") from None
            try:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    raise HsmConfigError(f"the HSM PIN file {self.pin_file} is not a regular file")
                if stat.S_IMODE(info.st_mode) & 0o077:
                    raise HsmConfigError(
                        f"the HSM PIN file {self.pin_file} is readable by group or others: chmod 600 it"
                    )
                raw = os.read(fd, _PIN_MAX + 2)
            finally:
                os.close(fd)
            try:
                pin = raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
            except UnicodeDecodeError:
                raise HsmConfigError(f"the HSM PIN file {self.pin_file} is not UTF-8 text") from None
            where = f"file {self.pin_file}"
            if not pin:
                raise HsmConfigError(f"the HSM PIN file {self.pin_file} is empty")
        if len(pin) > _PIN_MAX or not pin.isprintable():
            raise HsmConfigError(f"the HSM PIN in {where} is longer than {_PIN_MAX} characters or not printable")
        return pin


__all__ = ["SESSIONS_MAX", "HsmConfig"]
