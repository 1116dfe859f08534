"""The Typer app ``fer`` and what its commands share: option types, and FerError -> one red line, exit 1."""

from __future__ import annotations

import functools
from enum import Enum
from typing import Annotated

import typer

from ferkit.errors import FerError

app = typer.Typer(
    name="fer",
    help="ferkit: find faces and recognise their expressions; train and evaluate both models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(help="Dataset conversion tools.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")

EXIT_FAILED_INPUTS = 2


class Format(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def _error(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)


def fer_errors(fn):
    """Turn the library's errors into one red line and exit code 1 (Ctrl-C into exit 130)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FerError as exc:
            _error(str(exc))
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            _error("interrupted")
            raise typer.Exit(130) from None

    return wrapper


DeviceOpt = Annotated[Device, typer.Option(help="Where to run: auto picks CUDA when present.")]
