"""Resolving weights: 'default' means the checkpoint shipped inside the package; anything else is a path."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from ferkit.errors import WeightsError

DEFAULT_FILES = {"classifier": "classifier_default.pt", "detector": "detector_default.pt"}
# the shipped classifier quantized to int8 (OpenVINO only): `--classifier-weights default-int8`
DEFAULT_INT8 = "default-int8"
INT8_FOLDER = "classifier_default_int8"
PRODUCED_BY = {
    "classifier": "fer train-classifier --data PATH (then pass --classifier-weights RUN/best.pt)",
    "detector": "fer train-detector --data data.yaml (then pass --detector-weights RUN/weights/best.pt)",
}


def weights_sha256(path: str | Path) -> str:
    """SHA-256 of a weights file, or of the files of a weights folder (an OpenVINO export) in name order."""
    path = Path(path)
    h = hashlib.sha256()
    for f in sorted(path.iterdir()) if path.is_dir() else [path]:
        if f.is_file():
            h.update(f.read_bytes())
    return h.hexdigest()


def packaged_weights(kind: str) -> Path:
    """Where the shipped default of ``kind`` ('classifier' or 'detector') lives inside the package."""
    return Path(str(resources.files("ferkit") / "weights" / DEFAULT_FILES[kind]))


def resolve_weights(kind: str, spec: str | Path | None = "default") -> Path:
    """Map 'default'/None or a path to an existing weights file, or fail naming what was tried."""
    if kind not in DEFAULT_FILES:
        raise ValueError(f"unknown weights kind {kind!r}")
    if spec is None or str(spec) == "default":
        path = packaged_weights(kind)
        if path.is_file():
            return path
        raise WeightsError(
            f"no default {kind} weights: tried {path} (the package was installed without them); "
            f"make some with: {PRODUCED_BY[kind]}"
        )
    path = Path(spec).expanduser()
    if path.is_dir():
        for candidate in (path / "best.pt", path / "weights" / "best.pt"):
            if candidate.is_file():
                return candidate
        raise WeightsError(
            f"no {kind} weights in folder {path}: tried {path / 'best.pt'} and {path / 'weights' / 'best.pt'}"
        )
    if path.is_file():
        return path
    raise WeightsError(f"{kind} weights not found: tried {path}; make some with: {PRODUCED_BY[kind]}")
