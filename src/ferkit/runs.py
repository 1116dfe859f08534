"""Run folders: one protocol for every command that writes a folder (training, image batches, video).

A :class:`RunFolder` is numbered when new (``name``, ``name2``... never overwriting a run), records the
arguments it was made with (``config.yaml`` for training, ``run.json`` for inference), is held by one run at
a time (an advisory lock), and resumes: training continues from ``last.pt``; an inference folder skips the
inputs its ``results.jsonl`` already holds and refuses other settings, naming the difference; a video
folder is done once its ``summary.json`` exists. A killed run leaves nothing half-counted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ferkit.atomic import write_text
from ferkit.errors import ConfigError, OutputWriteError, RunFolderBusyError
from ferkit.fsnames import json_text

CONFIG_FILE = "config.yaml"  # a training run's config (its arguments)
WEIGHTS_DIR = "weights"  # a training run's checkpoints, for both models: best.pt and last.pt
BEST, LAST = "best.pt", "last.pt"
RUN_FILE = "run.json"  # an inference run's settings (its arguments)
RESULTS_FILE = "results.jsonl"  # one line per input, appended as each completes
RESULTS_CSV = "results.csv"  # remade from RESULTS_FILE at the end of each run
SUMMARY_FILE = "summary.json"  # written last by a run that went to the end of its input
LOCK_FILE = ".ferkit.lock"


@dataclass(frozen=True)
class RunFolder:
    """The folder of one run; see the module doc for the protocol."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def numbered(cls, project: str | Path, name: str) -> RunFolder:
        """``project/name``, or the first free ``project/name2``, ``name3``...; created only when written."""
        return cls(next_run_dir(project, name))

    def hold(self) -> contextlib.AbstractContextManager[None]:
        """Hold the folder for this run (created if missing); a second run on it is refused."""
        return run_lock(self.path)

    @property
    def best(self) -> Path:
        """The run's best weights: ``weights/best.pt`` (classifier and detector alike)."""
        return self.path / WEIGHTS_DIR / BEST

    @property
    def last(self) -> Path:
        """The state a training run resumes from: ``weights/last.pt``."""
        return self.path / WEIGHTS_DIR / LAST

    def find_best(self) -> Path | None:
        """``weights/best.pt``, or the ``best.pt`` at the top of a classifier run made before ferkit 0.2
        put both models' weights in ``weights/``; None without either."""
        return next((p for p in (self.best, self.path / BEST) if p.is_file()), None)

    def save_config(self, config: Any) -> None:
        save_config(config, self.path / CONFIG_FILE)

    def load_config(self) -> dict[str, Any]:
        return load_config_dict(self.path / CONFIG_FILE)

    def start(self, settings: dict, overwrite: bool = False, clear: Sequence[str] = ()) -> Resumed:
        """Make the folder ready for an inference run with ``settings``; what it already holds.

        ``overwrite`` removes its results, run.json, summary.json and the files or folders named in
        ``clear`` first; otherwise a folder made with other settings is refused.
        """
        return open_run_folder(self.path, settings, overwrite, (SUMMARY_FILE, *clear))

    @property
    def summary(self) -> dict | None:
        """What a run that went to the end wrote in summary.json; None while unfinished (or never run)."""
        path = self.path / SUMMARY_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def finish(self, summary: dict) -> None:
        """Mark the run as gone to the end (atomically: a killed run is never marked)."""
        _write(self.path / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")

    def clear(self, names: Sequence[str]) -> list[str]:
        """Remove the named files or folders (what an unfinished run left); the names that were there."""
        return _remove(self.path, names)

    def log(self, name: str = RESULTS_FILE, fresh: bool = False) -> AppendLog:
        """The run's JSON-lines file ``name`` (results.jsonl, a video's frames.jsonl) for appending whole
        records; ``fresh`` starts it empty. Every run writes its records through this."""
        self.path.mkdir(parents=True, exist_ok=True)
        return AppendLog(self.path / name, fresh)


class AppendLog:
    """A JSON-lines file that only ever grows by whole lines: each record is written in full (a write may
    take only part of the bytes) or, when the write fails, the file is cut back to where it was; unbuffered,
    so a killed run loses at most the line being written. Safe to append from several threads."""

    def __init__(self, path: Path, fresh: bool = False):
        self.path = path
        self._lock = threading.Lock()
        with output_errors(path):
            self._fh = path.open("wb" if fresh else "ab", buffering=0)

    def append(self, record: dict | str) -> None:
        """Write one record (a dict, or its JSON text) as one line."""
        line = record if isinstance(record, str) else json_text(record)
        with self._lock, output_errors(self.path):
            write_all(self._fh, (line + "\n").encode("utf-8"))

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> AppendLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_all(fh, data: bytes) -> None:
    """Append every byte to an unbuffered file (a write may take only part of them); when the write fails,
    the file is cut back to where it was, so that it never ends in a torn line."""
    start, view = fh.seek(0, 2), memoryview(data)
    try:
        while view:
            view = view[fh.write(view) :]
    except OSError:
        with contextlib.suppress(OSError):
            fh.truncate(start)
        raise


@contextlib.contextmanager
def output_errors(where: Path):
    """An OSError while writing results (disk full, quota, file-size limit, I/O) as one OutputWriteError
    naming the file (``where`` when the error names none)."""
    try:
        yield
    except OSError as exc:
        name = exc.filename or where
        raise OutputWriteError(f"cannot write {name}: {exc.strerror or exc}") from None


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


def check_folder(path: str | Path) -> None:
    """Refuse an output folder path that names an existing file (a folder is created if missing)."""
    if Path(path).exists() and not Path(path).is_dir():
        raise ConfigError(f"{path} is a file; give a folder (it is created if missing)", option="out")


@contextlib.contextmanager
def run_lock(folder: str | Path) -> Iterator[None]:
    """Hold ``folder`` for one run: a second run on it (from any process) is refused, naming the holder.

    An advisory ``flock`` on ``folder/.ferkit.lock``, released when the block ends or the process dies, so a
    killed run never leaves a stale lock; a run that ends removes the file. Where ``flock`` does not exist
    (Windows) no lock is taken.
    """
    folder = Path(folder)
    check_folder(folder)
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


def absolute_source(path: str | Path) -> str:
    """The absolute path recorded as ``source_abs``, and by which resumable runs recognise a finished file."""
    return str(Path(path).expanduser().resolve())


@dataclass(frozen=True)
class Resumed:
    """What an output folder already holds: the sources done, and how many torn lines were dropped."""

    done: frozenset[str] = field(default_factory=frozenset)
    torn_lines: int = 0


def load_done(results_file: Path) -> Resumed:
    """The sources with a successful result in ``results_file``; rewrites it without failed or torn lines.

    A line that is not whole UTF-8 JSON (a run killed while writing it, cut anywhere, even inside a
    multi-byte character) is dropped and counted; its image is simply redone.
    """
    if not results_file.exists():
        return Resumed()
    kept, done, torn = [], set(), 0
    for raw in _read_bytes(results_file).split(b"\n"):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
            rec = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            torn += 1
            continue
        if isinstance(rec, dict) and rec.get("source") and not rec.get("error"):
            kept.append(line)
            # absolute paths: a rerun from another folder recognises the same files
            done.add(rec.get("source_abs") or absolute_source(rec["source"]))
    _write(results_file, "".join(f"{line}\n" for line in kept))
    return Resumed(frozenset(done), torn)


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise ConfigError(f"{path} is not a file: use another output folder, or remove it")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _write(path: Path, text: str) -> None:
    try:
        write_text(path, text)
    except OSError as exc:
        raise ConfigError(f"cannot write to {path.parent}: {exc.strerror or exc}") from None


def _comparable(settings: dict, prefix: str = "") -> dict:
    """Settings as compared on resume: weights by content, not by where the file lies; nested options
    flattened (``video.end_s``), so a difference names the one option that differs."""

    def strip(v):
        if isinstance(v, dict) and "sha256" in v:
            return v["sha256"]
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    flat: dict = {}
    for k, v in settings.items():
        v = strip(v)
        if isinstance(v, dict):
            flat.update(_comparable(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def check_run_settings(out_dir: Path, settings: dict) -> None:
    """Record ``settings`` in ``out_dir/run.json``, or refuse a folder whose run used other settings."""
    from ferkit._version import __version__

    settings = {"ferkit_version": __version__, **settings}
    path = out_dir / RUN_FILE
    if path.exists():
        try:
            old = json.loads(_read_bytes(path).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ConfigError(
                f"{path} is not valid JSON: use --overwrite to start this folder afresh"
            ) from None
        if not isinstance(old, dict):
            raise ConfigError(
                f"{path} is not a ferkit run.json (it holds {type(old).__name__}, not settings): "
                "use --overwrite to start this folder afresh"
            )
        a, b = _comparable(old), _comparable(settings)
        diff = [f"{k} {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        if diff:
            raise ConfigError(
                f"{out_dir} holds results made with other settings ({'; '.join(diff)}): use another --out, "
                "or --overwrite to start afresh"
            )
        return
    _write(path, json.dumps(settings, indent=2) + "\n")


def _remove(folder: Path, names: Sequence[str]) -> list[str]:
    """Remove the named files or folders of ``folder``; the names that were there."""
    present = [n for n in names if (folder / n).exists()]
    try:
        for n in present:
            target = folder / n
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot prepare {folder}: {exc.strerror or exc}") from None
    return present


def open_run_folder(out_dir: Path, settings: dict, overwrite: bool, extra: Sequence[str] = ()) -> Resumed:
    """Make ``out_dir`` ready for a run with ``settings`` (``overwrite``: remove its results, run.json and
    the files or folders named in ``extra`` first); what it already holds."""
    if overwrite and out_dir.exists():
        _remove(out_dir, (RESULTS_FILE, RUN_FILE, *extra))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot prepare {out_dir}: {exc.strerror or exc}") from None
    check_run_settings(out_dir, settings)
    return load_done(out_dir / RESULTS_FILE)
