"""What EmotionClassifier.predict takes: one crop gives one (label, probs) pair, many give a list of them,
others: refused."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from ferkit.errors import DataError

FACE = np.random.default_rng(0).integers(0, 255, (350, 350, 3)).astype(np.uint8)


@pytest.mark.parametrize(
    ("make", "n"),
    [
        (lambda p: FACE, None),  # one colour image: one crop, not one prediction per pixel row
        (lambda p: FACE[:, :, 0], None),  # one gray image
        (lambda p: [FACE, FACE[:, :, 0]], 2),
        (lambda p: np.stack([FACE, FACE, FACE]), 3),  # an (N, H, W, C) batch
        (lambda p: Image.fromarray(FACE[:, :, ::-1]), None),
        (lambda p: str(p), None),  # an image file's path
        (lambda p: [p, cv2.imencode(".png", FACE)[1].tobytes()], 2),  # a path and an image file's bytes
    ],
    ids=["color", "gray", "list", "batch", "pil", "path", "path-and-bytes"],
)
def test_one_crop_is_one_prediction(classifier, tmp_path, make, n):
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), FACE)
    got = classifier.predict(make(path))
    if n is None:  # one crop: one pair, as `label, probs = clf.predict(crop)` reads it
        label, probs = got
        assert label in classifier.class_names and set(probs) == set(classifier.class_names)
    else:
        assert isinstance(got, list) and len(got) == n and all(len(pair) == 2 for pair in got)


def test_same_face_same_answer_whatever_the_form(classifier, tmp_path):
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), FACE)
    ref = classifier.predict_proba([FACE])
    for form in (FACE, str(path), Image.fromarray(FACE[:, :, ::-1])):
        np.testing.assert_allclose(classifier.predict_proba(form), ref, atol=2e-3)


@pytest.mark.parametrize(
    ("bad", "message"),
    [(np.zeros((5, 48, 48)), "neither one crop"), ([{"a": 1}], "crop 0 is a dict"), (3.5, "is a float"),
     ([np.zeros((2, 48, 48, 3))], "crop 0 has shape")],
    ids=["3d-batch", "dict-in-list", "number", "batch-in-list"],
)  # fmt: skip
def test_anything_else_is_a_clear_error(classifier, bad, message):
    with pytest.raises(DataError, match=message):
        classifier.predict(bad)
