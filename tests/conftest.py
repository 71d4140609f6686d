"""Shared test helpers: test vectors, strict-mode service checks, seeded randomness.

* ``vectors(name)`` loads a file from ``tests/vectors`` (JSON parsed, CSV as a
  list of row dicts), so a clone tests without ``../shared``.
* ``require_service(name)`` finds PostgreSQL, Redis or SoftHSM for a test and
  skips the test when the service is missing, or fails it in strict mode
  (``SKMS_TEST_STRICT=1``, set by ``.ci/run`` and CI).
* ``rng`` is a ``random.Random`` seeded from ``SKMS_TEST_SEED`` (default fixed),
  so a failing random case can be replayed.
"""

from __future__ import annotations

import csv
import json
import os
import random
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import settings

# Fixtures of the key service and storage tests (store per backend, services, fake clock), and
# the SoftHSM2 token of the HSM tests.
pytest_plugins = ["keys_support", "hsm_support"]

VECTORS_DIR = Path(__file__).parent / "vectors"

# A fixed default keeps runs reproducible; set SKMS_TEST_SEED to explore.
DEFAULT_SEED = 20240611
SEED = int(os.environ.get("SKMS_TEST_SEED", DEFAULT_SEED))

# Native calls release the GIL and may be slowed by a parallel build or by
# another test's thread pool: a per-example deadline would only add flakes.
settings.register_profile("skms", deadline=None)
settings.load_profile("skms")


def pytest_report_header() -> list[str]:
    return [f"skms: SKMS_TEST_SEED={SEED}, strict services={strict_mode()}"]


def load_vectors(name: str) -> Any:
    """Loads ``tests/vectors/<name>``: ``.json`` parsed, ``.csv`` as a list of dicts.

    Any other file comes back as ``bytes``. A missing file is an error, never a
    skip: vector files are part of the repository.
    """
    path = VECTORS_DIR / name
    if path.suffix == ".json":
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))
    return path.read_bytes()


@pytest.fixture(scope="session")
def vectors() -> Callable[[str], Any]:
    """The :func:`load_vectors` loader, as a fixture: ``vectors("bip340_test_vectors.csv")``."""
    return load_vectors


@pytest.fixture(scope="session")
def seed() -> int:
    """The run's seed (``SKMS_TEST_SEED``): derive per-test generators from it."""
    return SEED


@pytest.fixture
def rng(seed: int) -> random.Random:
    """A ``random.Random`` seeded from ``SKMS_TEST_SEED`` (same cases on every run)."""
    return random.Random(seed)


def strict_mode() -> bool:
    """True when ``SKMS_TEST_STRICT=1``: missing services fail tests instead of skipping."""
    return os.environ.get("SKMS_TEST_STRICT", "") == "1"


# Where each service is looked for: the environment variable that overrides
# the location, and the default (the service containers of CI use these).
_SERVICES: dict[str, tuple[str, str]] = {
    "postgresql": ("SKMS_TEST_POSTGRES_DSN", "postgresql://postgres:postgres@127.0.0.1:5432/skms"),
    "redis": ("SKMS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "softhsm": ("SKMS_TEST_PKCS11_MODULE", ""),
}
_ALIASES = {"postgres": "postgresql", "pg": "postgresql", "softhsm2": "softhsm", "hsm": "softhsm"}
_SOFTHSM_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)


def _tcp_reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    try:
        with socket.create_connection((host, parts.port or default_port), timeout=1.0):
            return True
    except OSError:
        return False


def _locate(service: str) -> str | None:
    env, default = _SERVICES[service]
    where = os.environ.get(env, default)
    if service == "postgresql":
        return where if _tcp_reachable(where, 5432) else None
    if service == "redis":
        return where if _tcp_reachable(where, 6379) else None
    candidates = (where,) if where else _SOFTHSM_MODULES
    return next((c for c in candidates if Path(c).is_file()), None)


def require_service(name: str) -> str:
    """Returns where service ``name`` is, or stops the calling test when it is missing.

    ``name`` is ``"postgresql"``, ``"redis"`` or ``"softhsm"``. The result is the
    PostgreSQL DSN, the Redis URL or the path of the SoftHSM2 PKCS#11 module
    (overridable with ``SKMS_TEST_POSTGRES_DSN``, ``SKMS_TEST_REDIS_URL`` and
    ``SKMS_TEST_PKCS11_MODULE``). PostgreSQL and Redis count as present when
    their TCP port accepts a connection.

    A missing service skips the test, except in strict mode
    (``SKMS_TEST_STRICT=1``, as CI runs) where the test fails: CI must never
    go green by skipping the tests it exists to run.
    """
    service = _ALIASES.get(name.lower(), name.lower())
    if service not in _SERVICES:
        raise ValueError(f"unknown service {name!r}; expected one of {sorted(_SERVICES)}")
    where = _locate(service)
    if where is not None:
        return where
    env = _SERVICES[service][0]
    message = f"{service} is not available (set {env} to point the tests at it)"
    if strict_mode():
        pytest.fail(f"SKMS_TEST_STRICT=1: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(name="require_service")
def require_service_fixture() -> Callable[[str], str]:
    """:func:`require_service` as a fixture, for tests that prefer not to import conftest."""
    return require_service
