"""Run folders shared by the detector and classifier trainers."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from ferkit.atomic import write_text


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
