from pathlib import Path

import cv2
import numpy as np
import pytest

from ferkit.classifier.predictor import EmotionClassifier
from ferkit.pipeline import Pipeline
from tests.helpers import TWO_FACES, FixedDetector


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
