"""``Classifier``: what the pipeline, evaluation and the server need of an emotion classifier; both a single
:class:`~ferkit.classifier.predictor.EmotionClassifier` and an
:class:`~ferkit.classifier.ensemble.EnsembleClassifier` provide it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from ferkit.imaging.recipe import CropRecipe


Prediction = tuple[str, dict[str, float]]  # (label, {class name: probability})


@runtime_checkable
class Classifier(Protocol):
    @property
    def class_names(self) -> tuple[str, ...]: ...
    @property
    def meta(self) -> Any: ...
    @property
    def crop(self) -> CropRecipe: ...
    @property
    def backend(self) -> str: ...
    @property
    def precision(self) -> str: ...
    @property
    def input_sizes(self) -> set[int]: ...

    def predict_proba(self, crops: Sequence[np.ndarray], tta: bool = False) -> np.ndarray: ...
    def predict(self, crops, tta: bool = False) -> Prediction | list[Prediction]: ...
    def predict_images(self, images: dict[int, np.ndarray], tta: bool = False) -> np.ndarray: ...
