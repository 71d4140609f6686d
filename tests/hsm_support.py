"""A real SoftHSM2 token for the HSM tests, fresh for each test session.

``softhsm`` (session scope) writes a temporary ``SOFTHSM2_CONF`` whose ``directories.tokendir``
is a temporary directory, points this process at it (SoftHSM2 reads the variable when the
library is initialised, which happens only after this fixture) and initialises the token
``skms-test`` with ``softhsm2-util --init-token``. Without SoftHSM2 or python-pkcs11 the tests
skip, or fail in strict mode (``SKMS_TEST_STRICT=1``, as ``.ci/run`` runs them).

``hsm`` is an :class:`skms.hsm.Hsm` on that token for one test, closed after it. Tests that
pull a token away use a token of their own (:data:`OWN_TOKENS`, made with the shared one), so
the others never see it. Loaded by ``tests/conftest.py`` as a plugin: python-pkcs11 is not
imported at load time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conftest import require_service, strict_mode

if TYPE_CHECKING:
    from skms.hsm import Hsm, HsmConfig

#: The environment variable the tests' HsmConfig reads the PIN from.
PIN_ENV = "SKMS_TEST_HSM_PIN"
LABEL = "skms-test"
PIN = "1234"
SO_PIN = "5678"
#: Tokens of single tests (wrong PIN, pulled away, deleted): the shared one never sees those.
OWN_TOKENS = ("skms-wrongpin", "skms-unplug", "skms-recreate")


def missing(message: str) -> None:
    """Skips the calling test, or fails it in strict mode (as :func:`conftest.require_service`)."""
    if strict_mode():
        pytest.fail(f"SKMS_TEST_STRICT=1: {message}", pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class SoftHsm:
    """A SoftHSM2 installation with its own token directory."""

    module: str
    conf: Path
    tokendir: Path
    label: str = LABEL

    def util(self, *args: str) -> str:
        """Runs ``softhsm2-util`` on this token directory; its output."""
        done = subprocess.run(
            ["softhsm2-util", *args],
            env={**os.environ, "SOFTHSM2_CONF": str(self.conf)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"softhsm2-util {' '.join(args[:2])} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def init_token(self, label: str, pin: str = PIN) -> None:
        self.util("--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", SO_PIN)

    def delete_token(self, label: str) -> None:
        self.util("--delete-token", "--token", label)

    def token_dir(self, label: str) -> Path:
        """The directory SoftHSM2 keeps token ``label`` in (named by the token's serial)."""
        serial = self.serial(label)
        found = [d for d in self.tokendir.iterdir() if d.name.replace("-", "").endswith(serial)]
        assert len(found) == 1, f"token {label!r} (serial {serial}) not found in {self.tokendir}"
        return found[0]

    def serial(self, label: str) -> str:
        """The serial number of token ``label``, from ``softhsm2-util --show-slots``."""
        current_serial = ""
        for line in self.util("--show-slots").splitlines():
            key, _, value = line.strip().partition(":")
            if key.strip() == "Serial number":
                current_serial = value.strip()
            if key.strip() == "Label" and value.strip() == label:
                return current_serial
        raise AssertionError(f"no token {label!r}")

    def config(self, label: str | None = None, **overrides: object) -> HsmConfig:
        from skms.hsm import HsmConfig

        fields: dict[str, object] = {"module": self.module, "token_label": label or self.label, "pin_env": PIN_ENV}
        fields.update(overrides)
        return HsmConfig(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    module = require_service("softhsm")
    if shutil.which("softhsm2-util") is None:
        missing("softhsm2-util is not installed (apt-get install softhsm2)")
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        missing("python-pkcs11 is not installed (pip install 'skms[hsm]')")
    root = tmp_path_factory.mktemp("softhsm")
    tokendir = root / "tokens"
    tokendir.mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokendir}\nobjectstore.backend = file\nlog.level = ERROR\n")
    saved = {name: os.environ.get(name) for name in ("SOFTHSM2_CONF", PIN_ENV)}
    os.environ["SOFTHSM2_CONF"] = str(conf)
    os.environ[PIN_ENV] = PIN
    token = SoftHsm(module, conf, tokendir)
    # Every token before the library is first loaded: SoftHSM2 finds tokens at C_Initialize.
    for label in (LABEL, *OWN_TOKENS):
        token.init_token(label)
    try:
        yield token
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def hsm(softhsm: SoftHsm) -> Iterator[Hsm]:
    from skms.hsm import Hsm

    pool = Hsm(softhsm.config())
    try:
        yield pool
    finally:
        pool.close()
