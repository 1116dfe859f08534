"""Run folders: numbered training runs, their configs, and the lock that gives a folder to one run."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ferkit.atomic import write_text
from ferkit.errors import ConfigError, RunFolderBusyError


def next_run_dir(project: str | Path, name: str) -> Path:
    """``project/name``, or ``project/name2``, ``name3``... if it already exists (never overwrite a run)."""
    project = Path(project)
    candidate = project / name
    n = 2
    while candidate.exists():
        candidate = project / f"{name}{n}"
        n += 1
    return candidate


def save_config(config: Any, path: str | Path) -> None:
    """Write a config dataclass as YAML beside a run."""
    data = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    write_text(path, yaml.safe_dump(data, sort_keys=False))


def load_config_dict(path: str | Path) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text()) or {}


LOCK_FILE = ".ferkit.lock"


@contextlib.contextmanager
def run_lock(folder: str | Path) -> Iterator[None]:
    """Hold ``folder`` for one run: a second run on it (from any process) is refused, naming the holder.

    An advisory ``flock`` on ``folder/.ferkit.lock``, released when the block ends or the process dies, so a
    killed run never leaves a stale lock; a run that ends removes the file. Where ``flock`` does not exist
    (Windows) no lock is taken.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot use {folder} as an output folder: {exc.strerror or exc}") from None
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path = folder / LOCK_FILE
    fd = _locked_fd(path, fcntl)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        path.unlink(missing_ok=True)  # while still held, so no other run can hold a file being removed
        os.close(fd)


def _locked_fd(path: Path, fcntl) -> int:
    """An fd of ``path`` holding its exclusive lock (retrying if another run removed the file meanwhile)."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(
                f"cannot use {path.parent} as an output folder: {exc.strerror or exc}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise RunFolderBusyError(
                f"{path.parent} is in use by another ferkit run (PID {holder}): wait for it to end, or use "
                "another output folder"
            ) from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the file we locked was removed by a run that just ended: lock the new one
