"""Ensembles: several classifiers (any architectures and input sizes) averaging their probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ferkit.classifier.predictor import EmotionClassifier, as_crops, as_predictions, is_one_crop
from ferkit.config import DEFAULT_BACKEND, DEFAULT_PRECISION, DEFAULT_PRIOR
from ferkit.device import as_device
from ferkit.errors import WeightsError


class EnsembleClassifier:
    """Members that share class names; each preprocesses crops as its own checkpoint says, and the
    ensemble's probabilities are the mean of theirs. Crop framing follows the first member."""

    def __init__(self, members: Sequence[EmotionClassifier], names: Sequence[str] | None = None):
        if not members:
            raise WeightsError("an ensemble needs at least one member")
        names = list(names or [f"member {i + 1}" for i in range(len(members))])
        first = members[0].class_names
        for m, n in zip(members[1:], names[1:], strict=True):
            if tuple(m.class_names) != tuple(first):
                raise WeightsError(
                    f"{n} predicts {', '.join(m.class_names)}, but {names[0]} predicts {', '.join(first)}: "
                    "ensemble members must share their classes, in the same order"
                )
        self.members, self.names = list(members), names

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.members[0].class_names

    @property
    def weights(self) -> list:
        return [m.weights for m in self.members]

    @property
    def meta(self):
        return self.members[0].meta

    @property
    def crop(self):
        return self.members[0].crop

    @property
    def backend(self) -> str:
        """The members' backends, each named once (``openvino + torch`` when ``auto`` chose two)."""
        return " + ".join(dict.fromkeys(m.backend for m in self.members))

    @property
    def precision(self) -> str:
        return " + ".join(dict.fromkeys(m.precision for m in self.members))

    @property
    def prior(self) -> str:
        return self.members[0].prior

    def predict_proba(self, crops: Sequence[np.ndarray], tta: bool = False) -> np.ndarray:
        """Mean of the members' probabilities (N, K)."""
        crops = as_crops(crops)
        return np.mean([m.predict_proba(crops, tta=tta) for m in self.members], axis=0)

    @property
    def input_sizes(self) -> set[int]:
        return {m.meta.input_size for m in self.members}

    def predict_images(self, images: dict[int, np.ndarray], tta: bool = False) -> np.ndarray:
        """Mean of the members' probabilities of uint8 images at each one's input size."""
        return np.mean([m.predict_images(images, tta=tta) for m in self.members], axis=0)

    def predict(self, crops, tta: bool = False):
        """As :meth:`EmotionClassifier.predict`: one pair for one crop, a list for several."""
        return as_predictions(self.predict_proba(crops, tta=tta), self.class_names, is_one_crop(crops))


def load_classifier(
    weights: str | Path | Sequence[str | Path] | None = "default",
    device: str | Any = "auto",
    backend: str = DEFAULT_BACKEND,
    precision: str = DEFAULT_PRECISION,
    prior: str = DEFAULT_PRIOR,
) -> EmotionClassifier | EnsembleClassifier:
    """One checkpoint as an :class:`EmotionClassifier`; a list of two or more as an ensemble (each member
    applies its own prior correction under ``prior="balanced"``)."""
    dev = as_device(device)
    if weights is None or isinstance(weights, (str, Path)):
        return EmotionClassifier.from_pretrained(weights, dev, backend, precision, prior)
    weights = list(weights)
    if len(weights) == 1:
        return EmotionClassifier.from_pretrained(weights[0], dev, backend, precision, prior)
    members = [EmotionClassifier.from_pretrained(w, dev, backend, precision, prior) for w in weights]
    return EnsembleClassifier(members, [str(w) for w in weights])
