"""The Typer app ``fer`` and what its commands share: option types, and FerError -> one red line, exit 1."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from enum import Enum
from typing import Annotated

import click
import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from ferkit.config import check_backend_name, check_precision_name
from ferkit.device import check_device_name
from ferkit.errors import FailedInputs, FerError, UsageError

PATHS = ("path", "Path", "file", "directory")
METAVARS = {"int": "N", "float": "X", "str": "TEXT"} | dict.fromkeys(PATHS, "PATH")


class _PlainHelp:
    """Help that names values plainly (N, X, TEXT, PATH; choices as Typer lists them) instead of Typer's
    type labels (<int>, <list[str]>), and shows no value for flags."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for p in params:
            if isinstance(p, TyperArgument):  # its name says it: no type label beside it
                p.display_type_rich = _no_label
            if p.metavar is not None or not isinstance(p, TyperOption):
                continue
            if p.is_flag:
                p.metavar = ""
                continue
            display_type = getattr(p, "display_type", None)  # older typer: no type labels to replace
            if display_type is None:
                continue
            label = display_type(ctx).strip("<>")
            inner = label[5:-1] if label.startswith("list[") else label
            if inner in METAVARS:
                p.metavar = METAVARS[inner]
        return params


def _no_label(ctx: click.Context) -> None:
    return None


class FerCommand(_PlainHelp, TyperCommand):
    """A ``fer`` command (see :class:`_PlainHelp`); no number option of any command takes NaN or an
    infinity (a usage error, exit code 2)."""

    def invoke(self, ctx: click.Context):
        for p in self.params:
            if _non_finite(ctx.params.get(p.name or "")):
                raise typer.BadParameter("must be a finite number (not NaN or an infinity)", ctx=ctx, param=p)
        return super().invoke(ctx)


def _non_finite(value) -> bool:
    values = value if isinstance(value, (list, tuple)) else [value]
    return any(isinstance(v, float) and not math.isfinite(v) for v in values)


class FerGroup(_PlainHelp, TyperGroup):
    """``fer`` and its command groups (see :class:`_PlainHelp`)."""


app = typer.Typer(
    name="fer",
    help="ferkit: find faces and recognise their expressions; train and evaluate both models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=FerGroup,
)
datasets_app = typer.Typer(help="Dataset conversion tools.", no_args_is_help=True, cls=FerGroup)
app.add_typer(datasets_app, name="datasets")

EXIT_ERROR = 1  # nothing could run: a library error (bad data, missing weights, invalid option value)
EXIT_USAGE = 2  # the command line itself is wrong (Click/Typer's usage errors)
EXIT_FAILED_INPUTS = 3  # the run finished, but some inputs failed (each has its error record)
EXIT_INTERRUPTED = 130


def use_plain_help(*apps: typer.Typer) -> None:
    """Every command of ``apps`` renders its help with :class:`FerCommand`."""
    for a in apps:
        for command in a.registered_commands:
            if command.cls in (None, TyperCommand):
                command.cls = FerCommand
        for group in a.registered_groups:
            use_plain_help(group.typer_instance)


class Format(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


def _error(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)


def exit_code(exc: FerError) -> int:
    """The documented exit code of a library error (docs/reference/exit-codes.md)."""
    if isinstance(exc, UsageError):
        return EXIT_USAGE
    if isinstance(exc, FailedInputs):
        return EXIT_FAILED_INPUTS
    return EXIT_ERROR


def fer_errors(fn):
    """Turn the library's errors into one red line and exit code 1 (Ctrl-C into exit 130)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FerError as exc:
            _error(exc.for_cli())
            raise typer.Exit(exit_code(exc)) from None
        except KeyboardInterrupt as exc:  # a batch run says how far it got (RunInterrupted)
            typer.secho(f"stopped (Ctrl-C): {exc}" if str(exc) else "stopped (Ctrl-C)", fg="yellow", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


CLASSIFIER_ONLY = ("torch", "torchvision")  # what the classifier commands import of an extra: no ultralytics


def needs(extra: str, what: str, only: tuple[str, ...] | None = None):
    """A command that cannot run without the optional ``extra`` (:mod:`ferkit.extras`; of it, only the
    packages in ``only`` when given): without it, one line naming what to install, before anything loads."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            from ferkit.extras import require

            require(extra, what, only)
            return fn(*args, **kwargs)

        return wrapper

    return decorate


def _checked(check):
    """A Typer callback: the value as ``check`` normalises it, or a usage error (exit 2) naming the flag."""

    def callback(value: str) -> str:
        try:
            return check(value)
        except FerError as exc:
            raise typer.BadParameter(exc.for_cli()) from None

    return callback


DeviceOpt = Annotated[
    str,
    typer.Option(
        help="auto (CUDA when present), cpu, cuda, cuda:N or mps.", callback=_checked(check_device_name)
    ),
]


def _show_version(value: bool) -> None:
    if value:
        from ferkit._version import __version__

        typer.echo(f"ferkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print ferkit's version and exit.", callback=_show_version, is_eager=True
        ),
    ] = False,
) -> None:
    """ferkit: find faces and recognise their expressions; train and evaluate both models."""
    # the command owns its process: the only place ferkit changes it (see ferkit.offline)
    from ferkit.offline import send_logs_to_stderr, set_process_env

    set_process_env()
    send_logs_to_stderr()


QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress bars or log lines (stderr); results only.")
]


PrecisionOpt = Annotated[
    str,
    typer.Option(
        help="auto (bf16 where OpenVINO runs on a CPU with native bfloat16, else fp32), fp32, or bf16 "
        "(OpenVINO only).",
        callback=_checked(check_precision_name),
    ),
]

PriorOpt = Annotated[
    str,
    typer.Option(
        help="natural (as trained: the most accurate) or balanced (the checkpoint's prior correction, "
        "fitted on val: rare classes such as disgust and fear found more often).",
    ),
]


def check_backend_options(
    backend: str, precision: str, device: str, weights: Sequence[tuple[str, str | None]] = ()
) -> None:
    """Refuse missing weights, an unknown or missing backend, or a precision it cannot run, before anything
    loads: each of the ``weights`` ((kind, spec) pairs) that will load is resolved, and its runtime picked,
    by the very functions the models call (``auto`` picks PyTorch for a checkpoint of your own, which then
    cannot run bf16)."""
    from ferkit.backends import resolve_runtime
    from ferkit.device import inference_device
    from ferkit.weights import resolve

    dev = inference_device(device)
    for kind, spec in weights:
        resolve_runtime(resolve(kind, spec), backend, precision, dev)


BackendOpt = Annotated[
    str,
    typer.Option(
        help="auto (the fastest installed for the device), torch, onnx (ONNX Runtime) or openvino.",
        callback=_checked(check_backend_name),
    ),
]
