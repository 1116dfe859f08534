"""The images ``fer eval-detector`` scores and their ground truth: the val splits of a WIDER FACE train
root (as ``fer datasets wider-to-yolo`` splits it), of a YOLO data.yaml, or the official WIDER FACE val set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ferkit.datasets.wider import find_wider_layout, is_wider_root, parse_wider_gt
from ferkit.datasets.wider_split import (
    DEFAULT_VAL_EVENTS,
    DEFAULT_VAL_FRACTION,
    WiderSplit,
    choose_val_events,
)
from ferkit.datasets.yolo import read_labels, read_split, splits_in
from ferkit.detector.wider_official import is_wider_val_root, official_val
from ferkit.errors import DataError
from ferkit.imaging.images import image_size


@dataclass(frozen=True)
class EvalSample:
    """One image to score: its path, ground-truth boxes (x1, y1, x2, y2 pixels) and invalid flags."""

    image: Path
    boxes: np.ndarray = field(repr=False)
    invalid: np.ndarray = field(repr=False)
    subsets: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # official WIDER val: kept faces


def wider_official_samples(root: str | Path) -> list[EvalSample]:
    """The official WIDER FACE val set, each image with its faces kept in easy / medium / hard (or all)."""
    images_dir, entries, keep = official_val(root)
    return [
        EvalSample(images_dir / path, xyxy, invalid, {lv: masks[i] for lv, masks in keep.items()})
        for i, (path, xyxy, invalid) in enumerate(entries)
    ]


def wider_val_samples(
    root: str | Path, val_fraction: float = DEFAULT_VAL_FRACTION, val_events: str = DEFAULT_VAL_EVENTS
) -> dict[str, list[EvalSample]]:
    """The val splits of a WIDER FACE root under the converter's rule, invalid faces kept (as ignored)."""
    images_dir, gt_file = find_wider_layout(root)
    entries = parse_wider_gt(gt_file)
    rule = WiderSplit(val_fraction, choose_val_events(val_events, (e.path for e in entries)))
    splits: dict[str, list[EvalSample]] = {"val": [], "val_events": []}
    for entry in entries:
        split = rule.of(entry.path)
        if split == "train":
            continue
        xywh = entry.boxes.astype(np.float64)
        ok = (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
        xyxy = np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]][ok]
        splits[split].append(EvalSample(images_dir / entry.path, xyxy, entry.invalid[ok]))
    splits = {k: v for k, v in splits.items() if v}
    if not splits:
        raise DataError(f"{root}: no images in a val split ({rule.describe()})")
    return splits


def yolo_val_samples(
    data_yaml: str | Path, split: str = "val", skipped: list[str] | None = None
) -> list[EvalSample]:
    """One split of a YOLO data.yaml; label coordinates are scaled by each image's displayed size.

    A malformed label file is a DataError naming file and line, or, with a ``skipped`` list, is recorded
    there and its image left out.
    """
    samples = []
    s = read_split(data_yaml, split)
    for img, lab in zip(s.images, s.labels, strict=True):
        try:
            w, h = image_size(img, oriented=True)
        except DataError:
            w = h = 0  # unreadable: reported when the image is read for detection
        try:
            boxes = read_labels(lab, w, h)
        except DataError as exc:
            if skipped is None:
                raise
            skipped.append(str(exc))
            continue
        samples.append(EvalSample(img, boxes, np.zeros(len(boxes), dtype=bool)))
    return samples


def load_eval_splits(
    data: str | Path,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    val_events: str = DEFAULT_VAL_EVENTS,
    skipped: list[str] | None = None,
) -> dict[str, list[EvalSample]]:
    """{split: samples} of a WIDER root, or of a YOLO data.yaml (``val``, and ``val_events`` if present)."""
    if is_wider_root(data):
        return wider_val_samples(data, val_fraction, val_events)
    if is_wider_val_root(data):
        return {"wider_val": wider_official_samples(data)}
    if Path(data).suffix in (".yaml", ".yml"):
        names = [s for s in dict.fromkeys(("val", *splits_in(data))) if s != "train"]
        return {n: yolo_val_samples(data, n, skipped) for n in names}
    if Path(data).is_dir():
        find_wider_layout(data)  # names what is missing
    raise DataError(
        f"must be a YOLO data.yaml, a WIDER FACE root or the official WIDER FACE val folder, got {data}",
        option="data",
    )
