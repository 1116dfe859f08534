"""ferkit: facial expression recognition — a YOLO face detector plus an AlexNet-family emotion classifier."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ferkit._version import __version__
from ferkit.errors import ConfigError, DataError, FerError, WeightsError
from ferkit.types import Box, Detection, Face, ImageResult

__all__ = [
    "Box",
    "ConfigError",
    "DataError",
    "Detection",
    "EmotionClassifier",
    "EnsembleClassifier",
    "Face",
    "FaceDetector",
    "FerError",
    "ImageResult",
    "Pipeline",
    "WeightsError",
    "__version__",
    "annotate",
]

if TYPE_CHECKING:
    from ferkit.classifier.ensemble import EnsembleClassifier
    from ferkit.classifier.predictor import EmotionClassifier
    from ferkit.detector.face_detector import FaceDetector
    from ferkit.imaging.draw import annotate
    from ferkit.pipeline import Pipeline

_LAZY = {
    "Pipeline": "ferkit.pipeline",
    "FaceDetector": "ferkit.detector.face_detector",
    "EmotionClassifier": "ferkit.classifier.predictor",
    "EnsembleClassifier": "ferkit.classifier.ensemble",
    "annotate": "ferkit.imaging.draw",
}


def __getattr__(name: str) -> Any:
    # the models pull in torch and ultralytics; import them only when asked for
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ferkit' has no attribute {name!r}")
