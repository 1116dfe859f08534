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
import os
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
    (which :func:`ferkit.detector.yolo._ultralytics` does with stdout pointed at stderr)."""
    import logging
    import sys

    global LOGS_TO_STDERR
    LOGS_TO_STDERR = True
    for handler in logging.getLogger("ultralytics").handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)
