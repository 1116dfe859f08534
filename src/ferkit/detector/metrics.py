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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ferkit.types import Detection

TP, FP, IGNORED = 1, 0, -1
# face-size bins (shorter side, pixels) for AP by size: small < 32, medium 32-96, large > 96
SIZE_BINS: dict[str, tuple[float, float]] = {
    "small": (0.0, 32.0),
    "medium": (32.0, 96.0),
    "large": (96.0, float("inf")),
}


def detection_arrays(dets: Sequence[Detection]) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4: x1, y1, x2, y2) and scores (N,) of a list of Detections."""
    boxes = np.array([[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in dets], dtype=np.float64)
    return boxes.reshape(-1, 4), np.array([d.score for d in dets], dtype=np.float64)


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Area of each box (N, 4); an inverted side counts as 0."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def intersection_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Overlap area of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), boxes as x1, y1, x2, y2."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    return np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), boxes as x1, y1, x2, y2."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    inter = intersection_matrix(a, b)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def contained_in_higher(boxes: np.ndarray, scores: np.ndarray, share: float) -> np.ndarray:
    """Mask of the boxes that keep: False for one with ``share`` or more of its area inside a kept box of a
    higher score (a face part found beside the whole face, as happens when a face fills the photo)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    keep = np.ones(len(boxes), dtype=bool)
    if share > 1.0 or len(boxes) < 2:
        return keep
    area = box_area(boxes)
    # inside[i, j]: the share of box i's area that lies in box j
    inside = intersection_matrix(boxes, boxes) / np.where(area > 0, area, 1.0)[:, None]
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    for rank, i in enumerate(order):
        above = order[:rank]
        if area[i] > 0 and (keep[above] & (inside[i, above] >= share)).any():
            keep[i] = False
    return keep


def shorter_side(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])


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


def pr_curve(scores: np.ndarray, status: np.ndarray, n_faces: int) -> PRCurve:
    """Build the curve from all images' detection scores and statuses (ignored detections dropped)."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    status = np.asarray(status).reshape(-1)
    counted = status != IGNORED
    s, hit = scores[counted], status[counted] == TP
    order = np.argsort(-s, kind="stable")
    s, hit = s[order], hit[order]
    tp, fp = np.cumsum(hit), np.cumsum(~hit)
    # a threshold keeps every detection tied at it: keep the last index of each run of equal scores
    last = np.r_[s[1:] != s[:-1], True] if len(s) else np.zeros(0, dtype=bool)
    return PRCurve(s[last], tp[last], fp[last], n_faces)
