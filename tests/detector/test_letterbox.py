"""Letterboxed batches: images of one shape run together, in batches of 1, 2, 4 or 8 images only (a
runtime with dynamic shapes prepares itself once per input shape it meets)."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.detector.letterbox import detect_batch
from ferkit.detector.sizing import InputSize


@pytest.mark.parametrize(("n", "sizes"), [(1, [1]), (7, [4, 2, 1]), (8, [8]), (12, [8, 4])])
def test_same_shaped_images_run_in_power_of_two_batches(n, sizes):
    seen = []

    def run(batch):
        seen.append(len(batch))
        return np.zeros((len(batch), 5, 0), np.float32)

    images = [np.zeros((60, 80, 3), np.uint8)] * n + [np.zeros((20, 80, 3), np.uint8)]  # one of another shape
    found = detect_batch(images, run, InputSize(fixed=64), 32, 0, 0.35, 0.5, 300)
    assert len(found) == n + 1 and seen == [*sizes, 1]
