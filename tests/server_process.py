"""A real ``skms serve --dev`` process for the HTTP tests (``tests/test_api_*.py``).

Each test module gets its own servers through :func:`server_fixture`: one per
backend, at module scope. A server runs as a subprocess in its own process
group on a free port of 127.0.0.1, with its own data directory (key file,
admin token), and is stopped by terminating the whole group. On PostgreSQL it
uses a fresh database with a random name, dropped at the end.

The server's stderr (the JSON log) and stdout (granian's own lines) go to
files. At the end of the module every log line must be a JSON object with a
``request_id``, and no secret the tests registered with
:meth:`ServerProcess.secret` (the admin token, mnemonics, plaintexts, data keys,
shared secrets…) may appear in either file, apart from the banner that
``skms serve --dev`` prints before the server starts (which shows the admin
token on purpose).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import types
import typing
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from conftest import require_service
from keys_support import run_in_thread

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "api" / "openapi.json"
BACKENDS = ("sqlite", "postgresql")
#: Worker processes of every test server (the default on the 2-core machines the suite targets).
WORKERS = 2
#: Routes that answer without credentials; every other route of the app must answer 401.
PUBLIC_ROUTES = frozenset({"/v1/sys/health", "/v1/sys/ready", "/v1/sys/seal-status", "/v1/sys/init",
                           "/v1/sys/unseal", "/metrics",
                           # OAuth 2.0 client credentials and its key set are public by definition.
                           "/v1/auth/token", "/v1/auth/jwks.json"})  # fmt: skip
PROBLEM_JSON = "application/problem+json"
START_TIMEOUT = 60.0


def skms_command() -> list[str]:
    """The ``skms`` entry point of the environment running the tests (``.venv/bin/skms``)."""
    beside = Path(sys.executable).with_name("skms")
    if beside.exists():
        return [str(beside)]
    venv = REPO / ".venv" / "bin" / "skms"
    if venv.exists():
        return [str(venv)]
    return [sys.executable, "-m", "skms.cli"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def assert_problem(
    response: httpx.Response,
    status: int | Iterable[int] | None = None,
    *,
    title: str | None = None,
    field: str | None = None,
) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem (4xx unless ``status`` says otherwise); returns its body."""
    request = f"{response.request.method} {response.request.url.path}"
    if status is None:
        assert 400 <= response.status_code < 500, f"{request}: {response.status_code} {response.text[:300]}"
    elif isinstance(status, int):
        assert response.status_code == status, f"{request}: {response.status_code} {response.text[:300]}"
    else:
        assert response.status_code in set(status), f"{request}: {response.status_code} {response.text[:300]}"
    assert response.headers.get("content-type", "").startswith(PROBLEM_JSON), (request, response.headers)
    body = response.json()
    assert isinstance(body, dict), body
    for name, kind in (("type", str), ("title", str), ("status", int), ("detail", str)):
        assert isinstance(body.get(name), kind), f"{request}: problem without {name}: {body}"
    assert body["status"] == response.status_code, body
    if title is not None:
        assert body["title"] == title, f"{request}: {body}"
    if field is not None:
        assert body.get("field") == field, f"{request}: expected field {field!r}: {body}"
    return body


# -- PostgreSQL ------------------------------------------------------------------------------


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def _pg_admin(dsn: str, statement: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(with_database(dsn, "postgres"))
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    run_in_thread(run)


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new database with a random name on the test PostgreSQL server; its URL. Dropped at the end."""
    dsn = require_service("postgresql")  # skips, or fails under SKMS_TEST_STRICT=1
    name = f"skms_api_{secrets.token_hex(6)}"
    _pg_admin(dsn, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(dsn, name)
    finally:
        _pg_admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the server process ------------------------------------------------------------------------


@dataclass
class ServerProcess:
    backend: str
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    token: str = ""
    proc: subprocess.Popen[bytes] | None = None
    secrets: set[str] = field(default_factory=set)
    _clients: list[httpx.Client] = field(default_factory=list)
    #: ``skms serve --dev`` (key-file store, admin token on disk); False: a plain ``skms serve`` whose
    #: store the test initializes (``env`` must name its database), not waited on for readiness.
    dev: bool = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stderr_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.stderr.log"

    @property
    def stdout_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.stdout.log"

    @property
    def keyfile(self) -> Path:
        return self.data_dir / "unseal.key"

    # -- lifecycle --

    def start(self) -> None:
        for attempt in range(3):
            self.port = free_port()
            if self._launch():
                break
            if attempt == 2 or "already in use" not in self.stderr_path.read_text(errors="replace"):
                raise RuntimeError(f"skms serve did not start ({self.backend}):\n{self._tail()}")
        if not self.dev:
            return
        self.token = (self.data_dir / "admin-token").read_text().strip()
        self.secret(self.token)
        self.secret(self.token.rpartition("_")[2])  # the secret part alone
        self.wait_ready()

    def _launch(self) -> bool:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SKMS_") or k.startswith("SKMS_TEST_")}
        env.update({"SKMS_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"})
        env.update(self.env)
        cmd = [*skms_command(), "serve", *(["--dev"] if self.dev else []), "--data-dir", str(self.data_dir),
               "--listen", f"127.0.0.1:{self.port}", "--workers", str(WORKERS)]  # fmt: skip
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(
                cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True, cwd=REPO
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._reap_group()
                return False
            try:
                if httpx.get(f"{self.url}/v1/sys/health", timeout=2.0).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"skms serve did not answer /v1/sys/health in {START_TIMEOUT}s:\n{self._tail()}")

    def restart(self, *, ready: bool = True) -> None:
        """Stops the server, checks its logs, and starts it again on the same port and data directory."""
        self.stop()
        self.check_logs()
        self.stderr_path.rename(self.stderr_path.with_name(f"{self.stderr_path.name}.{time.time_ns()}"))
        if not self._launch():
            raise RuntimeError(f"skms serve did not start again on port {self.port}:\n{self._tail()}")
        if ready:
            self.wait_ready()

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            r = httpx.get(f"{self.url}/v1/sys/ready", timeout=5.0)
            if r.status_code == 200:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"/v1/sys/ready: {r.status_code} {r.text}")
            time.sleep(0.05)

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self._reap_group()

    def _reap_group(self) -> None:
        """Waits for the workers of the group to go, killing them after a grace period."""
        assert self.proc is not None
        deadline = time.monotonic() + 10
        while True:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            except PermissionError:
                return
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                return
            time.sleep(0.05)

    def _tail(self, lines: int = 40) -> str:
        text = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # -- clients --

    def client(self, token: str | None = None, **headers: str) -> httpx.Client:
        """An HTTP client for this server, authenticated with the admin token unless ``token`` says otherwise."""
        all_headers = dict(headers)
        bearer = self.token if token is None else token
        if bearer:
            all_headers["Authorization"] = f"Bearer {bearer}"
        client = httpx.Client(base_url=self.url, headers=all_headers, timeout=60.0)
        self._clients.append(client)
        return client

    def fresh_request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request on a new connection (so that successive calls reach different workers)."""
        headers = {"Authorization": f"Bearer {self.token}", "Connection": "close", **kwargs.pop("headers", {})}
        with httpx.Client(base_url=self.url, timeout=30.0) as c:
            return c.request(method, path, headers=headers, **kwargs)

    def worker_states(self, attempts: int = 200) -> dict[str, float]:
        """``{pid: skms_sealed}`` of every worker, scraped from /metrics over new connections."""
        states: dict[str, float] = {}
        for _ in range(attempts):
            text = self.fresh_request("GET", "/metrics").text
            for line in text.splitlines():
                if line.startswith("skms_sealed{"):
                    pid = line.split('pid="', 1)[1].split('"', 1)[0]
                    states[pid] = float(line.rsplit(" ", 1)[1])
            if len(states) >= WORKERS:
                break
        return states

    # -- secrets and logs --

    def secret(self, value: str | bytes) -> str | bytes:
        """Registers ``value`` as a secret that must never appear in the server's logs; returns it."""
        if isinstance(value, bytes):
            forms = {b64(value), base64.urlsafe_b64encode(value).decode().rstrip("="), value.hex()}
            with contextlib.suppress(UnicodeDecodeError):
                forms.add(value.decode())
        else:
            forms = {value}
            words = value.split()
            if len(words) >= 12:  # a mnemonic: any three consecutive words
                forms.update(" ".join(words[i : i + 3]) for i in range(len(words) - 2))
        self.secrets.update(f for f in forms if len(f) >= 12)
        return value

    def log_records(self) -> tuple[list[str], list[str]]:
        """(banner lines of ``skms serve --dev``, log lines after it) of the server's stderr."""
        lines = self.stderr_path.read_text(errors="replace").splitlines()
        first = next((i for i, line in enumerate(lines) if line.startswith("{")), len(lines))
        return lines[:first], lines[first:]

    def check_logs(self) -> None:
        """Every log line is JSON with a request id; no registered secret appears outside the banner."""
        _, records = self.log_records()
        assert records, "the server logged nothing"
        not_json = []
        for line in records:
            try:
                entry = json.loads(line)
            except ValueError:
                not_json.append(line)
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("request_id"), str) or not entry["request_id"]:
                not_json.append(line)
        assert not not_json, f"log lines that are not JSON with a request_id: {not_json[:5]}"
        text = "\n".join(records) + "\n" + self.stdout_path.read_text(errors="replace")
        leaked = sorted(s for s in self.secrets if s in text)
        assert not leaked, f"secrets in the server log ({self.backend}): {[s[:6] + '…' for s in leaked]}"


@contextlib.contextmanager
def running_server(backend: str, data_dir: Path, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """A started server on ``backend`` ("sqlite" or "postgresql"); stopped and its logs checked at the end."""
    with contextlib.ExitStack() as stack:
        server_env = dict(env or {})
        if backend == "postgresql":
            server_env["SKMS_DATABASE_URL"] = stack.enter_context(postgres_database())
        server = ServerProcess(backend, data_dir, server_env)
        try:
            server.start()
            yield server
        finally:
            server.stop()
    server.check_logs()


def server_fixture(**env: str) -> Any:
    """A module-scoped fixture ``server``, parametrized over the backends, with extra ``SKMS_*`` settings."""

    @pytest.fixture(scope="module", params=BACKENDS, name="server")
    def fixture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
        data_dir = tmp_path_factory.mktemp(f"skms-{request.param}") / "data"
        with running_server(request.param, data_dir, env) as server:
            yield server

    return fixture


@dataclass(frozen=True)
class Route:
    """One route of the application: method, path template, body type, integer query parameters.

    ``body`` is the request struct (``JSONBody[...]`` and ``| None`` unwrapped); ``body_optional`` says
    whether the route also accepts no body.
    """

    method: str
    path: str
    body: Any = None
    int_query: tuple[str, ...] = ()
    body_optional: bool = False

    @property
    def public(self) -> bool:
        return self.path in PUBLIC_ROUTES

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _unwrap_body(annotation: Any) -> tuple[Any, bool]:
    """(the body type, whether None is accepted) of ``T``, ``T | None``, ``Annotated[T, ...] | None``."""
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is typing.Annotated:
            annotation = args[0]
        elif origin in (typing.Union, types.UnionType) and type(None) in args:
            rest = [a for a in args if a is not type(None)]
            optional = True
            annotation = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007
        else:
            return annotation, optional


def app_routes() -> list[Route]:
    """Every route of the application, from ``create_app`` itself (so a new route is covered at once).

    OPTIONS and HEAD (added by the framework) and the OpenAPI documentation pages are left out.
    """
    logger = logging.getLogger("skms")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    routes = []
    # create_app configures the "skms" logger for the server: keep this process's as it was. The
    # framework's deprecation notices (and those of reading its parameter models) are the server's business.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from skms.api.app import create_app
        from skms.api.settings import Settings

        try:
            app = create_app(Settings(database_url="sqlite:///:memory:"))
        finally:
            logger.handlers[:], logger.level, logger.propagate = saved
        for route in app.routes:
            if route.path == "/schema" or route.path.startswith("/schema/"):
                continue
            for method, entry in getattr(route, "route_handler_map", {}).items():
                if method in ("OPTIONS", "HEAD"):
                    continue
                handler = entry[0] if isinstance(entry, tuple) else entry
                params = handler.parsed_fn_signature.parameters
                data = params.get("data")
                ints = []
                for pname, param in params.items():
                    if pname == "data" or "{" + pname in route.path:
                        continue
                    if param.annotation in (int, int | None):
                        alias = getattr(getattr(param, "kwarg_definition", None), "query", None)
                        ints.append(alias or pname)
                body, optional = _unwrap_body(data.annotation) if data else (None, False)
                routes.append(Route(method, route.path, body, tuple(ints), optional))
    return sorted(routes, key=lambda r: (r.path, r.method))


def concrete_path(template: str, name: str = "no-such-key") -> str:
    """A request path for a route template (``{name:str}`` and other parameters filled in)."""
    out = []
    for part in template.split("/"):
        out.append(name if part.startswith("{") and part.endswith("}") else part)
    return "/".join(out)


__all__ = [
    "BACKENDS",
    "PROBLEM_JSON",
    "PUBLIC_ROUTES",
    "SPEC",
    "WORKERS",
    "Route",
    "ServerProcess",
    "app_routes",
    "assert_problem",
    "b64",
    "concrete_path",
    "free_port",
    "postgres_database",
    "running_server",
    "server_fixture",
    "unb64",
]
