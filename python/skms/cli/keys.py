"""``skms key``: create, list, show, update, rotate, change state, delete; encrypt, decrypt, sign,
verify, datakey and hmac."""

import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from skms.cli._common import (
    State,
    b64,
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
    write_binary,
)
from skms.client import Key

KEY_STATES = ("active", "suspended", "compromised")


@click.group("key")
def key_group() -> None:
    """Keys: lifecycle and cryptographic operations."""


def show_key(state: State, key: Key) -> None:
    if state.json:
        print_json(key)
        return
    policy = key.policy
    out.print(
        fields_table(
            [
                ("name", key.name),
                ("type", key.type),
                ("purpose", key.purpose),
                ("backend", key.backend),
                ("state", key.state),
                ("latest version", key.latest_version),
                ("min version", key.min_version),
                ("labels", labels_text(key.labels)),
                ("rotation period", f"{policy.rotation_period} s" if policy.rotation_period else "-"),
                ("version ttl", f"{policy.version_ttl} s" if policy.version_ttl else "-"),
                ("exportable", "yes" if policy.exportable else "no"),
                ("backed up", "yes" if policy.allow_backup else "no"),
                ("deletion window", f"{policy.deletion_window} s" if policy.deletion_window is not None else "-"),
                ("created", when(key.created_at)),
                ("updated", when(key.updated_at)),
                ("deletion at", when(key.deletion_at)),
                ("destroyed at", when(key.destroyed_at)),
                ("id", key.id),
            ]
        )
    )
    if key.versions:
        table = Table(title="versions", title_justify="left")
        table.add_column("version", justify="right")
        table.add_column("state")
        table.add_column("created")
        table.add_column("expires")
        table.add_column("public key (base64)", overflow="fold")
        for v in key.versions:
            table.add_row(str(v.version), v.state, when(v.created_at), when(v.expires_at), b64(v.public_key))
        out.print(table)


def _policy(
    rotation_period: int | None,
    version_ttl: int | None,
    exportable: bool | None,
    deletion_window: int | None,
    allow_backup: bool | None,
) -> dict[str, int | bool] | None:
    fields = {"rotation_period": rotation_period, "version_ttl": version_ttl, "exportable": exportable,
              "deletion_window": deletion_window, "allow_backup": allow_backup}  # fmt: skip
    policy = {k: v for k, v in fields.items() if v is not None}
    return policy or None


def policy_options(f: click.decorators.FC) -> click.decorators.FC:
    f = click.option("--deletion-window", type=click.IntRange(min=0), help="Seconds between delete and destruction.")(f)
    f = click.option(
        "--allow-backup/--no-backup", "allow_backup", default=None,
        help="Whether backups may hold the key (default: as --exportable). Set at creation; only ever turned off.",
    )(f)  # fmt: skip
    f = click.option(
        "--exportable/--not-exportable", default=None,
        help="Whether the key may be exported. Set at creation; only ever turned off.",
    )(f)  # fmt: skip
    f = click.option("--version-ttl", type=click.IntRange(min=60), help="Seconds each version stays usable.")(f)
    return click.option("--rotation-period", type=click.IntRange(min=60), help="Rotate automatically (seconds).")(f)


@key_group.command("create")
@click.argument("name")
@click.option("-t", "--type", "key_type", required=True, help="Key type: ed25519, aes256-gcm, ml-kem-768, …")
@click.option("--purpose", help="Purpose, when the type has several (encrypt, sign, …).")
@click.option("-l", "--label", "labels", multiple=True, metavar="KEY=VALUE", help="A label (repeatable).")
@policy_options
@click.option("--pre-active", is_flag=True, help="Create in the pre-active state (activate later).")
@click.option(
    "--backend", type=click.Choice(["software", "hsm"]), default=None,
    help="Where the material lives: software (default) or hsm (the server's PKCS#11 token; never leaves it).",
)  # fmt: skip
@output_option
@pass_state
def create(
    state: State,
    name: str,
    key_type: str,
    purpose: str | None,
    labels: tuple[str, ...],
    rotation_period: int | None,
    version_ttl: int | None,
    exportable: bool | None,
    deletion_window: int | None,
    allow_backup: bool | None,
    pre_active: bool,
    backend: str | None,
) -> None:
    """Create a key NAME of a type."""
    key = state.client().create_key(
        name, key_type, purpose=purpose, labels=parse_labels(labels) or None,
        policy=_policy(rotation_period, version_ttl, exportable, deletion_window, allow_backup),
        state="pre-active" if pre_active else "active", backend=backend,
    )  # fmt: skip
    show_key(state, key)


@key_group.command("list")
@click.option("-t", "--type", "key_type", help="Only keys of this type.")
@click.option("--state", "key_state", help="Only keys in this state.")
@click.option("--prefix", help="Only names starting with this.")
@click.option("-l", "--label", "labels", multiple=True, metavar="KEY=VALUE", help="Only keys with this label.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many keys (default: all).")
@output_option
@pass_state
def list_keys(
    state: State, key_type: str | None, key_state: str | None, prefix: str | None, labels: tuple[str, ...],
    limit: int | None,
) -> None:  # fmt: skip
    """List keys (every page)."""
    keys: list[Key] = []
    page_size = min(limit, 1000) if limit else 1000
    it = state.client().iter_keys(
        page_size=page_size, type=key_type, state=key_state, prefix=prefix, labels=parse_labels(labels) or None
    )
    for key in it:
        keys.append(key)
        if limit is not None and len(keys) >= limit:
            break
    if state.json:
        print_json({"keys": keys})
        return
    table = Table(title=f"{len(keys)} key(s)", title_justify="left")
    for column in ("name", "type", "purpose", "state", "version", "labels", "created"):
        table.add_column(column, justify="right" if column == "version" else "left")
    for key in keys:
        table.add_row(
            escape(key.name), key.type, key.purpose, key.state, str(key.latest_version),
            escape(labels_text(key.labels)), when(key.created_at),
        )  # fmt: skip
    out.print(table)


@key_group.command("show")
@click.argument("name")
@output_option
@pass_state
def show(state: State, name: str) -> None:
    """Show a key's metadata, versions and public keys."""
    show_key(state, state.client().get_key(name))


@key_group.command("update")
@click.argument("name")
@click.option("-l", "--label", "labels", multiple=True, metavar="KEY=VALUE", help="Set the labels to these.")
@click.option("--clear-labels", is_flag=True, help="Remove every label.")
@policy_options
@click.option("--min-version", type=click.IntRange(min=1), help="Oldest version that may decrypt or verify.")
@output_option
@pass_state
def update(
    state: State,
    name: str,
    labels: tuple[str, ...],
    clear_labels: bool,
    rotation_period: int | None,
    version_ttl: int | None,
    exportable: bool | None,
    deletion_window: int | None,
    allow_backup: bool | None,
    min_version: int | None,
) -> None:
    """Change a key's labels, policy or minimum version."""
    if labels and clear_labels:
        raise click.UsageError("give --label or --clear-labels, not both")
    new_labels = {} if clear_labels else (parse_labels(labels) or None)
    key = state.client().update_key(
        name, labels=new_labels,
        policy=_policy(rotation_period, version_ttl, exportable, deletion_window, allow_backup),
        min_version=min_version,
    )  # fmt: skip
    show_key(state, key)


@key_group.command("rotate")
@click.argument("name")
@output_option
@pass_state
def rotate(state: State, name: str) -> None:
    """Add a new version; older data still decrypts."""
    show_key(state, state.client().rotate_key(name))


@key_group.command("state")
@click.argument("name")
@click.argument("new_state", metavar="STATE", type=click.Choice(KEY_STATES))
@output_option
@pass_state
def set_state(state: State, name: str, new_state: str) -> None:
    """Activate, suspend or mark a key compromised."""
    show_key(state, state.client().set_key_state(name, new_state))


@key_group.command("delete")
@click.argument("name")
@click.option("--window", type=click.IntRange(min=0), help="Seconds before destruction (default: the key's policy).")
@output_option
@pass_state
def delete(state: State, name: str, window: int | None) -> None:
    """Schedule a key's destruction (cancel with cancel-delete)."""
    key = state.client().schedule_deletion(name, window)
    if not state.json:
        if key.destroyed_at is not None:
            err.print(f"[yellow]{escape(name)} is destroyed.[/]")
        else:
            err.print(f"[yellow]{escape(name)} will be destroyed at {when(key.deletion_at)}.[/]")
    show_key(state, key)


@key_group.command("cancel-delete")
@click.argument("name")
@output_option
@pass_state
def cancel_delete(state: State, name: str) -> None:
    """Cancel a scheduled destruction."""
    show_key(state, state.client().cancel_deletion(name))


# -- crypto ------------------------------------------------------------------------------------------------


def _aad(value: str | None) -> bytes:
    return value.encode("utf-8") if value else b""


aad_option = click.option("--aad", help="Associated data (text) bound to the ciphertext.")


@key_group.command("encrypt")
@click.argument("name")
@data_options
@aad_option
@output_option
@pass_state
def encrypt(state: State, name: str, data: str | None, file: Path | None, is_base64: bool, aad: str | None) -> None:
    """Encrypt DATA (text, - for stdin, or --file) with key NAME; prints the ciphertext."""
    result = state.client().encrypt(name, read_data(data, file, is_base64), associated_data=_aad(aad))
    if state.json:
        print_json(result)
    else:
        click.echo(result.ciphertext)


@key_group.command("decrypt")
@click.argument("name")
@click.argument("ciphertext")
@aad_option
@click.option("--base64", "as_base64", is_flag=True, help="Print the plaintext as base64 instead of raw bytes.")
@output_option
@pass_state
def decrypt(state: State, name: str, ciphertext: str, aad: str | None, as_base64: bool) -> None:
    """Decrypt CIPHERTEXT (skms:vN:…, or - for stdin) with key NAME; writes the plaintext to stdout."""
    if ciphertext == "-":
        ciphertext = sys.stdin.read().strip()
    plaintext = state.client().decrypt(name, ciphertext, associated_data=_aad(aad))
    if state.json:
        print_json({"plaintext": plaintext})
    elif as_base64:
        click.echo(b64(plaintext))
    else:
        write_binary(plaintext)


@key_group.command("sign")
@click.argument("name")
@data_options
@click.option("--prehashed", is_flag=True, help="DATA is already the digest.")
@output_option
@pass_state
def sign(state: State, name: str, data: str | None, file: Path | None, is_base64: bool, prehashed: bool) -> None:
    """Sign DATA (text, - for stdin, or --file) with key NAME; prints the signature."""
    result = state.client().sign(name, read_data(data, file, is_base64), prehashed=prehashed)
    if state.json:
        print_json(result)
    else:
        click.echo(result.signature)


@key_group.command("verify")
@click.argument("name")
@click.argument("signature")
@data_options
@click.option("--prehashed", is_flag=True, help="DATA is already the digest.")
@output_option
@pass_state
def verify(
    state: State, name: str, signature: str, data: str | None, file: Path | None, is_base64: bool, prehashed: bool
) -> None:
    """Verify SIGNATURE over DATA with key NAME. Exit code 0 when valid, 1 when not."""
    valid = state.client().verify(name, read_data(data, file, is_base64), signature, prehashed=prehashed)
    if state.json:
        print_json({"valid": valid})
    elif valid:
        out.print("[green]valid[/]")
    else:
        out.print("[red]invalid[/]")
    if not valid:
        raise SystemExit(1)


@key_group.command("datakey")
@click.argument("name")
@click.option("--size", type=click.IntRange(min=1), default=32, show_default=True, help="Data key length in bytes.")
@aad_option
@click.option("--no-plaintext", is_flag=True, help="Return only the encrypted data key.")
@output_option
@pass_state
def datakey(state: State, name: str, size: int, aad: str | None, no_plaintext: bool) -> None:
    """Generate a data key: its plaintext (base64) to use now, its ciphertext to store."""
    result = state.client().datakey(name, size=size, associated_data=_aad(aad), include_plaintext=not no_plaintext)
    if state.json:
        print_json(result)
        return
    rows = [("ciphertext", result.ciphertext), ("key version", result.key_version)]
    if result.plaintext is not None:
        rows.append(("plaintext (base64)", b64(result.plaintext)))
    out.print(fields_table(rows))


@key_group.command("hmac")
@click.argument("name")
@data_options
@click.option("--verify", "tag", metavar="TAG", help="Verify this tag instead of computing one (exit 1 if invalid).")
@output_option
@pass_state
def hmac(state: State, name: str, data: str | None, file: Path | None, is_base64: bool, tag: str | None) -> None:
    """Compute (or verify) the HMAC of DATA with key NAME."""
    message = read_data(data, file, is_base64)
    client = state.client()
    if tag is None:
        mac = client.hmac(name, message)
        if state.json:
            print_json(mac)
        else:
            click.echo(mac.hmac)
        return
    valid = client.verify_hmac(name, message, tag)
    if state.json:
        print_json({"valid": valid})
    else:
        out.print("[green]valid[/]" if valid else "[red]invalid[/]")
    if not valid:
        raise SystemExit(1)
