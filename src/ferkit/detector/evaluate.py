"""``fer eval-detector``: P/R/F1 at a confidence, AP at IoU 0.5 overall and by face size, on every val split.

A WIDER FACE root is split as ``fer datasets wider-to-yolo`` splits it: the held-out events (``val_events``)
and the per-photo val of the other events (``val``); a YOLO data.yaml is scored on its ``val`` and, when it
has one, its ``val_events`` entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ferkit.boxes import detection_arrays
from ferkit.config import DEFAULT_BACKEND, DEFAULT_BATCH_SIZE, DEFAULT_PRECISION
from ferkit.datasets.wider import find_wider_layout, is_wider_root, parse_wider_gt
from ferkit.datasets.wider_split import (
    DEFAULT_VAL_EVENTS,
    DEFAULT_VAL_FRACTION,
    SPLIT_TITLES,
    WiderSplit,
    choose_val_events,
)
from ferkit.datasets.yolo import read_labels, read_split, splits_in
from ferkit.detector.defaults import DEFAULT_CONF, DEFAULT_IMGSZ, DEFAULT_NMS_IOU, EVAL_IOU, EVAL_MIN_SIZE
from ferkit.detector.face_detector import FaceDetector
from ferkit.detector.metrics import SIZE_BINS, match_image, pr_curve
from ferkit.errors import DataError
from ferkit.imaging.images import image_size, read_image
from ferkit.plots import plot_pr_curve

CURVE_FLOOR = 0.01  # detections below this confidence are not scored


@dataclass(frozen=True)
class EvalSample:
    """One image to score: its path, ground-truth boxes (x1, y1, x2, y2 pixels) and invalid flags."""

    image: Path
    boxes: np.ndarray = field(repr=False)
    invalid: np.ndarray = field(repr=False)


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
    if Path(data).suffix in (".yaml", ".yml"):
        names = [s for s in dict.fromkeys(("val", *splits_in(data))) if s != "train"]
        return {n: yolo_val_samples(data, n, skipped) for n in names}
    if Path(data).is_dir():
        find_wider_layout(data)  # names what is missing
    raise DataError(f"must be a YOLO data.yaml or a WIDER FACE root, got {data}", option="data")


@dataclass
class SplitReport:
    """Scores of one val split: P/R/F1 at the chosen and the F1-best confidence, AP overall and by size."""

    images: int
    faces: int
    at_conf: dict[str, float]
    best: dict[str, float]
    ap: float
    ap_by_size: dict[str, float]
    f1_by_size: dict[str, float]  # at the chosen confidence
    faces_by_size: dict[str, int]


@dataclass
class DetectorReport:
    """What ``fer eval-detector`` measured, per val split."""

    weights: str
    data: str
    iou: float
    min_size: float
    imgsz: int | str
    splits: dict[str, SplitReport]
    skipped: list[str] = field(default_factory=list)
    held_out: str = ""  # for a WIDER root: the split rule used

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["splits"] = {k: dict(v.__dict__) for k, v in self.splits.items()}
        return json.loads(json.dumps(d).replace("NaN", "null"))

    def table(self) -> str:
        rows = [
            f"{self.weights} on {self.data}: faces >= {self.min_size:g} px, IoU >= {self.iou}, "
            f"imgsz {self.imgsz}"
        ]
        if self.held_out:
            rows.append(f"split: {self.held_out}")
        for name, s in self.splits.items():
            rows += [
                "",
                f"{SPLIT_TITLES.get(name, name)}: {s.images} images, {s.faces} faces",
                f"{'':<18}{'conf':>6}{'precision':>11}{'recall':>8}{'F1':>8}{'TP':>7}{'FP':>7}{'FN':>7}",
            ]
            for label, r in (("at chosen conf", s.at_conf), ("best F1", s.best)):
                rows.append(
                    f"{label:<18}{r['conf']:>6.3f}{r['precision']:>11.4f}{r['recall']:>8.4f}{r['f1']:>8.4f}"
                    f"{r['tp']:>7}{r['fp']:>7}{r['fn']:>7}"
                )
            rows.append(f"AP@0.5 {_fmt(s.ap)}; by face size (shorter side):")
            for k, (lo, hi) in SIZE_BINS.items():
                span = (
                    f"< {hi:g} px"
                    if lo == 0
                    else f"> {lo:g} px"
                    if hi == float("inf")
                    else f"{lo:g}-{hi:g} px"
                )
                rows.append(
                    f"  {k:<7}{span:<10}{s.faces_by_size[k]:>6} faces  AP@0.5 {_fmt(s.ap_by_size[k])}  "
                    f"F1 at chosen conf {_fmt(s.f1_by_size[k])}"
                )
        if self.skipped:
            rows.append(f"skipped {len(self.skipped)} bad image(s) or label file(s)")
        return "\n".join(rows)


def _fmt(x: float) -> str:
    return "n/a" if x != x else f"{x:.4f}"


def _detect_all(det, samples, batch_size, skip_bad, skipped, bar):
    """Detections (boxes, scores) of every readable sample, with the samples they belong to."""
    kept, found = [], []
    for i in range(0, len(samples), batch_size):
        chunk, arrays = [], []
        for s in samples[i : i + batch_size]:
            try:
                arrays.append(read_image(s.image))
                chunk.append(s)
            except DataError as exc:
                if not skip_bad:
                    raise
                skipped.append(str(exc))
        for s, dets in zip(chunk, det.detect(arrays) if arrays else [], strict=True):
            kept.append(s)
            found.append(detection_arrays(dets))
        bar.update(len(samples[i : i + batch_size]))
    return kept, found


def _curve(samples, found, iou, min_size, size_range=(0.0, float("inf"))):
    statuses, scores, n_faces = [], [], 0
    for s, (boxes, sc) in zip(samples, found, strict=True):
        status, n = match_image(boxes, sc, s.boxes, s.invalid, iou, min_size, size_range)
        statuses.append(status)
        scores.append(sc)
        n_faces += n
    cat = np.concatenate
    return pr_curve(
        cat(scores) if scores else np.zeros(0), cat(statuses) if statuses else np.zeros(0), n_faces
    )


def evaluate_detector(
    weights: str | Path,
    data: str | Path,
    conf: float = DEFAULT_CONF,
    iou: float = EVAL_IOU,
    min_size: float = EVAL_MIN_SIZE,
    imgsz: int | str = DEFAULT_IMGSZ,
    nms_iou: float = DEFAULT_NMS_IOU,
    device: str = "auto",
    val_fraction: float | None = None,
    val_events: str | None = None,
    out_dir: str | Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    skip_bad: bool = False,
    progress: bool = True,
    detector: Any = None,
    backend: str = DEFAULT_BACKEND,
    precision: str = DEFAULT_PRECISION,
) -> DetectorReport:
    """Score ``weights`` on the val splits of ``data`` (a YOLO data.yaml or a WIDER FACE root).

    A WIDER root is split by ``val_fraction`` and ``val_events``; left as None, they are the split recorded
    in the weights (the photos and events they never trained on), else the converter's defaults.

    With ``out_dir``, writes ``metrics.json`` and ``pr_curve_<split>.png`` per split. ``detector``: an
    object with FaceDetector's ``detect`` to score instead of loading ``weights`` (which then only names it).
    """
    det = detector or FaceDetector(
        weights,
        conf=CURVE_FLOOR,
        iou=nms_iou,
        imgsz=imgsz,
        device=device,
        max_det=1000,
        batch_size=batch_size,
        backend=backend,
        precision=precision,
    )
    recorded = getattr(det, "recorded_split", None) or {}
    if val_fraction is None:
        val_fraction = float(recorded.get("val_fraction", DEFAULT_VAL_FRACTION))
    if val_events is None:
        val_events = (
            ",".join(recorded["val_events"]) or "none" if "val_events" in recorded else DEFAULT_VAL_EVENTS
        )
    skipped: list[str] = []
    splits = load_eval_splits(data, val_fraction, val_events, skipped if skip_bad else None)
    total = sum(len(v) for v in splits.values())
    bar = tqdm(total=total, desc="evaluating", unit="img", disable=not progress or None)
    reports, curves = {}, {}
    for name, samples in splits.items():
        kept, found = _detect_all(det, samples, batch_size, skip_bad, skipped, bar)
        curve = _curve(kept, found, iou, min_size)
        by_size = {k: _curve(kept, found, iou, min_size, rng) for k, rng in SIZE_BINS.items()}
        curves[name] = (curve, by_size)
        reports[name] = SplitReport(
            images=len(kept),
            faces=curve.n_faces,
            at_conf=curve.at(conf),
            best=curve.best(),
            ap=curve.average_precision(),
            ap_by_size={k: c.average_precision() for k, c in by_size.items()},
            f1_by_size={k: c.at(conf)["f1"] if c.n_faces else float("nan") for k, c in by_size.items()},
            faces_by_size={k: c.n_faces for k, c in by_size.items()},
        )
    bar.close()
    report = DetectorReport(str(weights), str(data), iou, min_size, imgsz, reports, skipped)
    if is_wider_root(data):
        rule = f"val_fraction={val_fraction:g}, val_events={val_events}"
        report.held_out = rule + (" (recorded in the weights)" if recorded else "")
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(report.to_dict(), indent=2))
        for name, (curve, by_size) in curves.items():
            r = reports[name]
            pr = {"all": (curve.recall, curve.precision, r.ap)}
            pr |= {k: (c.recall, c.precision, r.ap_by_size[k]) for k, c in by_size.items() if c.n_faces}
            plot_pr_curve(
                curve.thresholds,
                curve.precision,
                curve.recall,
                curve.f1,
                r.best["conf"],
                out / f"pr_curve_{name}.png",
                pr_by_size=pr,
                title=f"{SPLIT_TITLES.get(name, name)}: {r.images} images, {r.faces} faces",
            )
    return report
