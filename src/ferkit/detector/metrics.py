"""Exact face-detection scoring: greedy one-to-one matching by score, with ignored faces.

A ground-truth face is *ignored* when it is marked invalid or its shorter side is below ``min_size``. A
detection matched to an ignored face, or an unmatched detection whose own shorter side is below
``min_size``, is neither a hit nor a false alarm. Greedy matching in descending score order makes the
result at a confidence threshold independent of lower-scored detections, so one matching pass gives the
whole precision/recall curve.

Scores by face size keep the same rule with a size range: faces outside it are ignored, and so are
unmatched detections outside it. Size is the shorter side of a box, as for ``min_size``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ferkit.boxes import iou_matrix, shorter_side

TP, FP, IGNORED = 1, 0, -1
# face-size bins (shorter side, pixels) for AP by size: small < 32, medium 32-96, large > 96
SIZE_BINS: dict[str, tuple[float, float]] = {
    "small": (0.0, 32.0),
    "medium": (32.0, 96.0),
    "large": (96.0, float("inf")),
}


def match_image(
    det_boxes: np.ndarray,
    det_scores: np.ndarray,
    gt_boxes: np.ndarray,
    gt_invalid: np.ndarray | None = None,
    iou_threshold: float = 0.5,
    min_size: float = 0.0,
    size_range: tuple[float, float] = (0.0, float("inf")),
) -> tuple[np.ndarray, int]:
    """Status of each detection (TP / FP / IGNORED, in the input order) and the number of counted faces.

    Faces count when valid and ``max(min_size, lo) <= shorter side < hi`` for ``size_range = (lo, hi)``.
    """
    det_boxes = np.asarray(det_boxes, dtype=np.float64).reshape(-1, 4)
    det_scores = np.asarray(det_scores, dtype=np.float64).reshape(-1)
    gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    lo, hi = max(min_size, size_range[0]), size_range[1]
    gt_side = shorter_side(gt_boxes)
    ignore = (gt_side < lo) | (gt_side >= hi)
    if gt_invalid is not None:
        ignore |= np.asarray(gt_invalid, dtype=bool).reshape(-1)
    status = np.full(len(det_boxes), FP, dtype=np.int8)
    ious = iou_matrix(det_boxes, gt_boxes)
    matched = np.zeros(len(gt_boxes), dtype=bool)
    det_side = shorter_side(det_boxes)
    out_of_range = (det_side < lo) | (det_side >= hi)
    for d in np.argsort(-det_scores, kind="stable"):
        row = ious[d]
        free = (~ignore) & (~matched) & (row >= iou_threshold)
        if free.any():
            g = int(np.argmax(np.where(free, row, -1.0)))
            matched[g] = True
            status[d] = TP
        elif (ignore & (row >= iou_threshold)).any() or out_of_range[d]:
            status[d] = IGNORED
    return status, int((~ignore).sum())


@dataclass(frozen=True)
class PRCurve:
    """Cumulative hits and false alarms at every distinct detection confidence (descending)."""

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    n_faces: int

    @property
    def precision(self) -> np.ndarray:
        return self.tp / np.maximum(self.tp + self.fp, 1)

    @property
    def recall(self) -> np.ndarray:
        return self.tp / max(self.n_faces, 1)

    @property
    def f1(self) -> np.ndarray:
        return 2 * self.tp / np.maximum(self.tp + self.fp + self.n_faces, 1)

    def at(self, conf: float) -> dict[str, float]:
        """Counts and P/R/F1 keeping detections with score >= ``conf``."""
        keep = np.flatnonzero(self.thresholds >= conf)
        tp, fp = (int(self.tp[keep[-1]]), int(self.fp[keep[-1]])) if len(keep) else (0, 0)
        fn = self.n_faces - tp
        return {
            "conf": float(conf),
            "precision": tp / (tp + fp) if tp + fp else 1.0,
            "recall": tp / self.n_faces if self.n_faces else 1.0,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0,
            "tp": tp,
            "fp": fp,
            "fn": fn,
        }

    def average_precision(self) -> float:
        """Area under the precision-recall curve with precision made non-increasing (all-point, VOC style).

        Detections below the lowest scored confidence never count, so the area ends at the recall reached
        there; with no faces to find it is NaN.
        """
        if self.n_faces == 0:
            return float("nan")
        if not len(self.thresholds):
            return 0.0
        envelope = np.maximum.accumulate(self.precision[::-1])[::-1]
        steps = np.diff(np.r_[0.0, self.recall])
        return float(np.sum(steps * envelope))

    def best(self) -> dict[str, float]:
        """The operating point with the highest F1 (the highest confidence among ties)."""
        if not len(self.thresholds):
            return self.at(1.0)
        return self.at(float(self.thresholds[int(np.argmax(self.f1))]))


def pr_curve(
    scores: np.ndarray, status: np.ndarray, n_faces: float, weights: np.ndarray | None = None
) -> PRCurve:
    """Build the curve from all images' detection scores and statuses (ignored detections dropped).

    ``weights`` counts each detection that many times (a photo drawn twice by a bootstrap counts twice).
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    status = np.asarray(status).reshape(-1)
    counted = status != IGNORED
    s, hit = scores[counted], status[counted] == TP
    w = np.ones(len(s)) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)[counted]
    order = np.argsort(-s, kind="stable")
    s, hit, w = s[order], hit[order], w[order]
    tp, fp = np.cumsum(w * hit), np.cumsum(w * ~hit)
    if weights is None:
        tp, fp = tp.astype(np.int64), fp.astype(np.int64)
    # a threshold keeps every detection tied at it: keep the last index of each run of equal scores
    last = np.r_[s[1:] != s[:-1], True] if len(s) else np.zeros(0, dtype=bool)
    return PRCurve(s[last], tp[last], fp[last], n_faces)


PhotoMatches = tuple[
    np.ndarray, np.ndarray, int
]  # one photo: detection statuses, their scores, faces counted


@dataclass(frozen=True)
class PairedFigure:
    """One figure of detector A and B on the same photos, B - A, and a bootstrap interval of B - A."""

    a: float
    b: float
    difference: float
    low: float
    high: float


def paired_photo_bootstrap(
    a: list[PhotoMatches],
    b: list[PhotoMatches],
    conf: float,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, PairedFigure]:
    """F1 at ``conf`` and AP of two detectors scored on the same photos (in the same order), with
    intervals of their difference from resampling the photos with replacement."""
    if len(a) != len(b) or not a:
        raise ValueError(f"need the same, non-empty list of photos for both, got {len(a)} and {len(b)}")
    if any(na != nb for (_, _, na), (_, _, nb) in zip(a, b, strict=True)):
        raise ValueError("the two lists count different faces: they are not the same photos")
    faces = np.array([n for _, _, n in a], dtype=np.float64)
    flat = []
    for photos in (a, b):
        owner = np.concatenate([np.full(len(st), i) for i, (st, _, _) in enumerate(photos)]).astype(np.int64)
        flat.append(
            (np.concatenate([sc for _, sc, _ in photos]), np.concatenate([st for st, _, _ in photos]), owner)
        )

    def figures(counts: np.ndarray) -> np.ndarray:
        out = []
        for scores, status, owner in flat:
            curve = pr_curve(scores, status, float(counts @ faces), counts[owner])
            out += [curve.at(conf)["f1"], curve.average_precision()]
        return np.array(out)  # f1 A, ap A, f1 B, ap B

    base = figures(np.ones(len(a)))
    rng = np.random.default_rng(seed)
    draws = np.array(
        [figures(np.bincount(rng.integers(0, len(a), len(a)), minlength=len(a))) for _ in range(resamples)]
    )
    diffs = draws[:, 2:] - draws[:, :2]
    lo, hi = np.percentile(diffs, [50 * (1 - level), 50 * (1 + level)], axis=0)
    return {
        name: PairedFigure(
            float(base[k]), float(base[k + 2]), float(base[k + 2] - base[k]), float(lo[k]), float(hi[k])
        )
        for k, name in enumerate(("f1", "ap"))
    }
