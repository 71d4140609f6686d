"""``skms serve``: run the API server under granian (HTTP/1.1 and HTTP/2, optional TLS)."""

import asyncio
import os
import socket
import stat
import sys
import textwrap
from pathlib import Path

import click
from rich.console import Console

from skms.api.settings import Settings, load_settings
from skms.auth import ApiKeyManager
from skms.keys import KeyService
from skms.keys.seal import write_keyfile
from skms.storage.sqlite import loose_store_files

err = Console(stderr=True)


async def _prepare_dev(settings: Settings, keyfile: str, token_file: Path) -> str | None:
    """Initializes the dev store (key-file seal) and its admin token when missing."""
    service = await KeyService.open(settings.database_url)
    try:
        if await service.sealer.initialized():
            return None
        await service.sealer.initialize("keyfile", keyfile=keyfile)
        token, _ = await ApiKeyManager(service).create("default", "admin", ["admin"], "created by skms serve --dev")
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        return token
    finally:
        await service.close()


def _settings_epilog() -> str:
    """Every setting the server reads, grouped by prefix (the README's Configuration table explains each)."""
    from skms.api.settings import FIELDS

    groups: dict[str, list[str]] = {}
    for name in FIELDS:
        prefix = name.split("_", 1)[0] if name.startswith(("hsm_", "transit_", "audit_", "jwt_", "tls_")) else ""
        groups.setdefault(prefix, []).append(name)
    lines = [textwrap.fill(", ".join(n), 78, initial_indent="  ", subsequent_indent="    ") for n in groups.values()]
    return (
        "\b\nSettings, from SKMS_<NAME> variables or the TOML file of --config (variables win):\n"
        + "\n".join(lines)
        + "\n\nSecrets (HSM PIN, transit token) come from a variable or a 0600 file, never the command line."
    )


@click.command(epilog=_settings_epilog())
@click.option("--dev", is_flag=True, help="Development mode: local SQLite store, key-file unseal, admin token on disk.")
@click.option("--listen", help="host:port (default from SKMS_LISTEN or 127.0.0.1:8470).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Directory for the dev store, key file and token.")
@click.option("--workers", type=int, help="Worker processes (0 = one per core).")
@click.option("--config", type=click.Path(dir_okay=False), help="TOML configuration file.")
@click.option(
    "--insecure-no-security",
    is_flag=True,
    help="With --dev on loopback, for benchmarks only: no authentication, authorization, rate limit or audit.",
)
def serve(
    dev: bool,
    listen: str | None,
    data_dir: str | None,
    workers: int | None,
    config: str | None,
    insecure_no_security: bool,
) -> None:
    """Run the SKMS server."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    env = dict(os.environ)
    if listen:
        env["SKMS_LISTEN"] = listen
    if workers is not None:
        env["SKMS_WORKERS"] = str(workers)
    if data_dir:
        env["SKMS_DATA_DIR"] = data_dir
    if insecure_no_security:
        if not dev:
            raise click.ClickException("--insecure-no-security is for benchmarks and needs --dev")
        env["SKMS_INSECURE_NO_SECURITY"] = "true"
    settings = load_settings(env, config)
    _check_port_free(settings.host, settings.port)
    os.umask(0o077)  # every file the server or its workers create is the owner's only
    directory = Path(settings.data_dir).resolve()
    token: str | None = None
    if dev:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        _tighten_dev_directory(directory)
        keyfile = directory / "unseal.key"
        if not keyfile.exists():
            write_keyfile(str(keyfile))
        if "SKMS_DATABASE_URL" not in env and not config:
            env["SKMS_DATABASE_URL"] = f"sqlite:///{directory / 'skms.db'}"
        env["SKMS_UNSEAL_KEYFILE"] = str(keyfile)
        settings = load_settings(env, config)
        err.print("[bold yellow]WARNING[/]: development mode — the store unseals with a key file on disk.")
        token = asyncio.run(_prepare_dev(settings, str(keyfile), directory / "admin-token"))
    if settings.insecure_no_security:
        err.print("[bold red]WARNING[/]: security OFF — no authentication, authorization, rate limit or audit.")
    runtime = directory / "run"
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Shared by this server's workers only (see skms.api.relay): never written to disk.
    env["SKMS_RELAY_KEY"] = os.urandom(32).hex()
    env["SKMS_RELAY_FILE"] = str(runtime / f"unseal-relay-{settings.port}")
    env["SKMS_SERVER_PID"] = str(os.getpid())  # workers stop when this process dies (skms.api.orphan)
    os.environ.update(env)
    scheme = "https" if settings.tls_cert else "http"
    address = f"{scheme}://{settings.listen}"
    err.print(f"SKMS listening on [bold]{address}[/] with {settings.worker_count} worker(s), store {_safe(settings)}")
    if dev:
        token_file = directory / "admin-token"
        shown = token or token_file.read_text().strip()
        err.print(f"Admin token (also in {token_file}, mode 0600):\n  [bold]{shown}[/]")
        err.print("Try it:")
        err.print(
            f"  curl -s -H 'Authorization: Bearer {shown}' -H 'Content-Type: application/json' \\\n"
            f'       -d \'{{"name":"demo","type":"ed25519"}}\' {address}/v1/keys',
            soft_wrap=True,
        )
        err.print(f"  export SKMS_ADDR={address} SKMS_TOKEN=$(cat {token_file}); skms key list")
    Granian(
        "skms.api.app:create_app_from_env",
        factory=True,
        interface=Interfaces.ASGI,
        address=settings.host,
        port=settings.port,
        workers=settings.worker_count,
        ssl_cert=Path(settings.tls_cert) if settings.tls_cert else None,
        ssl_key=Path(settings.tls_key) if settings.tls_key else None,
        ssl_ca=Path(settings.tls_client_ca) if settings.tls_client_ca else None,
        ssl_client_verify=settings.tls_client_ca is not None,
        log_access=False,
        # A client that has not sent its headers within header_timeout is dropped (slowloris).
        http1_settings=HTTP1Settings(header_read_timeout=int(settings.header_timeout * 1000)),
    ).serve()


def _tighten_dev_directory(directory: Path) -> None:
    """Development: a data directory or store files others may read are fixed, loudly.

    Outside development the store refuses to open loose files (skms.storage.sqlite).
    """
    if stat.S_IMODE(directory.stat().st_mode) & 0o077:
        err.print(f"[bold red]WARNING[/]: {directory} was open to group or others: set to 0700")
        directory.chmod(0o700)
    for name, mode in loose_store_files(str(directory / "skms.db")):
        err.print(f"[bold red]WARNING[/]: {name} was mode {mode:04o}, readable by others: set to 0600")
        os.chmod(name, 0o600)


def _check_port_free(host: str, port: int) -> None:
    """granian binds with SO_REUSEPORT, so a second server on a busy port would silently share it.

    The probe binds with SO_REUSEADDR (as granian does): on Linux that still fails while any
    socket listens on the port, but not for the TIME_WAIT connections a crashed server leaves.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror}") from None


def _safe(settings: Settings) -> str:
    url = settings.database_url
    if "@" in url:  # hide credentials
        scheme, _, rest = url.partition("://")
        return f"{scheme}://…@{rest.rpartition('@')[2]}"
    return url


if __name__ == "__main__":
    sys.exit(serve())
