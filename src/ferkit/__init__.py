"""ferkit: facial expression recognition — a YOLO face detector plus an AlexNet-family emotion classifier."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ferkit.errors import ConfigError, DataError, FerError, WeightsError
from ferkit.types import Box, Detection, Face, ImageResult

__version__ = "0.1.0"

__all__ = [
    "Box",
    "ConfigError",
    "DataError",
    "Detection",
    "Face",
    "FerError",
    "ImageResult",
    "Pipeline",
    "WeightsError",
    "__version__",
]

if TYPE_CHECKING:
    from ferkit.pipeline import Pipeline


def __getattr__(name: str) -> Any:
    # Pipeline pulls in torch and ultralytics; import it only when asked for.
    if name == "Pipeline":
        from ferkit.pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'ferkit' has no attribute {name!r}")
