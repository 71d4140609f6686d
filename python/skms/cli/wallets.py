"""``skms wallet``: create (or import), show, xpub, addresses (in chunks, with a progress bar), sign."""

import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from skms.cli._common import (
    State,
    data_options,
    err,
    fields_table,
    labels_text,
    out,
    output_option,
    parse_labels,
    pass_state,
    print_json,
    read_data,
    when,
)
from skms.client import Address, Wallet
from skms.client._core import ADDRESS_CHUNK

CHAINS = ("bitcoin", "ethereum", "solana")
KINDS = ("p2pkh", "p2sh-p2wpkh", "p2wpkh", "p2tr")
SCHEMES = ("bitcoin-ecdsa", "bitcoin-taproot", "bitcoin-message", "ethereum-personal", "ethereum-digest", "solana")
#: Above this many addresses the table output becomes one plain line per address.
TABLE_LIMIT = 1000


@click.group("wallet")
def wallet_group() -> None:
    """HD wallets: BIP39 phrases, BIP32/SLIP-10 derivation, addresses and signatures."""


def _wallet_rows(wallet: Wallet) -> list[tuple[str, object]]:
    return [
        ("name", wallet.name),
        ("state", wallet.state),
        ("fingerprint", wallet.fingerprint),
        ("words", wallet.words if wallet.words is not None else "-"),
        ("language", wallet.language or "-"),
        ("labels", labels_text(wallet.labels)),
        ("created", when(wallet.created_at)),
        ("id", wallet.id),
    ]


@wallet_group.command("create")
@click.argument("name")
@click.option("--words", type=click.Choice(["12", "15", "18", "21", "24"]), default="24", show_default=True)
@click.option("--language", default="english", show_default=True, help="BIP39 word list.")
@click.option("--passphrase", default="", help="Optional BIP39 passphrase (the '25th word').")
@click.option("--import", "do_import", is_flag=True, help="Import a phrase (read from stdin, or prompted) instead.")
@click.option("-l", "--label", "labels", multiple=True, metavar="KEY=VALUE", help="A label (repeatable).")
@output_option
@pass_state
def create(
    state: State, name: str, words: str, language: str, passphrase: str, do_import: bool, labels: tuple[str, ...]
) -> None:
    """Create an HD wallet NAME; its mnemonic is printed once and never again."""
    client = state.client()
    if do_import:
        phrase = click.prompt("Mnemonic phrase", hide_input=True) if sys.stdin.isatty() else sys.stdin.read()
        wallet = client.import_wallet(
            name, " ".join(phrase.split()), passphrase=passphrase, labels=parse_labels(labels) or None
        )
        if state.json:
            print_json({"wallet": wallet})
        else:
            out.print(fields_table(_wallet_rows(wallet)))
        return
    created = client.create_wallet(
        name, words=int(words), passphrase=passphrase, language=language, labels=parse_labels(labels) or None
    )
    if state.json:
        print_json({"wallet": created.wallet, "mnemonic": created.mnemonic})
        return
    out.print(fields_table(_wallet_rows(created.wallet)))
    out.print(
        Panel(
            escape(created.mnemonic),
            title="mnemonic — shown once",
            subtitle="write it down offline; SKMS will not show it again",
            border_style="yellow",
        )
    )


@wallet_group.command("show")
@click.argument("name")
@output_option
@pass_state
def show(state: State, name: str) -> None:
    """Show a wallet's metadata."""
    wallet = state.client().get_wallet(name)
    if state.json:
        print_json(wallet)
    else:
        out.print(fields_table(_wallet_rows(wallet)))


@wallet_group.command("xpub")
@click.argument("name")
@click.option("--path", default="m/84'/0'/0'", show_default=True, help="Absolute derivation path.")
@output_option
@pass_state
def xpub(state: State, name: str, path: str) -> None:
    """Print the extended public key at a path (watch-only export)."""
    result = state.client().wallet_xpub(name, path)
    if state.json:
        print_json(result)
    else:
        click.echo(result.xpub)


@wallet_group.command("addresses")
@click.argument("name")
@click.option("--chain", type=click.Choice(CHAINS), required=True)
@click.option("--account", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--change", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--count", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--kind", type=click.Choice(KINDS), help="Bitcoin address kind (default p2wpkh).")
@click.option("--network", type=click.Choice(["mainnet", "testnet"]), default="mainnet", show_default=True)
@output_option
@pass_state
def addresses(
    state: State, name: str, chain: str, account: int, change: int, start: int, count: int, kind: str | None,
    network: str,
) -> None:  # fmt: skip
    """Derive COUNT addresses from START (fetched 10,000 at a time, with a progress bar)."""
    client = state.client()
    chunks = client.iter_addresses(
        name, chain, count=count, start=start, account=account, change=change, kind=kind, network=network
    )
    found: list[Address] = []
    if count > ADDRESS_CHUNK:
        columns = (TextColumn("deriving"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
            task = progress.add_task("addresses", total=count)
            for chunk in chunks:
                found.extend(chunk)
                progress.advance(task, len(chunk))
    else:
        for chunk in chunks:
            found.extend(chunk)
    if state.json:
        print_json({"addresses": found})
    elif len(found) > TABLE_LIMIT:
        click.echo("\n".join(f"{a.index}\t{a.path}\t{a.address}" for a in found))
    else:
        table = Table(title=f"{chain} addresses", title_justify="left")
        table.add_column("index", justify="right")
        table.add_column("path")
        table.add_column("address", overflow="fold")
        for a in found:
            table.add_row(str(a.index), a.path, a.address)
        out.print(table)


@wallet_group.command("sign")
@click.argument("name")
@data_options
@click.option("--scheme", type=click.Choice(SCHEMES), required=True)
@click.option("--path", help="Derivation path of the signing key (or give --chain and --index).")
@click.option("--chain", type=click.Choice(CHAINS))
@click.option("--account", type=click.IntRange(min=0), default=0)
@click.option("--change", type=click.IntRange(min=0), default=0)
@click.option("--index", type=click.IntRange(min=0), default=0)
@click.option("--kind", type=click.Choice(KINDS), help="Bitcoin address kind for the path (default p2wpkh).")
@click.option("--digest", help="Sign this digest (hex) instead of DATA.")
@click.option("--chain-id", type=int, help="Ethereum chain id (EIP-155).")
@output_option
@pass_state
def sign(
    state: State, name: str, data: str | None, file: Path | None, is_base64: bool, scheme: str, path: str | None,
    chain: str | None, account: int, change: int, index: int, kind: str | None, digest: str | None,
    chain_id: int | None,
) -> None:  # fmt: skip
    """Sign DATA (or --digest) with the wallet key at a derivation path."""
    if path is None and chain is None:
        raise click.UsageError("give --path, or --chain with --account/--change/--index")
    payload: bytes | None = None
    raw_digest: bytes | None = None
    if digest is not None:
        if data is not None or file is not None:
            raise click.UsageError("give DATA (or --file) or --digest, not both")
        try:
            raw_digest = bytes.fromhex(digest.removeprefix("0x"))
        except ValueError:
            raise click.BadParameter("not hex", param_hint="--digest") from None
    else:
        payload = read_data(data, file, is_base64)
    result = state.client().wallet_sign(
        name, scheme, path=path, chain=chain, account=account, change=change, index=index, kind=kind,
        payload=payload, digest=raw_digest, chain_id=chain_id,
    )  # fmt: skip
    if state.json:
        print_json(result)
        return
    rows = [(f, getattr(result, f)) for f in result.__struct_fields__ if getattr(result, f) is not None]
    out.print(fields_table(rows))
