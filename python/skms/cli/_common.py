"""What every client command shares: the connection and output settings, input reading, output
(rich for people, JSON for scripts) and the one place errors become exit codes."""

import base64
import binascii
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import msgspec
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from skms.errors import SKMSError

if TYPE_CHECKING:
    from skms.client import Client

F = TypeVar("F", bound=Callable[..., Any])

OUTPUTS = ("table", "json")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


@dataclass
class State:
    """Global options (``--addr``, ``--token``, ``--output``, ``--timeout``) and the lazily made client."""

    addr: str | None = None
    token: str | None = field(default=None, repr=False)
    output: str = "table"
    timeout: float | None = None
    _client: Any = field(default=None, repr=False)

    @property
    def json(self) -> bool:
        return self.output == "json"

    def client(self) -> "Client":
        if self._client is None:
            from skms.client import Client

            self._client = Client(self.addr, self.token, timeout=self.timeout)
            click.get_current_context().call_on_close(self._client.close)
        client: Client = self._client
        return client


pass_state = click.make_pass_decorator(State, ensure=True)


def _set_output(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(State).output = value


def output_option(f: F) -> F:
    """``-o/--output table|json`` on a command, overriding the global ``skms --output``."""
    option = click.option(
        "-o",
        "--output",
        type=click.Choice(OUTPUTS),
        expose_value=False,
        callback=_set_output,
        help="Output format (overrides skms --output).",
    )
    return option(f)


# -- errors ------------------------------------------------------------------------------------------


class ProblemExit(click.ClickException):
    """An SKMS error at the end of a command: title and detail in red on stderr, exit code 1."""

    exit_code = 1

    def __init__(self, error: SKMSError) -> None:
        super().__init__(str(error))
        self.error = error

    def show(self, file: Any = None) -> None:
        title = getattr(self.error, "title", None) or type(self.error).__name__
        detail = str(self.error)
        where = getattr(self.error, "field", None)
        suffix = f" [dim](field: {escape(where)})[/]" if where else ""
        err.print(f"[bold red]{escape(title)}[/]: [red]{escape(detail)}[/]{suffix}")


# -- input ----------------------------------------------------------------------------------------------


def data_options(f: F) -> F:
    """``DATA`` (``-`` for stdin), ``--file`` and ``--base64``: the bytes a command works on."""
    f = click.option("--base64", "is_base64", is_flag=True, help="The input is base64 text: decode it first.")(f)
    f = click.option(
        "--file",
        "file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Read the input from this file.",
    )(f)
    return click.argument("data", required=False)(f)


def read_data(data: str | None, file: Path | None, is_base64: bool, what: str = "DATA") -> bytes:
    """The input bytes from the argument, ``--file`` or stdin (``-``), base64-decoded with ``--base64``."""
    if data is not None and file is not None:
        raise click.UsageError(f"give {what} or --file, not both")
    if file is not None:
        raw = file.read_bytes()
    elif data == "-":
        raw = sys.stdin.buffer.read()
    elif data is not None:
        raw = data.encode("utf-8")
    else:
        raise click.UsageError(f"give {what}, --file PATH, or - to read stdin")
    if is_base64:
        try:
            return base64.b64decode(b"".join(raw.split()), validate=True)
        except (binascii.Error, ValueError):
            raise click.UsageError("--base64: the input is not valid base64") from None
    return raw


def read_secret_lines(prompt: str, count: int) -> list[str]:
    """``count`` secrets: from stdin lines when it is not a terminal, else hidden prompts."""
    if not sys.stdin.isatty():
        lines = [line.strip() for line in sys.stdin.read().splitlines() if line.strip()]
        return lines[:count] if count else lines
    return [click.prompt(f"{prompt} {i + 1} of {count}", hide_input=True) for i in range(count)]


def parse_labels(values: Sequence[str]) -> dict[str, str]:
    labels = {}
    for item in values:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise click.BadParameter(f"labels are key=value, got {item!r}", param_hint="--label")
        labels[k] = v
    return labels


# -- output ---------------------------------------------------------------------------------------------


def to_builtins(value: Any) -> Any:
    """JSON-ready data: Structs as objects, ``bytes`` as base64."""
    return msgspec.to_builtins(value)


def print_json(value: Any) -> None:
    click.echo(msgspec.json.format(msgspec.json.encode(to_builtins(value)), indent=2).decode())


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def b64(data: bytes | None) -> str:
    return base64.b64encode(data).decode() if data is not None else "-"


def labels_text(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-"


def fields_table(rows: Iterable[tuple[str, Any]], title: str | None = None) -> Table:
    """A two-column table of one object's fields."""
    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in rows:
        table.add_row(name, escape(str(value)))
    return table


def write_binary(data: bytes) -> None:
    """Raw bytes to stdout (for decrypted data and random bytes)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
