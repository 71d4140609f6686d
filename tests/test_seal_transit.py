"""The ``transit`` seal: auto-unseal by another SKMS server (skms.keys.transit), with real processes.

A development server (the *provider*) holds an ``aes256-gcm`` key; a plain ``skms serve`` (two
workers) is initialized with ``{"method": "transit"}`` and its ``transit_*`` settings, then
restarted cold: it unseals itself through the provider. When the provider is sealed, unreachable,
or refuses the token, the server runs sealed, says why (``/v1/sys/ready`` and its log) and keeps
retrying with back-off; it unseals once the provider is back. The token is read from a 0600 file
(or a variable) and never appears in a log, nor in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server_process import (
    ServerProcess,
    b64,
    free_port,
    postgres_database,
    running_server,
    skms_command,
    unb64,
)
from skms._native import SecretBytes
from skms.errors import InvalidInput, TransitUnavailable, UnsealFailed
from skms.keys import KeyService
from skms.keys.transit import TransitConfig, TransitSeal, seal_aad

TRANSIT_KEY = "seal-wrap"
#: Longest wait between retries of the servers under test (the setting's minimum): they recover fast.
RETRY_MAX = "1"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The transit server: a dev server with the aes256-gcm key the other servers' seals use."""
    with running_server("sqlite", tmp_path_factory.mktemp("provider") / "data") as server:
        r = server.client().post("/v1/keys", json={"name": TRANSIT_KEY, "type": "aes256-gcm"})
        assert r.status_code in (200, 201), r.text
        yield server


@pytest.fixture
def token_file(tmp_path: Path, provider: ServerProcess) -> Path:
    path = tmp_path / "transit-token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(provider.token + "\n")
    return path


@contextlib.contextmanager
def transit_server(
    backend: str, data_dir: Path, provider: ServerProcess, token_file: Path, **env: str
) -> Iterator[ServerProcess]:
    """A plain ``skms serve`` sealed by ``provider`` (not initialized yet); logs checked at the end."""
    with contextlib.ExitStack() as stack:
        settings = {
            "SKMS_TRANSIT_ADDRESS": provider.url,
            "SKMS_TRANSIT_KEY": TRANSIT_KEY,
            "SKMS_TRANSIT_TOKEN_FILE": str(token_file),
            "SKMS_TRANSIT_RETRY_MAX": RETRY_MAX,
            "SKMS_DATABASE_URL": f"sqlite:///{data_dir / 'skms.db'}",
        }
        if backend == "postgresql":
            settings["SKMS_DATABASE_URL"] = stack.enter_context(postgres_database())
        for name, value in env.items():  # "" removes a setting
            if value:
                settings[name] = value
            else:
                settings.pop(name, None)
        server = ServerProcess(backend, data_dir, settings, dev=False)
        server.secret(provider.token)
        server.secret(provider.token.rpartition("_")[2])
        try:
            server.start()
            yield server
        finally:
            server.stop()
    server.check_logs()


def init_transit(server: ServerProcess) -> None:
    r = httpx.post(f"{server.url}/v1/sys/init", json={"method": "transit"}, timeout=30)
    assert r.status_code == 200, r.text
    server.token = server.secret(r.json()["admin_token"])  # type: ignore[assignment]
    assert r.json().get("shares") is None


def ready_detail(server: ServerProcess) -> tuple[int, str]:
    r = httpx.get(f"{server.url}/v1/sys/ready", timeout=10)
    return r.status_code, r.text


def wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def log_text(server: ServerProcess) -> str:
    return server.stderr_path.read_text(errors="replace")


def seal_provider(provider: ServerProcess) -> None:
    assert provider.fresh_request("POST", "/v1/sys/seal").status_code == 200


def unseal_provider(provider: ServerProcess) -> None:
    body = {"key": b64(provider.keyfile.read_bytes())}
    r = httpx.post(f"{provider.url}/v1/sys/unseal", json=body, timeout=30)
    assert r.status_code == 200, r.text
    wait_for(lambda: httpx.get(f"{provider.url}/v1/sys/ready", timeout=5).status_code == 200)


# -- cold start -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_init_then_cold_start_unseals_through_the_provider(
    backend: str, tmp_path: Path, provider: ServerProcess, token_file: Path
) -> None:
    with transit_server(backend, tmp_path / "sealed", provider, token_file) as server:
        assert ready_detail(server)[0] == 503  # not initialized
        init_transit(server)
        status = httpx.get(f"{server.url}/v1/sys/seal-status").json()
        assert status["method"] == "transit" and status["sealed"] is False
        api = server.client()
        assert api.post("/v1/keys", json={"name": "data", "type": "aes256-gcm"}).status_code in (200, 201)
        plaintext = server.secret(b"transit-sealed data 0123456789")
        ciphertext = api.post("/v1/keys/data/encrypt", json={"plaintext": b64(plaintext)}).json()["ciphertext"]
        server.restart()  # cold: a new process, nothing in memory; ready only when unsealed
        for _ in range(4):  # both workers, on new connections
            r = server.fresh_request("POST", "/v1/keys/data/decrypt", json={"ciphertext": ciphertext})
            assert r.status_code == 200, r.text
            assert unb64(r.json()["plaintext"]) == plaintext
        # Root rotation over the API; the next cold start opens the new root through the provider.
        r = server.fresh_request("POST", "/v1/sys/rotate-root")
        assert r.status_code == 200 and r.json()["root_id"] == 2, r.text
        server.restart()
        r = server.fresh_request("POST", "/v1/keys/data/decrypt", json={"ciphertext": ciphertext})
        assert r.status_code == 200 and unb64(r.json()["plaintext"]) == plaintext, r.text
    if backend == "sqlite":  # the store keeps the address and the key's name, never the token
        stored = (tmp_path / "sealed" / "skms.db").read_bytes()
        assert provider.token.encode() not in stored and provider.token.rpartition("_")[2].encode() not in stored


def test_token_from_a_variable(tmp_path: Path, provider: ServerProcess, token_file: Path) -> None:
    env = {"SKMS_TRANSIT_TOKEN_FILE": "", "TRANSIT_TOKEN_FOR_TEST": provider.token}
    env_settings = {"SKMS_TRANSIT_TOKEN_ENV": "TRANSIT_TOKEN_FOR_TEST"}
    with transit_server("sqlite", tmp_path / "sealed", provider, token_file, **env, **env_settings) as server:
        init_transit(server)
        server.restart()
        assert ready_detail(server)[0] == 200


# -- the provider sealed, unreachable, refusing -------------------------------------------------------


def test_provider_sealed_at_start_then_unsealed(tmp_path: Path, provider: ServerProcess, token_file: Path) -> None:
    with transit_server("sqlite", tmp_path / "sealed", provider, token_file) as server:
        init_transit(server)
        server.stop()
        seal_provider(provider)
        try:
            server.restart(ready=False)
            code, detail = ready_detail(server)
            assert code == 503 and "transit server failed (sealed)" in detail, detail
            assert "the transit server is sealed" in log_text(server)
            assert server.client().get("/v1/keys").status_code == 503
        finally:
            unseal_provider(provider)
        server.wait_ready(timeout=15)  # retried in the background, back-off at most RETRY_MAX s
        # The worker that unsealed may answer /ready a moment before it logs the success.
        wait_for(lambda: "succeeded after failures" in log_text(server))


def test_provider_unreachable_then_back(tmp_path: Path, provider: ServerProcess, token_file: Path) -> None:
    with transit_server("sqlite", tmp_path / "sealed", provider, token_file) as server:
        init_transit(server)
        server.stop()
        provider.stop()  # the provider goes away; comes back on the same port
        try:
            server.restart(ready=False)
            code, detail = ready_detail(server)
            assert code == 503 and "(unreachable)" in detail, detail
            wait_for(lambda: log_text(server).count("transit server is unreachable") >= 3)  # it keeps trying
        finally:
            provider.restart()
        server.wait_ready(timeout=20)


def test_wrong_token_is_named_and_a_fixed_file_is_picked_up(
    tmp_path: Path, provider: ServerProcess, token_file: Path
) -> None:
    with transit_server("sqlite", tmp_path / "sealed", provider, token_file) as server:
        init_transit(server)
        server.stop()
        wrong = server.secret("skms_" + "0" * 8 + "_" + "wrongwrongwrongwrong")
        token_file.write_text(f"{wrong}\n")
        server.restart(ready=False)
        code, detail = ready_detail(server)
        assert code == 503 and "(token)" in detail, detail
        assert "refused the token" in log_text(server)
        token_file.write_text(provider.token + "\n")  # re-read at each try
        server.wait_ready(timeout=15)


def test_init_while_the_provider_is_down_answers_503(
    tmp_path: Path, provider: ServerProcess, token_file: Path, unused_port_url: str
) -> None:
    env = {"SKMS_TRANSIT_ADDRESS": unused_port_url}
    with transit_server("sqlite", tmp_path / "sealed", provider, token_file, **env) as server:
        r = httpx.post(f"{server.url}/v1/sys/init", json={"method": "transit"}, timeout=30)
        assert r.status_code == 503 and r.json()["title"] == "TransitUnavailable", r.text
        assert "unreachable" in r.json()["detail"] and unused_port_url not in r.text
        assert httpx.get(f"{server.url}/v1/sys/seal-status").json()["initialized"] is False


def test_operator_seal_holds_across_restarts(tmp_path: Path, provider: ServerProcess, token_file: Path) -> None:
    with transit_server("sqlite", tmp_path / "sealed", provider, token_file) as server:
        init_transit(server)
        assert server.fresh_request("POST", "/v1/sys/seal").status_code == 200
        server.restart(ready=False)
        time.sleep(2.0)
        assert ready_detail(server)[0] == 503
        assert "sealed by an operator" in log_text(server)
        # Nothing sent over the network opens it: the server alone asks its transit server.
        for body in ({}, {"passphrase": "a passphrase of some length"}, {"key": b64(bytes(32))}):
            r = httpx.post(f"{server.url}/v1/sys/unseal", json=body, timeout=10)
            assert r.status_code == 400 and r.json()["title"] == "UnsealFailed", r.text
        assert ready_detail(server)[0] == 503
        # The operator lifts it on the server's host, with its settings (the transit server opens
        # the store), then restarts it.
        server.stop()
        lift_env = {k: v for k, v in os.environ.items() if not k.startswith("SKMS_")}
        lift_env.update(server.env)
        done = subprocess.run(
            [*skms_command(), "operator", "lift-seal"], env=lift_env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "restart the server" in done.stderr and provider.token not in done.stdout + done.stderr
        server.restart()


@pytest.fixture
def unused_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


# -- the library: wrapping, swapping, rotation ------------------------------------------------------


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def config(provider: ServerProcess, token_file: Path, key: str = TRANSIT_KEY) -> TransitConfig:
    return TransitConfig(address=provider.url, key=key, token_file=str(token_file))


def test_rotate_root_with_transit_and_a_swapped_ciphertext(
    tmp_path: Path, provider: ServerProcess, token_file: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'lib.db'}"

    async def scenario() -> None:
        service = await KeyService.open(url)
        try:
            service.sealer.transit = TransitSeal(config(provider, token_file))
            await service.sealer.initialize("transit")
            await service.create_key("t", "k", "aes256-gcm")
            ciphertext, _ = await service.encrypt("t", "k", b"before rotation")
            assert await service.sealer.rotate_root() == 2
            assert await service.decrypt("t", "k", ciphertext) == b"before rotation"
            record = await service.store.get_seal()
            assert record is not None and record.params["address"] == provider.url
            assert record.params["key"] == TRANSIT_KEY and provider.token not in json.dumps(record.params)
        finally:
            await service.close()
        # A cold start: auto-unseal through the provider opens the rotated root.
        service = await KeyService.open(url)
        try:
            service.sealer.transit = TransitSeal(config(provider, token_file))
            assert await service.sealer.auto_unseal() is True and not service.sealer.sealed
            assert await service.decrypt("t", "k", ciphertext) == b"before rotation"
            # Another ciphertext of the same transit key (another seal's unseal key) does not fit.
            other = service.sealer.transit.wrap(SecretBytes.random(32), seal_aad("other-seal"))
            record = await service.store.get_seal()
            assert record is not None
            swapped = type(record)(record.method, {**record.params, "wrapped_unseal_key": other},
                                   record.wrapped_root, record.root_id)  # fmt: skip
            await service.store.put_seal(swapped, expected_generation=record.generation)
        finally:
            await service.close()
        service = await KeyService.open(url)
        try:
            service.sealer.transit = TransitSeal(config(provider, token_file))
            with pytest.raises(UnsealFailed, match="does not open"):
                await service.sealer.auto_unseal()
            # Configured with another key than the store's: named.
            service.sealer.transit = TransitSeal(config(provider, token_file, key="another"))
            with pytest.raises(UnsealFailed, match="sealed with the transit key"):
                await service.sealer.auto_unseal()
        finally:
            await service.close()

    run(scenario())


def test_init_checks_the_key_type(tmp_path: Path, provider: ServerProcess, token_file: Path) -> None:
    r = provider.client().post("/v1/keys", json={"name": "not-aead", "type": "ed25519"})
    assert r.status_code in (200, 201, 409), r.text
    seal = TransitSeal(config(provider, token_file, key="not-aead"))
    with pytest.raises(InvalidInput, match="not aes256-gcm"):
        seal.wrap(SecretBytes.random(32), b"x")
    with pytest.raises(TransitUnavailable, match="no key"):
        TransitSeal(config(provider, token_file, key="missing")).wrap(SecretBytes.random(32), b"x")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"address": "http://10.1.2.3:8470"}, "https://"),
        ({"address": "https://u:p@host"}, "no credentials"),
        ({"address": "https://host/v1"}, "no credentials, path"),
        ({"address": "ftp://host"}, "http(s)://"),
        ({"key": "bad name!"}, "transit_key"),
        ({"token_file": None}, "exactly one"),
        ({"token_env": "X"}, "exactly one"),
        ({"token_file": None, "token_env": "1BAD"}, "variable's name"),
        ({"client_cert": "/nonexistent"}, "go together"),
        ({"retry_max": 0.1}, "transit_retry_max"),
    ],
)
def test_settings_are_validated(settings: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"address": "https://transit.example:8470", "key": "k", "token_file": "/tmp/t"}
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        TransitConfig(**{**base, **settings})  # type: ignore[arg-type]


def test_token_file_must_be_private(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("skms_x_y\n")
    path.chmod(0o644)
    cfg = TransitConfig(address="http://127.0.0.1:1", key="k", token_file=str(path))
    with pytest.raises(TransitUnavailable, match="chmod 600") as info:
        cfg.read_token()
    assert "skms_x_y" not in str(info.value)


# -- TLS: the CA that verifies the transit server, and a client certificate (mTLS) -----------------


@pytest.fixture(scope="module")
def tls_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A dev server over TLS that refuses clients without a certificate of its client CA."""
    from security_support import issue, make_ca, server_cert
    from server_support import skms_executable

    directory = tmp_path_factory.mktemp("tls-provider")
    ca = make_ca("transit test CA")
    cert, key = server_cert(ca).write(directory, "server")
    (directory / "ca.pem").write_bytes(ca.cert_pem)
    client_cert, client_key = issue(ca, common_name="sealed-server").write(directory, "client")
    os.chmod(client_key, 0o600)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKMS_")}
    env.update(SKMS_TLS_CERT=cert, SKMS_TLS_KEY=key, SKMS_TLS_CLIENT_CA=str(directory / "ca.pem"),
               SKMS_LOG_LEVEL="WARNING")  # fmt: skip
    args = [skms_executable(), "serve", "--dev", "--data-dir", str(directory / "data"),
            "--listen", f"127.0.0.1:{port}", "--workers", "1"]  # fmt: skip
    with (directory / "server.log").open("wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"https://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(directory / "ca.pem"))
    context.load_cert_chain(client_cert, client_key)
    try:
        wait_for(lambda: _healthy(base, context, process), timeout=60)
        token = (directory / "data" / "admin-token").read_text().strip()
        r = httpx.post(f"{base}/v1/keys", json={"name": TRANSIT_KEY, "type": "aes256-gcm"},
                       headers={"Authorization": f"Bearer {token}"}, verify=context)  # fmt: skip
        assert r.status_code in (200, 201), r.text
        token_file = directory / "token"
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
        yield base, directory
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _healthy(base: str, context: ssl.SSLContext, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "the TLS provider exited"
    try:
        return httpx.get(f"{base}/v1/sys/health", verify=context, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_mtls_transit_server(tls_provider: tuple[str, Path]) -> None:
    base, directory = tls_provider
    cfg = TransitConfig(address=base, key=TRANSIT_KEY, token_file=str(directory / "token"),
                        ca_file=str(directory / "ca.pem"), client_cert=str(directory / "client.crt"),
                        client_key=str(directory / "client.key"))  # fmt: skip
    seal = TransitSeal(cfg)
    unseal_key = SecretBytes.random(32)
    wrapped = seal.wrap(unseal_key, seal_aad("tls"))
    assert seal.unwrap(wrapped, seal_aad("tls")) == unseal_key
    # Without the client certificate the handshake is refused; without the CA the server is not trusted.
    for other in (
        TransitConfig(address=base, key=TRANSIT_KEY, token_file=str(directory / "token"),
                      ca_file=str(directory / "ca.pem")),
        TransitConfig(address=base, key=TRANSIT_KEY, token_file=str(directory / "token"),
                      client_cert=str(directory / "client.crt"), client_key=str(directory / "client.key")),
    ):  # fmt: skip
        with pytest.raises(TransitUnavailable, match="TLS handshake") as info:
            TransitSeal(other).unwrap(wrapped, seal_aad("tls"))
        assert info.value.reason == "tls"


class SealedMeanwhile(TransitSeal):
    """A real transit seal during whose call an operator seals the store through another node."""

    def __init__(self, config: TransitConfig, url: str) -> None:
        super().__init__(config)
        self.url = url

    def unwrap(self, ciphertext: str, aad: bytes) -> SecretBytes:
        async def operator_seal() -> None:
            other_node = await KeyService.open(self.url)
            try:
                await other_node.sealer.seal_by_operator()
            finally:
                await other_node.close()

        asyncio.run(operator_seal())  # on the seal's own thread: a loop of its own
        return super().unwrap(ciphertext, aad)


def test_an_operator_seal_during_the_transit_call_holds(
    tmp_path: Path, provider: ServerProcess, token_file: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"

    async def scenario() -> None:
        service = await KeyService.open(url)
        try:
            service.sealer.transit = TransitSeal(config(provider, token_file))
            await service.sealer.initialize("transit")
        finally:
            await service.close()
        service = await KeyService.open(url)
        try:
            service.sealer.transit = SealedMeanwhile(config(provider, token_file), url)
            assert await service.sealer.auto_unseal() is False
            assert service.sealer.sealed
        finally:
            await service.close()

    run(scenario())
