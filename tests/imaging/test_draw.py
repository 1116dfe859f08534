"""Annotated images: every label inside the image and readable, at every edge and corner; style options."""

from __future__ import annotations

import numpy as np
import pytest

import ferkit
from ferkit.config import DrawStyle
from ferkit.errors import ConfigError
from ferkit.imaging.draw import PALETTE, annotate, label_origin
from ferkit.types import Box, Face, ImageResult

W, H = 350, 350
HAPPY = PALETTE[0]  # the colour of the first class


def _face(x1, y1, x2, y2, track_id=None):
    return Face(Box(x1, y1, x2, y2), 0.9, "happy", {"happy": 0.93, "sad": 0.07}, track_id=track_id)


def _label_pixels(img: np.ndarray, box: tuple[int, int, int, int]) -> int:
    """Pixels of the label patch (the box colour) outside the box outline's own lines."""
    mask = (img == HAPPY).all(axis=2)
    x1, y1, x2, y2 = box
    mask[max(y1 - 3, 0) : y1 + 4, :] = mask[max(y2 - 3, 0) : y2 + 4, :] = False  # the outline's rows
    mask[:, max(x1 - 3, 0) : x1 + 4] = mask[:, max(x2 - 3, 0) : x2 + 4] = False
    return int(mask.sum())


@pytest.mark.parametrize(
    "box",
    [(46, 6, 323, 344), (0, 0, 60, 60), (290, 0, 350, 60), (0, 290, 60, 350), (290, 290, 350, 350),
     (0, 0, 350, 350), (150, 0, 200, 40), (330, 150, 350, 200), (0, 150, 10, 160)],
    ids=["portrait", "top-left", "top-right", "bottom-left", "bottom-right", "whole", "top", "right", "left"],
)  # fmt: skip
def test_every_label_is_drawn_inside_the_image(box):
    img = annotate(np.zeros((H, W, 3), np.uint8), ImageResult("x.jpg", W, H, [_face(*box)]), ["happy", "sad"])
    assert _label_pixels(img, box) > 300  # a readable patch of about 100 x 20 px was drawn


@pytest.mark.parametrize(
    ("box", "where"),
    [((100, 100, 200, 200), "above"), ((100, 0, 200, 100), "below"), ((0, 0, 350, 350), "inside")],
)
def test_labels_go_above_then_below_then_inside(box, where):
    x, y = label_origin(box, (80, 20), (W, H))
    assert {"above": y == 80, "below": y == 100, "inside": y == 0}[where]
    assert 0 <= x <= W - 80 and 0 <= y <= H - 20


def test_a_label_at_the_right_edge_moves_left():
    assert label_origin((340, 100, 350, 120), (80, 20), (W, H))[0] == W - 80


def test_style_options():
    result = ImageResult("x.jpg", W, H, [_face(100, 100, 200, 200)])
    blank = np.zeros((H, W, 3), np.uint8)
    plain = annotate(blank, result, ["happy", "sad"])
    hidden = annotate(blank, result, ["happy", "sad"], DrawStyle(labels=False))
    box = (100, 100, 200, 200)
    assert _label_pixels(plain, box) > 300 and _label_pixels(hidden, box) == 0
    no_conf = annotate(blank, result, ["happy", "sad"], DrawStyle(conf=False))
    assert _label_pixels(no_conf, (100, 100, 200, 200)) < _label_pixels(plain, (100, 100, 200, 200))
    thick = annotate(blank, result, ["happy", "sad"], DrawStyle(line_width=9, labels=False))
    assert (thick == HAPPY).all(axis=2).sum() > 2 * (hidden == HAPPY).all(axis=2).sum()
    with pytest.raises(ConfigError, match="line_width"):
        DrawStyle(line_width=0)


def test_public_annotate_takes_colours_from_the_result():
    result = ImageResult("x.jpg", W, H, [_face(100, 100, 200, 200)])
    img = ferkit.annotate(np.zeros((H, W, 3), np.uint8), result)
    assert _label_pixels(img, (100, 100, 200, 200)) > 300
