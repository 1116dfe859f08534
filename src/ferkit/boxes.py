"""Box geometry on (N, 4) arrays of x1, y1, x2, y2 pixels: areas, overlaps, IoU, boxes inside boxes.

Used by inference (dropping face parts), tracking, training data and scoring alike; depends on nothing
but numpy (and the result types, for type hints).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ferkit.types import Detection


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


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the kept boxes, highest score first. A box is dropped when
    its IoU with a kept, higher-scored box exceeds ``iou``; computed in float32, as torchvision's ``nms``."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        order = rest[inter / (areas[i] + areas[rest] - inter) <= iou]
    return np.array(keep, dtype=np.int64)
