"""``fer eval-detector``: P/R/F1 at a confidence, AP at IoU 0.5 overall and by face size, on every val split.

A WIDER FACE root is split as ``fer datasets wider-to-yolo`` splits it: the held-out events (``val_events``)
and the per-photo val of the other events (``val``); a YOLO data.yaml is scored on its ``val`` and, when it
has one, its ``val_events`` entry; the official WIDER FACE val set also gets AP easy / medium / hard by the
evaluation kit's protocol (:mod:`ferkit.detector.wider_official`).
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
from ferkit.datasets.wider import is_wider_root
from ferkit.datasets.wider_split import DEFAULT_VAL_EVENTS, DEFAULT_VAL_FRACTION, SPLIT_TITLES
from ferkit.detector.defaults import DEFAULT_CONF, DEFAULT_IMGSZ, DEFAULT_NMS_IOU, EVAL_IOU, EVAL_MIN_SIZE
from ferkit.detector.eval_samples import load_eval_splits
from ferkit.detector.face_detector import FaceDetector
from ferkit.detector.metrics import SIZE_BINS, PhotoMatches, match_image, pr_curve
from ferkit.detector.wider_official import official_ap
from ferkit.errors import DataError
from ferkit.imaging.images import read_image
from ferkit.plots import plot_pr_curve

CURVE_FLOOR = 0.01  # detections below this confidence are not scored


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
    official_ap: dict[str, float] = field(default_factory=dict)  # official WIDER val: AP easy/medium/hard


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
    tile: bool = False  # large photos also run in tiles (--tile)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["splits"] = {k: dict(v.__dict__) for k, v in self.splits.items()}
        return json.loads(json.dumps(d).replace("NaN", "null"))

    def table(self) -> str:
        rows = [
            f"{self.weights} on {self.data}: faces >= {self.min_size:g} px, IoU >= {self.iou}, "
            f"imgsz {self.imgsz}{', tiled' if self.tile else ''}"
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
            if s.official_ap:
                aps = ", ".join(f"{k} {_fmt(v)}" for k, v in s.official_ap.items())
                rows.append(f"AP by the WIDER FACE evaluation kit's protocol (all sizes): {aps}")
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


def match_photos(
    det: Any, samples: list, iou: float = EVAL_IOU, min_size: float = EVAL_MIN_SIZE, batch_size: int = 8
) -> list[PhotoMatches]:
    """Each sample photo run through ``det`` (a FaceDetector built with ``conf=CURVE_FLOOR``) and matched
    to its faces: per photo, its detections' statuses, their scores and the faces counted (for
    :func:`ferkit.detector.metrics.paired_photo_bootstrap`)."""
    bar = tqdm(total=len(samples), desc="matching", unit="img", disable=None)
    kept, found = _detect_all(det, samples, batch_size, False, [], bar)
    bar.close()
    out = []
    for s, (boxes, scores) in zip(kept, found, strict=True):
        status, n = match_image(boxes, scores, s.boxes, s.invalid, iou, min_size)
        out.append((status, np.asarray(scores, dtype=np.float64), n))
    return out


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


def _split_report(kept, found, conf: float, iou: float, min_size: float) -> tuple[SplitReport, tuple]:
    """One split's figures (P/R/F1 at ``conf``, AP overall, by face size and the official levels) and its
    curves (overall, by size) for the plots."""
    curve = _curve(kept, found, iou, min_size)
    by_size = {k: _curve(kept, found, iou, min_size, rng) for k, rng in SIZE_BINS.items()}
    report = SplitReport(
        images=len(kept),
        faces=curve.n_faces,
        at_conf=curve.at(conf),
        best=curve.best(),
        ap=curve.average_precision(),
        ap_by_size={k: c.average_precision() for k, c in by_size.items()},
        f1_by_size={k: c.at(conf)["f1"] if c.n_faces else float("nan") for k, c in by_size.items()},
        faces_by_size={k: c.n_faces for k, c in by_size.items()},
    )
    if kept and kept[0].subsets:
        levels = {lv: [s.subsets[lv] for s in kept] for lv in kept[0].subsets}
        report.official_ap = official_ap(found, [s.boxes for s in kept], levels)
    return report, (curve, by_size)


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
    tile: bool = False,
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
        tile=tile,
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
        reports[name], curves[name] = _split_report(kept, found, conf, iou, min_size)
    bar.close()
    report = DetectorReport(str(weights), str(data), iou, min_size, imgsz, reports, skipped, tile=tile)
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
