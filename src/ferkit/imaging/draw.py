"""Drawing results on images: one box and one readable label per face, for photos, video frames and the
web page's colours alike.

A label always lies inside the image: above its box when there is room, else below it, else inside the box
at its top; shifted left at the right edge; on a patch of the box's colour, with a font scaled to the image
(and shrunk until the label fits its width).

In a crowd a label never hides another face: where the label is much wider than its face
(``LABEL_FIT``), or would cover another face or label, the face gets a small index instead (its
``face_index``, or ``#track_id`` in video) and, on photos, its label goes into a legend band under the image
(video frames keep their size: there the index alone is drawn). A face without an emotion (too small to
read) gets a thin white box and no label.
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
LABEL_FIT = 2.0  # a label wider than this many times its face's box goes to the legend
MIN_FONT = 0.4  # labels beside faces are never drawn smaller than this font scale
NO_EMOTION_COLOUR = (255, 255, 255)
LEGEND_BG = (40, 40, 40)


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
    front for tracked faces) drawn; ``class_names`` fix the colours (default: the faces' own classes).
    Labels that do not fit go into a legend band under a photo (the copy is then taller)."""
    style = style or DrawStyle()
    out = image.copy()
    ih, iw = out.shape[:2]
    names = class_names if class_names is not None else _names(result)
    scale = max(ih, iw) / 640
    thick = style.line_width or max(1, round(2 * scale))
    font = max(0.4, 0.5 * scale)
    sx, sy = image_scale(image, result)
    boxes = [tuple(round(v) for v in f.box_xyxy.scaled(sx, sy)) for f in result.faces]
    for f, box in zip(result.faces, boxes, strict=True):
        c = NO_EMOTION_COLOUR if f.emotion is None else colour_for(f.emotion, names)
        cv2.rectangle(out, box[:2], box[2:], c, thick if f.emotion is not None else max(1, thick - 1))
    if not style.labels:
        return out
    legend = _place_labels(out, result, boxes, names, style, font)
    if legend and isinstance(result, ImageResult):
        out = _with_legend(out, legend, font)
    return out


def _place_labels(out, result, boxes, names, style: DrawStyle, font: float) -> list[tuple[str, tuple]]:
    """Draw each label that fits beside its face; small indices for the others, whose (text, colour) are
    returned for the legend."""
    ih, iw = out.shape[:2]
    taken: list[tuple[int, int, int, int]] = []
    legend = []
    for i, (f, box) in enumerate(zip(result.faces, boxes, strict=True)):
        if f.emotion is None:
            continue
        c, text = colour_for(f.emotion, names), label_text(f, style)
        others = [b for k, b in enumerate(boxes) if k != i] + taken
        placed = _inline_label(text, box, font, (iw, ih), others)
        if placed is not None:
            rect, font_i = placed
            _draw_patch(out, text, rect[:2], c, font_i)
            taken.append(rect)
            continue
        index = f"#{f.track_id}" if f.track_id is not None else str(i)
        small_font, (w, h) = _fit_font(index, 0.35, iw)
        _draw_patch(out, index, label_origin(box, (w, h), (iw, ih)), c, small_font)
        legend.append((f"{index} {text}" if f.track_id is None else text, c))
    return legend


def _inline_label(text: str, box, font: float, image: tuple[int, int], others) -> tuple[tuple, float] | None:
    """Where ``text`` goes beside ``box`` (its rectangle and font scale): at the image's font, or smaller
    down to ``MIN_FONT``; None when it fits nowhere without being much wider than the face or covering
    another face or label."""
    for scale in (font, font * 0.75, font * 0.55):
        font_i, (w, h) = _fit_font(text, max(scale, MIN_FONT), image[0])
        x, y = label_origin(box, (w, h), image)
        rect = (x, y, x + w, y + h)
        if w <= LABEL_FIT * max(box[2] - box[0], 1) and not any(_overlap(rect, b) for b in others):
            return rect, font_i
        if scale <= MIN_FONT:
            break
    return None


def _with_legend(image: np.ndarray, entries: list[tuple[str, tuple]], font: float) -> np.ndarray:
    """``image`` with a band under it holding each (text, colour) entry as a label patch, in columns."""
    iw = image.shape[1]
    sizes = [_fit_font(t, font, iw)[1] for t, _ in entries]
    col_w = max(w for w, _ in sizes) + 6
    row_h = max(h for _, h in sizes) + 4
    cols = max(1, iw // col_w)
    rows = -(-len(entries) // cols)
    band = np.full((rows * row_h + 6, iw, 3), LEGEND_BG, np.uint8)
    for k, (text, colour) in enumerate(entries):
        r, col = divmod(k, cols)
        _draw_patch(band, text, (3 + col * col_w, 3 + r * row_h), colour, _fit_font(text, font, iw)[0])
    return np.vstack([image, band])


def _fit_font(text: str, font_scale: float, width: int) -> tuple[float, tuple[int, int]]:
    """The font scale (shrunk until the label fits ``width``) and the label patch's (w, h)."""
    while True:
        weight = max(1, round(font_scale * 2))
        (tw, th), base = cv2.getTextSize(text, FONT, font_scale, weight)
        w, h = tw + 4, th + base + 4
        if w <= width or font_scale <= 0.2:
            return font_scale, (w, h)
        font_scale *= 0.85  # a label wider than the image: smaller, until it fits


def _draw_patch(out: np.ndarray, text: str, at: tuple[int, int], colour, font_scale: float) -> None:
    weight = max(1, round(font_scale * 2))
    (tw, th), base = cv2.getTextSize(text, FONT, font_scale, weight)
    x, y = at
    cv2.rectangle(out, (x, y), (x + tw + 3, y + th + base + 3), colour, -1)
    cv2.putText(out, text, (x + 2, y + 2 + th), FONT, font_scale, (0, 0, 0), weight, cv2.LINE_AA)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def image_scale(image: np.ndarray, result: ImageResult | FrameResult) -> tuple[float, float]:
    """How result boxes (full-image pixels) map onto ``image`` (smaller when decoded at reduced scale)."""
    if not result.width or not result.height:
        return 1.0, 1.0
    return image.shape[1] / result.width, image.shape[0] / result.height


def _names(result: ImageResult | FrameResult) -> list[str]:
    return list(result.faces[0].emotion_probs) if result.faces else []
