"""``skms random`` and ``skms hash``."""

from pathlib import Path

import click

from skms.cli._common import State, b64, data_options, output_option, pass_state, print_json, read_data, write_binary


@click.command("random")
@click.argument("count", type=click.IntRange(1, 1024), default=32)
@click.option("-f", "--format", "fmt", type=click.Choice(["base64", "hex", "raw"]), default="base64", show_default=True)
@output_option
@pass_state
def random(state: State, count: int, fmt: str) -> None:
    """COUNT random bytes (default 32) from the server's CSPRNG."""
    data = state.client().random(count)
    if state.json:
        print_json({"random": data})
    elif fmt == "hex":
        click.echo(data.hex())
    elif fmt == "raw":
        write_binary(data)
    else:
        click.echo(b64(data))


@click.command("hash")
@click.argument("algorithm")
@data_options
@output_option
@pass_state
def hash_data(state: State, algorithm: str, data: str | None, file: Path | None, is_base64: bool) -> None:
    """Hash DATA (text, - for stdin, or --file) with ALGORITHM (sha256, sha3-256, blake3, …); prints hex."""
    digest = state.client().hash(algorithm, read_data(data, file, is_base64))
    if state.json:
        print_json({"algorithm": algorithm, "digest": digest, "hex": digest.hex()})
    else:
        click.echo(digest.hex())
