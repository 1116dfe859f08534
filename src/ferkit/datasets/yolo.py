"""YOLO-format face datasets (data.yaml + images/ + labels/): validation and reading for evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ferkit.datasets.wider_split import SPLITS
from ferkit.errors import DataError
from ferkit.imaging.images import is_image_file


@dataclass(frozen=True)
class YoloSplit:
    """Image paths of one split and the label file each one has (or would have)."""

    images: list[Path]
    labels: list[Path]


def _image_dirs(data_yaml: Path, entry: object) -> list[Path]:
    cfg = yaml.safe_load(data_yaml.read_text()) or {}
    base = Path(cfg.get("path") or data_yaml.parent)
    if not base.is_absolute():
        base = (data_yaml.parent / base).resolve()
    entries = entry if isinstance(entry, list) else [entry]
    return [p if (p := Path(str(e))).is_absolute() else base / p for e in entries]


def label_path(image: Path) -> Path:
    """ultralytics' convention: the last ``images`` folder in the path becomes ``labels``, suffix ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def load_data_yaml(data_yaml: str | Path) -> dict:
    """The contents of a YOLO data.yaml; a missing or invalid file is a DataError."""
    data_yaml = Path(data_yaml)
    if not data_yaml.is_file():
        raise DataError(f"YOLO data file not found: {data_yaml}")
    try:
        return yaml.safe_load(data_yaml.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DataError(f"{data_yaml}: not valid YAML ({exc})") from None


def splits_in(data_yaml: str | Path) -> list[str]:
    """Which of train, val and val_events a YOLO data.yaml names, in that order."""
    cfg = load_data_yaml(data_yaml)
    return [s for s in SPLITS if s in cfg]


def read_split(data_yaml: str | Path, split: str = "val") -> YoloSplit:
    """List the images of ``split`` (a folder, or a .txt list of images) of a YOLO data.yaml."""
    data_yaml = Path(data_yaml)
    cfg = load_data_yaml(data_yaml)
    if split not in cfg:
        raise DataError(f"{data_yaml}: no '{split}' entry (expected train: and val: image folders)")
    images: list[Path] = []
    for d in _image_dirs(data_yaml, cfg[split]):
        if d.is_dir():
            images += sorted(p for p in d.rglob("*") if is_image_file(p))
        elif d.suffix == ".txt" and d.is_file():
            images += [Path(line.strip()) for line in d.read_text().splitlines() if line.strip()]
        else:
            raise DataError(f"{data_yaml}: {split} folder not found: {d}")
    if not images:
        raise DataError(f"{data_yaml}: the {split} split has no images")
    return YoloSplit(images, [label_path(p) for p in images])


def read_labels(label_file: Path, width: int, height: int, num_classes: int | None = None) -> np.ndarray:
    """Boxes of one YOLO label file as an (N, 4) array of pixel ``x1, y1, x2, y2``; no file means no faces.

    ``num_classes`` (the data set's class count) also refuses class ids the data set does not have, which
    ultralytics would otherwise drop silently with their image.
    """
    if not label_file.is_file():
        return np.zeros((0, 4), dtype=np.float32)
    try:
        text = label_file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{label_file}: not a text label file (bytes that are not UTF-8 at offset {exc.start})"
        ) from None
    except OSError as exc:
        raise DataError(f"{label_file}: cannot read ({exc.strerror or exc})") from None
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 5:
            raise DataError(f"{label_file}:{lineno}: expected 'class cx cy w h', got {line.strip()!r}")
        try:
            cls, cx, cy, w, h = (float(p) for p in parts)
        except ValueError:
            raise DataError(f"{label_file}:{lineno}: non-numeric value in {line.strip()!r}") from None
        if cls != int(cls) or cls < 0:
            raise DataError(f"{label_file}:{lineno}: class must be a non-negative integer, got {parts[0]}")
        if num_classes is not None and cls >= num_classes:
            raise DataError(
                f"{label_file}:{lineno}: class {int(cls)} is not in the data set, whose names has "
                f"{num_classes} class(es) (ids 0 to {num_classes - 1})"
            )
        if not all(0.0 <= v <= 1.0 for v in (cx, cy, w, h)):
            raise DataError(
                f"{label_file}:{lineno}: coordinates must be normalised to [0, 1], got {line.strip()!r}"
            )
        rows.append(
            ((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height)
        )
    return np.asarray(rows, dtype=np.float32).reshape(-1, 4)


def class_count(data_yaml: str | Path) -> int | None:
    """How many classes a data.yaml names (its ``names`` list or mapping, or ``nc``); None if it says not."""
    d = load_data_yaml(data_yaml)
    names = d.get("names")
    count = len(names) if isinstance(names, (list, dict)) else d.get("nc")
    return count if isinstance(count, int) and count > 0 else None


def check_yolo_dataset(data_yaml: str | Path, bad: list[str] | None = None) -> dict[str, int]:
    """Validate a YOLO data.yaml: its splits exist and every label line is well-formed and in [0, 1].

    Returns the number of images per split (train, val and, if present, val_events). A malformed label file
    raises a DataError naming file and line or, given a ``bad`` list, is recorded there instead.
    """
    counts = {}
    num_classes = class_count(data_yaml)
    for split in dict.fromkeys(("train", "val", *splits_in(data_yaml))):  # train and val are required
        s = read_split(data_yaml, split)
        for label in s.labels:
            try:
                read_labels(label, 1, 1, num_classes)
            except DataError as exc:
                if bad is None:
                    raise
                bad.append(str(exc))
        counts[split] = len(s.images)
    return counts
