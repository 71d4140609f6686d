"""``skms init`` and ``skms operator unseal|seal|status``."""

import sys

import click
from rich.markup import escape
from rich.panel import Panel

from skms.cli._common import State, err, fields_table, out, output_option, pass_state, print_json, read_secret_lines
from skms.client import SealStatus


def show_status(state: State, status: SealStatus) -> None:
    if state.json:
        print_json(status)
        return
    sealed = "[red]sealed[/]" if status.sealed else "[green]unsealed[/]"
    rows = [
        ("initialized", "yes" if status.initialized else "no"),
        ("state", sealed),
        ("method", status.method or "-"),
        ("threshold", status.threshold if status.threshold is not None else "-"),
    ]
    table = fields_table([])
    for name, value in rows:
        table.add_row(name, str(value))
    out.print(table)


@click.command("init")
@click.option(
    "--method",
    type=click.Choice(["shamir", "passphrase", "keyfile", "pkcs11", "transit"]),
    default="shamir",
    show_default=True,
    help="transit: the server's transit_* settings name the other SKMS server and its aes256-gcm key.",
)
@click.option("--shares", type=click.IntRange(1, 16), default=5, show_default=True, help="Shamir: shares to make.")
@click.option("--threshold", type=click.IntRange(1, 16), default=3, show_default=True, help="Shamir: shares needed.")
@click.option("--passphrase", help="Passphrase method: the unseal passphrase (prompted when omitted).")
@click.option(
    "--hsm-key-label",
    help="pkcs11: the label of the token's AES-256 wrapping key (made when missing; default skms-seal).",
)
@output_option
@pass_state
def init(
    state: State, method: str, shares: int, threshold: int, passphrase: str | None, hsm_key_label: str | None
) -> None:
    """Initialize a new server's store; prints the admin token (and Shamir shares) once.

    The keyfile method (development only) uses the key file of the server's configuration
    (unseal_keyfile): a request never names a path on the server.
    """
    if method == "passphrase" and passphrase is None:
        passphrase = click.prompt("Unseal passphrase", hide_input=True, confirmation_prompt=True)
    result = state.client().init(
        method, threshold=threshold, shares=shares, passphrase=passphrase, key_label=hsm_key_label
    )
    if state.json:
        print_json(result)
        return
    out.print(Panel(escape(result.admin_token), title="admin API token", border_style="yellow"))
    for i, share in enumerate(result.shares or [], 1):
        out.print(Panel(escape(share), title=f"unseal share {i} of {len(result.shares or [])}", border_style="cyan"))
    err.print(
        "[yellow]These are shown once. Store the token and each share apart, safely"
        + (f"; {threshold} shares unseal the store." if result.shares else ".")
        + "[/]"
    )


@click.group("operator")
def operator_group() -> None:
    """Seal state: status, unseal, seal."""


@operator_group.command("status")
@output_option
@pass_state
def status(state: State) -> None:
    """Show whether the store is initialized and sealed."""
    show_status(state, state.client().seal_status())


@operator_group.command("unseal")
@click.option("-s", "--share", "shares", multiple=True, help="A Shamir share (repeatable); prompted when omitted.")
@click.option("--passphrase", help="The unseal passphrase; prompted when omitted.")
@click.option(
    "--keyfile",
    type=click.Path(dir_okay=False, exists=True),
    help="A key-file store: this machine's copy of the key file, whose 32 bytes are sent.",
)
@output_option
@pass_state
def unseal(state: State, shares: tuple[str, ...], passphrase: str | None, keyfile: str | None) -> None:
    """Unseal the store with shares, a passphrase or (development) the key file's bytes.

    Missing material is asked for: hidden prompts on a terminal, else one share (or the
    passphrase) per line of stdin.
    """
    key = None
    if keyfile is not None:
        with open(keyfile, "rb") as f:
            key = f.read(65)
    client = state.client()
    share_list: list[str] | None = list(shares) or None
    if share_list is None and passphrase is None and keyfile is None:
        current = client.seal_status()
        if current.method == "shamir":
            share_list = read_secret_lines("Unseal share", current.threshold or 0)
        elif current.method == "passphrase":
            if sys.stdin.isatty():
                passphrase = click.prompt("Unseal passphrase", hide_input=True)
            else:
                passphrase = sys.stdin.readline().rstrip("\n")
    show_status(state, client.unseal(passphrase=passphrase, shares=share_list, key=key))


@operator_group.command("seal")
@output_option
@pass_state
def seal(state: State) -> None:
    """Seal the store: the server forgets every decrypted key until unsealed."""
    show_status(state, state.client().seal())


@operator_group.command("rotate-root")
@output_option
@pass_state
def rotate_root(state: State) -> None:
    """Rotate the root key (admin): a new root wraps every data key; old ciphertexts still decrypt."""
    result = state.client().rotate_root()
    if state.json:
        print_json(result)
        return
    out.print(f"root key rotated: every data key is wrapped by root {result.root_id} now")


@operator_group.command("lift-seal")
@click.option("--config", type=click.Path(dir_okay=False), help="The server's TOML configuration file.")
def lift_seal(config: str | None) -> None:
    """Lift an operator's seal of a pkcs11 or transit store, on the server's host, with its settings.

    Such a store unseals itself from its HSM (or its transit server) at start, but an operator's
    seal holds across restarts. This opens the store with the HSM or the transit server (proving
    this host's settings and credentials open it), clears the seal mark, and forgets the keys
    again: then restart the server.
    """
    import asyncio

    from skms.api.settings import load_settings
    from skms.errors import SKMSError

    async def lift() -> bool:
        from skms.keys import KeyService

        settings = load_settings(config_file=config)
        hsm_config = settings.hsm_config()
        transit_config = settings.transit_config()
        if hsm_config is None and transit_config is None:
            raise click.ClickException(
                "neither hsm_module nor transit_address is set: run this with the server's HSM or transit settings"
            )
        service = await KeyService.open(settings.database_url)
        if hsm_config is not None:
            from skms.hsm import Hsm

            service.sealer.hsm = Hsm(hsm_config)
        if transit_config is not None:
            from skms.keys.transit import TransitSeal

            service.sealer.transit = TransitSeal(transit_config)
        try:
            lifted = await service.sealer.auto_unseal(lift_operator_seal=True)
            service.sealer.seal()
            return lifted
        finally:
            if service.sealer.hsm is not None:
                service.sealer.hsm.close()
            await service.close()

    try:
        lifted = asyncio.run(lift())
    except SKMSError as e:
        raise click.ClickException(str(e)) from None
    if not lifted:
        raise click.ClickException(
            "the store is not sealed by an HSM or a transit server (seal method pkcs11 or transit): nothing to lift"
        )
    err.print("[green]the operator's seal is lifted[/]: restart the server to unseal it by itself")
