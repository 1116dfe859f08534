"""Drawing results on images: one box and one readable label per face, for photos, video frames and the
web page's colours alike.

A label always lies inside the image: above its box when there is room, else below it, else inside the box
at its top; shifted left at the right edge; on a patch of the box's colour, with a font scaled to the image
(and shrunk until the label fits its width).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ferkit.config import DrawStyle
from ferkit.types import FrameResult, ImageResult

# one BGR colour per emotion, stable across runs
PALETTE = [
    (60, 60, 230),
    (40, 160, 40),
    (150, 60, 150),
    (0, 200, 255),
    (200, 120, 40),
    (255, 200, 0),
    (180, 180, 180),
    (100, 100, 255),
    (0, 128, 255),
    (128, 0, 128),
]
FONT = cv2.FONT_HERSHEY_SIMPLEX


def colour_for(label: str, class_names: Sequence[str]) -> tuple[int, int, int]:
    """The BGR colour of ``label`` (by its place among ``class_names``)."""
    i = list(class_names).index(label) if label in class_names else len(class_names)
    return PALETTE[i % len(PALETTE)]


def label_text(face, style: DrawStyle) -> str:
    text = f"{face.emotion} {face.emotion_score:.2f}" if style.conf else face.emotion
    return text if face.track_id is None else f"#{face.track_id} {text}"


def label_origin(
    box: tuple[int, int, int, int], size: tuple[int, int], image: tuple[int, int]
) -> tuple[int, int]:
    """Top-left corner of a ``size`` (w, h) label for ``box`` (x1, y1, x2, y2) in an ``image`` (w, h):
    above the box, else below it, else inside its top; always within the image."""
    x1, y1, _, y2 = box
    w, h = size
    iw, ih = image
    if y1 - h >= 0:
        y = y1 - h
    elif y2 + h <= ih:
        y = y2
    else:
        y = y1
    x = min(max(x1, 0), max(iw - w, 0))
    return x, min(max(y, 0), max(ih - h, 0))


def annotate(
    image: np.ndarray,
    result: ImageResult | FrameResult,
    class_names: Sequence[str] | None = None,
    style: DrawStyle | None = None,
) -> np.ndarray:
    """A copy of the BGR ``image`` with each face's box and label ('emotion confidence', '#track_id' in
    front for tracked faces) drawn; ``class_names`` fix the colours (default: the faces' own classes)."""
    style = style or DrawStyle()
    out = image.copy()
    ih, iw = out.shape[:2]
    names = class_names if class_names is not None else _names(result)
    scale = max(ih, iw) / 640
    thick = style.line_width or max(1, round(2 * scale))
    sx, sy = image_scale(image, result)
    for f in result.faces:
        c = colour_for(f.emotion, names)
        b = f.box_xyxy.scaled(sx, sy)
        x1, y1, x2, y2 = (round(v) for v in (b.x1, b.y1, b.x2, b.y2))
        cv2.rectangle(out, (x1, y1), (x2, y2), c, thick)
        if style.labels:
            _draw_label(out, label_text(f, style), (x1, y1, x2, y2), c, max(0.4, 0.5 * scale))
    return out


def _draw_label(out: np.ndarray, text: str, box: tuple[int, int, int, int], colour, font_scale: float):
    ih, iw = out.shape[:2]
    while True:
        weight = max(1, round(font_scale * 2))
        (tw, th), base = cv2.getTextSize(text, FONT, font_scale, weight)
        w, h = tw + 4, th + base + 4
        if w <= iw or font_scale <= 0.2:
            break
        font_scale *= 0.85  # a label wider than the image: smaller, until it fits
    x, y = label_origin(box, (w, h), (iw, ih))
    cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), colour, -1)
    cv2.putText(out, text, (x + 2, y + 2 + th), FONT, font_scale, (0, 0, 0), weight, cv2.LINE_AA)


def image_scale(image: np.ndarray, result: ImageResult | FrameResult) -> tuple[float, float]:
    """How result boxes (full-image pixels) map onto ``image`` (smaller when decoded at reduced scale)."""
    if not result.width or not result.height:
        return 1.0, 1.0
    return image.shape[1] / result.width, image.shape[0] / result.height


def _names(result: ImageResult | FrameResult) -> list[str]:
    return list(result.faces[0].emotion_probs) if result.faces else []
