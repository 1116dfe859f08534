"""The serve tests' app: a real Pipeline with the tiny classifier and a stand-in detector (two faces)."""

import pytest
from fastapi.testclient import TestClient

from ferkit.pipeline import Pipeline
from ferkit.serve.app import create_app
from ferkit.serve.config import ServeConfig
from tests.helpers import TWO_FACES, FixedDetector


@pytest.fixture(scope="module")
def pipeline(tiny_classifier):
    from ferkit.classifier.predictor import EmotionClassifier

    return Pipeline(
        EmotionClassifier.from_pretrained(tiny_classifier, device="cpu"), FixedDetector(TWO_FACES)
    )


@pytest.fixture(scope="module")
def client(pipeline):
    config = ServeConfig(max_upload_mb=0.05, max_pixels=2_000_000)
    with TestClient(create_app(pipeline, config), base_url="http://localhost") as c:
        yield c
