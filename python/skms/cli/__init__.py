"""The ``skms`` command."""

from skms.cli.main import cli

__all__ = ["cli"]
