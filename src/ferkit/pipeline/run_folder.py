"""The resumable output folder of a batch run (``--out DIR``): its settings, its results, what is done.

``DIR/run.json`` records the settings of the run; ``DIR/results.jsonl`` holds one line per image, appended as
each completes. A rerun skips what is done, refuses other settings (naming the difference), and drops a last
line torn by a killed run, whatever bytes it holds. The folder's lock (:func:`ferkit.runs.run_lock`) is taken
by the runners, around all of this.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ferkit.atomic import write_text
from ferkit.errors import ConfigError


def absolute_source(path: str | Path) -> str:
    """The absolute path recorded as ``source_abs``, and by which resumable runs recognise a finished file."""
    return str(Path(path).expanduser().resolve())

RESULTS_FILE = "results.jsonl"
RESULTS_CSV = "results.csv"  # remade from RESULTS_FILE at the end of each run
RUN_FILE = "run.json"


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


def _comparable(settings: dict) -> dict:
    """Settings as compared on resume: weights by content, not by where the file lies."""

    def strip(v):
        if isinstance(v, dict) and "sha256" in v:
            return v["sha256"]
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    return {k: strip(v) for k, v in settings.items()}


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


def open_run_folder(out_dir: Path, settings: dict, overwrite: bool, extra: Sequence[str] = ()) -> Resumed:
    """Make ``out_dir`` ready for a run with ``settings`` (``overwrite``: remove its results, run.json and
    the files or folders named in ``extra`` first); what it already holds."""
    try:
        if overwrite and out_dir.exists():
            for name in (RESULTS_FILE, RUN_FILE, *extra):
                target = out_dir / name
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot prepare {out_dir}: {exc.strerror or exc}") from None
    check_run_settings(out_dir, settings)
    return load_done(out_dir / RESULTS_FILE)
