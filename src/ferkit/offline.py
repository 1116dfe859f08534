"""How ferkit keeps its dependencies off the network without changing its user's process.

ultralytics and albumentations read a few environment variables once, when they are imported: whether to
look up DNS names and check for updates, and whether to pip-install missing packages. The library sets
them only around its own import of those packages (:func:`scoped_env`) and puts the environment back;
the ``fer`` command, which owns its process, sets them for the whole run (:func:`set_process_env`), so
that any worker process it starts inherits them as well.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from functools import cache

OFFLINE_ENV = {
    "YOLO_OFFLINE": "1",  # ultralytics: no DNS look-ups, events, hub or update checks
    "YOLO_AUTOINSTALL": "false",  # ultralytics: never pip-install at run time
    "NO_ALBUMENTATIONS_UPDATE": "1",  # albumentations: no version check on import
}


@contextlib.contextmanager
def scoped_env(values: dict[str, str] = OFFLINE_ENV) -> Iterator[None]:
    """Set environment variables that are unset, for the duration of the block only."""
    added = [k for k in values if k not in os.environ]
    for k in added:
        os.environ[k] = values[k]
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


@cache
def private_config_dir() -> str:
    """A folder of this process's own for ultralytics' settings file, removed when the process exits.

    ultralytics writes ``settings.json`` into the user's config folder (``~/.config/Ultralytics``) when it
    is imported, unless ``YOLO_CONFIG_DIR`` names another; the library points it here for its import.
    """
    path = tempfile.mkdtemp(prefix="ferkit-ultralytics-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


class _Naming(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


@contextlib.contextmanager
def hide_records_naming(logger: str, text: str) -> Iterator[None]:
    """While the block runs, drop the records of ``logger`` whose message contains ``text`` (a temporary
    path of ferkit's own, which would mean nothing to the user); every other record passes, and the filter
    is removed afterwards."""
    log, flt = logging.getLogger(logger), _Naming(text)
    log.addFilter(flt)
    try:
        yield
    finally:
        log.removeFilter(flt)


def set_process_env() -> None:
    """For the CLI entry point only: the offline variables for the whole process (unless already set)."""
    for k, v in OFFLINE_ENV.items():
        os.environ.setdefault(k, v)


def import_albumentations():
    """albumentations, imported without its network version check."""
    with scoped_env():
        import albumentations

    return albumentations


LOGS_TO_STDERR = False  # set by the fer command: ultralytics' log lines go to stderr (stdout holds results)


def send_logs_to_stderr() -> None:
    """For the CLI: ultralytics' log handler writes to stderr instead of stdout, now and after its import
    (which :func:`ferkit.detector.yolo.ultralytics_module` does with stdout pointed at stderr)."""
    global LOGS_TO_STDERR
    LOGS_TO_STDERR = True
    adopt_log_handlers()


def adopt_log_handlers() -> None:
    """Under the CLI (:func:`send_logs_to_stderr`): ultralytics' handlers write to stderr, without colour
    codes when stderr is not a terminal. Called again once ultralytics is imported."""
    import sys

    if not LOGS_TO_STDERR:
        return
    for handler in logging.getLogger("ultralytics").handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)
        plain = isinstance(handler.formatter, _PlainFormatter)
        if isinstance(handler, logging.StreamHandler) and not sys.stderr.isatty() and not plain:
            handler.setFormatter(_PlainFormatter(handler.formatter))


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _PlainFormatter(logging.Formatter):
    """A log formatter without terminal colour codes (for logs redirected to a file or a pipe)."""

    def __init__(self, inner: logging.Formatter | None):
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return _ANSI.sub("", self.inner.format(record))
