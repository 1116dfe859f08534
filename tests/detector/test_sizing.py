"""--imgsz: fixed sizes and `auto`, which follows the photo's own size; bad values are one clear error."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ferkit.detector.face_detector import FaceDetector
from ferkit.detector.letterbox import fitted_size
from ferkit.detector.sizing import InputSize
from ferkit.errors import ConfigError
from tests.helpers import fer


@pytest.mark.parametrize(
    ("imgsz", "photo", "long_side"),
    [
        (512, (1024, 683), 512),  # fixed: fitted into the square
        (512, (350, 350), 384),  # small photos enlarged up to min_side only
        (512, (450, 300), 450),  # between min_side and imgsz: kept
        ("auto", (350, 350), 384),  # auto: the floor
        ("auto", (450, 300), 450),  # never smaller than a fixed 512 gives
        ("auto", (640, 427), 512),  # 640 px photos as 512 ran them
        ("auto", (776, 500), 512),  # ... and every photo up to 776 px (the README's promise)
        ("auto", (800, 600), 544),
        ("auto", (1920, 1080), 960),  # an HD video frame: the ceiling
        ("auto", (1024, 683), 704),  # 0.7 x 1024 = 717, down to the stride: small faces kept
        ("auto", (1280, 960), 896),
        ("auto", (4000, 3000), 960),  # the ceiling
        ("auto:320-1280", (1600, 1200), 1120),
        ("auto:320-1280", (2400, 1600), 1280),
        ("auto:320-1280", (200, 200), 320),
    ],
)  # fmt: skip
def test_detector_input_side(imgsz, photo, long_side):
    w, h = photo
    nh, nw, _ = fitted_size(h, w, imgsz, 384)
    assert max(nh, nw) == long_side


@pytest.mark.parametrize(
    ("value", "message"),
    [("auto:960-384", "empty range"), ("auto:300-960", "multiples of the detector's stride"),
     ("16", ">= 32"), ("big", "auto or auto:LO-HI"), ("auto:384", "auto or auto:LO-HI"), (True, "pixels")],
)  # fmt: skip
def test_bad_sizes_are_one_clear_error(value, message):
    with pytest.raises(ConfigError, match=message):
        InputSize.parse(value)


def test_spec_round_trips():
    for v in (512, "auto", "auto:320-1280"):
        assert InputSize.parse(InputSize.parse(v).spec) == InputSize.parse(v)


def test_auto_batches_photos_of_different_sizes_as_one_by_one():
    """Photos of other sizes get other letterbox shapes: a batch must give each its own-size result."""
    example = cv2.imread("docs/example.jpg")
    photos = [cv2.resize(example, None, fx=f, fy=f) for f in (0.5, 1.0, 1.6, 2.2)]
    det = FaceDetector(device="cpu", imgsz="auto", backend="onnx")
    together = det.detect(photos)
    assert [det.detect(p) for p in photos] == together
    assert all(len(d) == 2 for d in together)
    assert det.imgsz == "auto"


def test_auto_keeps_small_faces_that_512_loses():
    """A 1600 px photo of twelve 40 px faces: at 512 they are 13 px; auto runs it at 960 (24 px)."""
    face = cv2.resize(cv2.imread("docs/example.jpg")[52:145, 515:586], (40, 52))
    photo = np.full((1200, 1600, 3), 200, np.uint8)
    for i in range(12):
        y, x = 200 + 350 * (i // 4), 150 + 380 * (i % 4)
        photo[y : y + 52, x : x + 40] = face
    fixed = FaceDetector(device="cpu", imgsz=512, backend="onnx").detect(photo)
    auto = FaceDetector(device="cpu", imgsz="auto", backend="onnx").detect(photo)
    assert len(auto) > len(fixed)


def test_cli_takes_auto_and_refuses_a_bad_range():
    ok = fer("detect-and-classify", "docs/example.jpg", "--imgsz", "auto", "-f", "jsonl")
    assert ok.exit_code == 0 and '"det_score"' in ok.stdout
    bad = fer("detect-and-classify", "docs/example.jpg", "--imgsz", "auto:900-400")
    assert bad.exit_code == 1 and "empty range" in bad.output
