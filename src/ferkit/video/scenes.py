"""Scene cuts: a hard change of the whole frame, found cheaply by comparing colour histograms.

Each processed frame is shrunk to 64x36 and described by a 16x16 hue-saturation histogram; the Bhattacharyya
distance between consecutive frames' histograms is near 0 within a shot (camera motion, people moving) and
jumps toward 1 at a cut. A distance at or above the threshold is a cut: every track ends there, so no track
spans two scenes (docs/benchmarks.md, "video tracks", measured the threshold).
"""

from __future__ import annotations

import cv2
import numpy as np

_SMALL = (64, 36)


def frame_signature(image: np.ndarray) -> np.ndarray:
    """The normalised hue-saturation histogram of a BGR (or gray) frame, shrunk first: about 0.1 ms."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    small = cv2.resize(image, _SMALL, interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 16], [0, 180, 0, 256])
    return cv2.normalize(hist, hist, norm_type=cv2.NORM_L1).astype(np.float32)


def scene_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance of two signatures: 0 the same colours, 1 nothing in common."""
    return float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))


class SceneCuts:
    """Says, frame by frame, whether a frame starts a new scene (``threshold`` 0 or above 1: never)."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self._last: np.ndarray | None = None
        self.distances: list[float] = []  # of every frame after the first (for measurement)

    def is_cut(self, image: np.ndarray) -> bool:
        sig = frame_signature(image)
        last, self._last = self._last, sig
        if last is None:
            return False
        d = scene_distance(last, sig)
        self.distances.append(d)
        return 0 < self.threshold <= d
