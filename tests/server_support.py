"""A real SKMS server process for tests: ``skms serve`` on a free port, stopped at the end.

Test modules load it with ``pytest_plugins = ["server_support"]``. It gives:

* ``skms_server`` (session): ``skms serve --dev`` on a temporary data dir, unsealed, with its
  admin token read from ``DATA_DIR/admin-token``;
* ``blank_server`` (per test): ``skms serve`` on an empty store, not initialized (for ``init``,
  ``unseal`` and ``seal``);
* ``unused_addr``: an address where nothing listens;
* :func:`start_server` / :meth:`ServerProcess.stop` to run more.

Each server runs in its own process group (``start_new_session``), which ``stop`` terminates
(then kills), so granian's workers go with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

#: Seconds a server may take to answer /v1/sys/health.
START_TIMEOUT = 60.0


def skms_executable() -> str:
    """The ``skms`` script of the running interpreter's environment."""
    candidate = Path(sys.executable).parent / "skms"
    if candidate.exists():
        return str(candidate)
    raise RuntimeError(f"no skms command beside {sys.executable}: install the package (pip install -e .)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    addr: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    token: str | None = field(default=None, repr=False)

    def env(self, token: str | None = None) -> dict[str, str]:
        """The environment for ``skms`` commands aimed at this server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SKMS_")}
        env["SKMS_ADDR"] = self.addr
        chosen = token if token is not None else self.token
        if chosen:
            env["SKMS_TOKEN"] = chosen
        env["COLUMNS"] = "200"
        return env

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def start_server(
    data_dir: Path, *, dev: bool = True, workers: int = 1, extra_env: dict[str, str] | None = None
) -> ServerProcess:
    """Starts ``skms serve`` on a free port and waits for ``/v1/sys/health``.

    ``extra_env``: more variables for the server (settings such as ``SKMS_HSM_MODULE``, a PIN variable).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKMS_")}
    env["SKMS_LOG_LEVEL"] = "WARNING"
    args = [skms_executable(), "serve", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}"]
    args += ["--workers", str(workers)]
    if dev:
        args.append("--dev")
    else:
        env["SKMS_DATABASE_URL"] = f"sqlite:///{data_dir / 'skms.db'}"
    env.update(extra_env or {})
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", data_dir, process, log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"skms serve exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.addr}/v1/sys/health", timeout=1.0).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"skms serve did not become healthy in {START_TIMEOUT} s:\n{server.log()}")
        time.sleep(0.05)
    if dev:
        server.token = (data_dir / "admin-token").read_text().strip()
    return server


@pytest.fixture(scope="session")
def skms_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One development server (unsealed, with an admin token) for the whole session."""
    server = start_server(tmp_path_factory.mktemp("skms-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def unused_addr() -> str:
    """An address where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def blank_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server on a new, uninitialized store (``token`` is ``None`` until a test runs ``init``)."""
    server = start_server(tmp_path / "blank", dev=False)
    try:
        yield server
    finally:
        server.stop()
