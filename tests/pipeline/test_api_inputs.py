"""The Python API without footguns: PIL images read in their own colours, a bad colour order raises, and a
face's box unpacks like a tuple (issue 24, item 6)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ferkit.errors import ConfigError


def test_a_pil_image_is_read_in_its_own_colours(default_pipeline):
    pil = Image.open("docs/example.jpg")
    rgb = np.asarray(pil.convert("RGB"))
    got = default_pipeline.run(pil)
    assert got.ok and got.source == "<image 0>"

    def probs(result):
        return np.array([[f.emotion_probs[k] for k in sorted(f.emotion_probs)] for f in result.faces])

    np.testing.assert_allclose(probs(got), probs(default_pipeline.run(rgb, color="rgb")), atol=1e-6)
    misread = probs(default_pipeline.run(rgb, color="bgr"))  # what reading PIL's RGB as BGR gave before
    assert np.abs(probs(got) - misread).max() > 1e-4


def test_an_unknown_colour_order_raises(default_pipeline):
    with pytest.raises(ConfigError, match="color must be"):
        default_pipeline.run(np.zeros((64, 64, 3), np.uint8), color="hsv")
    with pytest.raises(ConfigError, match="color must be"):
        list(default_pipeline.stream([np.zeros((64, 64, 3), np.uint8)], color="hsv"))


def test_something_else_is_an_error_record_naming_it(default_pipeline):
    result = default_pipeline.run_batch([{"not": "an image"}])[0]
    assert not result.ok and "is a dict" in result.error


def test_a_box_unpacks(default_pipeline):
    face = default_pipeline.run("docs/example.jpg").faces[0]
    x1, y1, x2, y2 = face.box_xyxy
    assert tuple(face.box_xyxy) == face.box_xyxy.as_tuple() == (x1, y1, x2, y2)
    assert face.box_xyxy.as_list() == [round(v, 1) for v in (x1, y1, x2, y2)]
