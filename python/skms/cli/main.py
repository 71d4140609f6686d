"""The ``skms`` command: ``serve`` runs the server; every other command talks to one through
:mod:`skms.client` (``SKMS_ADDR`` and ``SKMS_TOKEN`` select it)."""

import importlib
from typing import Any

import click

from skms.cli._common import OUTPUTS, ProblemExit, State
from skms.cli.backup import backup_group
from skms.cli.keys import key_group
from skms.cli.misc import hash_data, random
from skms.cli.operator import init, operator_group
from skms.cli.security import api_key_group, audit_group, policy_group
from skms.cli.wallets import wallet_group
from skms.errors import SKMSError

#: Commands loaded on first use: ``serve`` pulls in the whole server (Litestar, granian).
LAZY = {"serve": ("skms.cli.serve", "serve", "Run the SKMS server.")}


class SkmsGroup(click.Group):
    """The top group: lazy ``serve``, and every :class:`~skms.errors.SKMSError` as a red message, exit 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY:
            module, attr, _ = LAZY[name]
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY:
                rows.append((name, LAZY[name][2]))
                continue
            command = super().get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SKMSError as e:
            raise ProblemExit(e) from e


@click.group(cls=SkmsGroup)
@click.version_option(package_name="skms")
@click.option("--addr", envvar="SKMS_ADDR", help="Server address [env SKMS_ADDR; default http://127.0.0.1:8470].")
@click.option("--token", envvar="SKMS_TOKEN", help="API token [env SKMS_TOKEN].")
@click.option(
    "-o",
    "--output",
    envvar="SKMS_OUTPUT",
    type=click.Choice(OUTPUTS),
    default="table",
    show_default=True,
    help="table for people, json for scripts [env SKMS_OUTPUT].",
)
@click.option("--timeout", type=click.FloatRange(min=0.1), help="Seconds to wait for the server.")
@click.pass_context
def cli(ctx: click.Context, addr: str | None, token: str | None, output: str, timeout: float | None) -> None:
    """SKMS: keys, wallets and cryptographic operations."""
    ctx.obj = State(addr=addr, token=token, output=output, timeout=timeout)


cli.add_command(init)
cli.add_command(operator_group)
cli.add_command(key_group)
cli.add_command(wallet_group)
cli.add_command(backup_group)
cli.add_command(api_key_group)
cli.add_command(policy_group)
cli.add_command(audit_group)
cli.add_command(random)
cli.add_command(hash_data)
