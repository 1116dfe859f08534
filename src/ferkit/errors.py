"""The one exception family of ferkit: the CLI turns any of these into one red line and exit code 1."""

from __future__ import annotations


class FerError(Exception):
    """Base class of every error ferkit raises on purpose (bad input, missing weights, bad options).

    ``option`` names the setting a bad value came from (a config field, e.g. ``"line_width"``): the message
    then reads ``line_width must be ...`` from Python, and the CLI shows it as ``--line-width must be ...``.
    """

    def __init__(self, message: str = "", *, option: str | None = None) -> None:
        self.option, self.detail = option, message
        super().__init__(f"{option} {message}" if option else message)

    def for_cli(self) -> str:
        """The message as the command line speaks: the setting named by its flag."""
        if not self.option:
            return str(self)
        return f"--{self.option.replace('_', '-')} {self.detail}"


class UsageError(FerError):
    """The command line itself is wrong: a missing or contradictory option (the CLI's exit code 2)."""


class FailedInputs(FerError):
    """A run finished, but some of its inputs failed; each has its error record (the CLI's exit code 3).
    The message says how many."""


class DataError(FerError):
    """A dataset, label file, image or mapping file is malformed or missing."""


class WeightsError(FerError):
    """Weights could not be found, loaded or do not fit the model they are meant for."""


class ConfigError(FerError):
    """An option or configuration value is invalid."""


class MissingExtraError(ConfigError):
    """What was asked for needs an optional part of ferkit that is not installed (``pip install
    'ferkit[EXTRA]'``); the message names the extra."""

    def __init__(self, what: str, *, extra: str) -> None:
        self.extra = extra
        super().__init__(f"{what}, not installed here: pip install 'ferkit[{extra}]'")


class InputError(DataError):
    """One input given to :meth:`ferkit.pipeline.Pipeline.run` (or a one-crop ``predict``) cannot be read: a
    missing path, an unreadable file, a value that is not an image. The message names the input."""


class OutputWriteError(FerError):
    """An output file could not be written (disk full, quota, a file-size limit, an I/O error); the message
    names the file. What was written before stays consistent: a rerun goes on from there."""


class SplitNotFoundError(DataError):
    """A dataset has no such split (no folder, or no CSV rows with that Usage)."""


class ImageTooLargeError(DataError):
    """An image has more pixels than the limit it is read under (a decompression bomb, or just too big)."""


class UnsafeWeightsError(WeightsError):
    """A weights file would run code when loaded (a pickle naming something other than network classes)."""


class RunFolderBusyError(ConfigError):
    """An output or run folder is held by another ferkit run that is still going."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a batch run; the message says how far it got and how to go on (exit code 130)."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's message as one short line for an error of ours (its type name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
