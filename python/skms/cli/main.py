"""The ``skms`` command: ``serve`` runs the server; every other command talks to one through
:mod:`skms.client` (``SKMS_ADDR`` and ``SKMS_TOKEN`` select it)."""

import click

from skms.cli.serve import serve


@click.group()
@click.version_option(package_name="skms")
def cli() -> None:
    """SKMS: keys, wallets and cryptographic operations."""


cli.add_command(serve)
