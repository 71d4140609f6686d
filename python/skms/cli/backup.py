"""``skms backup keypair|recipient|create|restore``: encrypted bundles for a registered backup
recipient, with SLIP-39 escrow of its private key."""

import os
import sys
from pathlib import Path

import click

from skms.cli._common import State, output_option, pass_state, print_json
from skms.keys.backup import create_backup_keypair, recover_backup_key, split_backup_key


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


@click.group("backup")
def backup_group() -> None:
    """Back up keys for a registered backup recipient, split its private key among escrow agents, restore."""


@backup_group.command("keypair")
@click.option("--private-key", "private_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the private key here (mode 0600). Omit to keep only the shares.")  # fmt: skip
@click.option("--shares", type=click.IntRange(1, 16), default=5, show_default=True, help="Escrow shares (SLIP-39).")
@click.option("--threshold", type=click.IntRange(1, 16), default=3, show_default=True, help="Shares needed.")
@output_option
@pass_state
def keypair(state: State, private_path: Path | None, shares: int, threshold: int) -> None:
    """A new backup key pair (X25519+ML-KEM-768): prints the public key and the escrow shares."""
    if threshold > shares:
        raise click.UsageError("threshold cannot exceed shares")
    private, public = create_backup_keypair()
    mnemonics = split_backup_key(private, threshold, shares)
    if private_path is not None:
        _write_private(private_path, private.expose_secret())
    if state.json:
        print_json({"public_key": public.hex(), "threshold": threshold, "shares": mnemonics})
        return
    click.echo(
        f"backup public key (an admin registers it: `skms backup recipient add NAME --public-key`):\n{public.hex()}\n"
    )
    click.echo(f"escrow shares: any {threshold} of these {shares} recover the private key; give one to each agent:")
    for i, m in enumerate(mnemonics, 1):
        click.echo(f"  {i}. {m}")


def _public_key(value: str) -> bytes:
    text = value
    if not all(c in "0123456789abcdefABCDEF" for c in value):
        text = Path(value).read_text().strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise click.UsageError("--public-key must be the backup public key in hex, or a file holding it") from None


@backup_group.group("recipient")
def recipient_group() -> None:
    """The public keys backups may be encrypted for (registering and removing them is an admin's)."""


@recipient_group.command("add")
@click.argument("name")
@click.option("--public-key", "public_key", required=True, help="The backup public key (hex) or a file holding it.")
@output_option
@pass_state
def recipient_add(state: State, name: str, public_key: str) -> None:
    """Registers a backup recipient."""
    r = state.client().register_backup_recipient(name, _public_key(public_key))
    if state.json:
        print_json({"name": r.name, "fingerprint": r.fingerprint, "created_by": r.created_by})
    else:
        click.echo(f"registered backup recipient {r.name} (sha256 {r.fingerprint})")


@recipient_group.command("list")
@output_option
@pass_state
def recipient_list(state: State) -> None:
    """The tenant's backup recipients."""
    recipients = state.client().list_backup_recipients()
    if state.json:
        print_json([
            {"name": r.name, "fingerprint": r.fingerprint, "created_at": r.created_at, "created_by": r.created_by}
            for r in recipients
        ])  # fmt: skip
        return
    for r in recipients:
        click.echo(f"{r.name}\tsha256 {r.fingerprint}\tby {r.created_by}")


@recipient_group.command("remove")
@click.argument("name")
@output_option
@pass_state
def recipient_remove(state: State, name: str) -> None:
    """Removes a backup recipient: no further backup can be made for it."""
    state.client().delete_backup_recipient(name)
    if state.json:
        print_json({"removed": name})
    else:
        click.echo(f"removed backup recipient {name}")


@backup_group.command("create")
@click.option(
    "--recipient", required=True, help="The name of a registered backup recipient (`skms backup recipient list`)."
)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Bundle file.")
@click.option("--name", "names", multiple=True, help="Only these keys (repeatable); all keys by default.")
@output_option
@pass_state
def create(state: State, recipient: str, out: Path, names: tuple[str, ...]) -> None:
    """Writes an encrypted bundle of the tenant's keys (keys whose policy forbids backup are left out)."""
    result = state.client().backup(recipient, list(names) or None)
    out.write_bytes(result.bundle)
    if state.json:
        print_json({"file": str(out), "bytes": len(result.bundle), "keys": result.keys, "skipped": result.skipped})
        return
    click.echo(f"wrote {len(result.bundle):,} bytes ({len(result.keys)} keys) to {out}")
    if result.skipped:
        click.echo(f"left out (their policy does not allow backup): {', '.join(result.skipped)}", err=True)


@backup_group.command("restore")
@click.option("--in", "source", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--private-key", "private_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The backup private key file; otherwise shares are read from stdin, one per line.")  # fmt: skip
@click.option("--overwrite", is_flag=True, help="Replace keys that already exist.")
@output_option
@pass_state
def restore(state: State, source: Path, private_path: Path | None, overwrite: bool) -> None:
    """Recreates every key of a bundle in the tenant."""
    if private_path is not None:
        private = private_path.read_bytes()
    else:
        lines = [line.strip() for line in sys.stdin.read().splitlines() if line.strip()]
        private = recover_backup_key(lines).expose_secret()
    counts = state.client().restore(source.read_bytes(), private, overwrite=overwrite)
    if state.json:
        print_json({"keys": counts.keys, "versions": counts.versions, "replaced": counts.replaced})
    else:
        click.echo(f"restored {counts.keys} keys ({counts.versions} versions, {counts.replaced} replaced)")
