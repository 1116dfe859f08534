"""Cutting face crops out of images: one pure function shared by the pipeline, benchmarks and tests, and
the recipe a classifier checkpoint carries so every user of the model frames faces the way it was trained."""

from __future__ import annotations

import cv2
import numpy as np

from ferkit.imaging.recipe import INTERPOLATION_NAMES, CropRecipe
from ferkit.types import Box

__all__ = ["INTERPOLATIONS", "TIGHT", "CropRecipe", "crop_face", "expand_box", "resize_square"]

INTERPOLATIONS = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}
TIGHT = CropRecipe(margin=0.0)  # the box as it is, made square
assert set(INTERPOLATIONS) == set(INTERPOLATION_NAMES)


def expand_box(box: Box, margin: float, width: int, height: int, square: bool = True) -> Box:
    """Grow ``box`` by ``margin`` (a fraction of its size on each side), optionally to a square, clipped.

    A negative margin shrinks the box.
    """
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    w, h = box.width * (1 + 2 * margin), box.height * (1 + 2 * margin)
    if square:
        w = h = max(w, h)
    return Box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2).clip(width, height)


def crop_face(image: np.ndarray, box: Box, recipe: CropRecipe = TIGHT) -> np.ndarray:
    """The pixels of ``box`` framed by ``recipe`` (its margin and squareness, see :func:`expand_box`),
    clipped to the image; resizing to the model's input is the classifier's part of the recipe.

    Always returns at least a 1x1 crop, so a degenerate box never breaks a batch.
    """
    h, w = image.shape[:2]
    b = expand_box(box, recipe.margin, w, h, recipe.square)
    x1, y1 = int(np.floor(b.x1)), int(np.floor(b.y1))
    x2, y2 = max(int(np.ceil(b.x2)), x1 + 1), max(int(np.ceil(b.y2)), y1 + 1)
    x1, y1 = min(x1, w - 1), min(y1, h - 1)
    return image[y1 : min(y2, h), x1 : min(x2, w)]


def resize_square(gray: np.ndarray, size: int, interpolation: str = "area") -> np.ndarray:
    """Resize a 2-D crop to ``size`` x ``size``: ``interpolation`` when shrinking, linear when enlarging."""
    if gray.shape == (size, size):
        return gray
    interp = INTERPOLATIONS[interpolation] if min(gray.shape) > size else cv2.INTER_LINEAR
    return cv2.resize(gray, (size, size), interpolation=interp)
