"""The quick first pass of small photos: one clear face keeps the low-resolution answer; anything else runs
again at the full input size, so small group photos lose nothing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ferkit.config import PipelineConfig
from ferkit.detector.defaults import DEFAULT_QUICK_SIZE, QUICK_MAX_SIDE, quick_box_bias
from ferkit.detector.face_detector import FaceDetector
from ferkit.errors import ConfigError


@pytest.fixture(scope="module")
def small_portrait(real_photo) -> np.ndarray:
    im = cv2.imread(str(real_photo))
    r = 350 / max(im.shape[:2])
    return cv2.resize(im, (round(im.shape[1] * r), round(im.shape[0] * r)), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def detectors():
    """(quick on, quick off, a plain detector at the quick size)."""
    on = FaceDetector(device="cpu", backend="onnx")
    off = FaceDetector(device="cpu", backend="onnx", quick=0)
    low = FaceDetector(
        device="cpu", backend="onnx", quick=0, imgsz=DEFAULT_QUICK_SIZE, min_side=DEFAULT_QUICK_SIZE
    )
    return on, off, low


def test_a_small_portrait_is_settled_by_the_quick_pass(detectors, small_portrait):
    on, off, low = detectors
    (got,), (quick,) = on.detect(small_portrait), low.detect(small_portrait)
    assert got.score == quick.score  # the low-resolution answer, its box framed as the full pass frames:
    sx, sy = quick_box_bias(DEFAULT_QUICK_SIZE)
    assert sx > sy > 1.0 and quick_box_bias(384) == (1.0, 1.0)
    assert (got.box.width, got.box.height) == pytest.approx((quick.box.width / sx, quick.box.height / sy))
    assert got.box.x1 + got.box.x2 == pytest.approx(quick.box.x1 + quick.box.x2)  # about the same centre
    assert [got] != off.detect(small_portrait)  # not the full pass's answer, to the pixel


def test_a_small_photo_with_two_faces_runs_the_full_pass(detectors, small_portrait):
    on, off, _ = detectors
    pair = np.hstack([small_portrait, small_portrait])
    pair = cv2.resize(pair, (QUICK_MAX_SIDE, round(pair.shape[0] * QUICK_MAX_SIDE / pair.shape[1])))
    assert len(off.detect(pair)) == 2
    assert on.detect(pair) == off.detect(pair)


def test_larger_photos_and_batches_are_untouched(detectors, real_photo, small_portrait):
    on, off, _ = detectors
    big = cv2.imread(str(real_photo))  # 512 x 600: above QUICK_MAX_SIDE
    assert on.detect(big) == off.detect(big)
    alone = on.detect(small_portrait)
    assert on.detect([big, small_portrait, big]) == [off.detect(big), alone, off.detect(big)]  # per photo


@pytest.mark.parametrize("size", [16, 100, -32])
def test_bad_quick_sizes_are_refused_before_anything_loads(size):
    with pytest.raises(ConfigError, match="quick_size"):
        PipelineConfig(quick_size=size)


def test_the_quick_size_is_part_of_a_runs_settings():
    from ferkit.pipeline import Pipeline

    on = Pipeline.from_config(PipelineConfig(device="cpu", backend="onnx")).settings()
    off = Pipeline.from_config(PipelineConfig(device="cpu", backend="onnx", quick_size=0)).settings()
    assert (on["quick"], off["quick"]) == (DEFAULT_QUICK_SIZE, 0)  # a resume never mixes the two
