from pathlib import Path

import cv2
import numpy as np
import pytest

from ferkit.classifier.predictor import EmotionClassifier
from ferkit.pipeline import Pipeline
from ferkit.types import Box, Detection


class FixedDetector:
    """Stands in for FaceDetector: the same boxes (scaled to each image) for every image."""

    def __init__(self, boxes: list[tuple[float, float, float, float, float]]):
        self.boxes = boxes  # fractions of width/height, and a score

    def detect(self, images):
        out = []
        for im in images:
            h, w = im.shape[:2]
            out.append(
                [Detection(Box(x1 * w, y1 * h, x2 * w, y2 * h), s) for x1, y1, x2, y2, s in self.boxes]
            )
        return out


TWO_FACES = [(0.1, 0.1, 0.4, 0.5, 0.6), (0.5, 0.2, 0.9, 0.8, 0.9)]


@pytest.fixture(scope="session")
def classifier(tiny_classifier) -> EmotionClassifier:
    return EmotionClassifier.from_pretrained(tiny_classifier, device="cpu")


@pytest.fixture
def two_face_pipeline(classifier) -> Pipeline:
    return Pipeline(classifier, FixedDetector(TWO_FACES))


@pytest.fixture
def photo_folder(tmp_path) -> Path:
    """Five small generated photos, one in a subfolder."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i in range(4):
        cv2.imwrite(str(folder / f"p{i}.jpg"), rng.integers(0, 255, (60, 80, 3)).astype(np.uint8))
    cv2.imwrite(str(folder / "sub" / "deep.png"), rng.integers(0, 255, (50, 50, 3)).astype(np.uint8))
    return folder
