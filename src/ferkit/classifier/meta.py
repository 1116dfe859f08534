"""What a classifier checkpoint (or an exported classifier) says about its model besides the weights:
classes, grouping, input size, normalisation, blur matching, crop recipe and prior. No torch here: the
light install reads it from exported models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ferkit.classifier.priors import PriorCorrection
from ferkit.datasets.grouping import LabelGrouping
from ferkit.imaging.recipe import CropRecipe

FORMAT = "ferkit-classifier/1"


@dataclass(frozen=True)
class ClassifierMeta:
    """What a checkpoint says about its model besides the weights."""

    arch: str
    class_names: tuple[str, ...]
    grouping: LabelGrouping
    input_size: int
    mean: float
    std: float
    train_config: dict[str, Any] = field(default_factory=dict, hash=False)
    metrics: dict[str, Any] = field(default_factory=dict, hash=False)
    blur_sigma: float = 0.0  # Gaussian blur that makes sharp inputs look like the training data
    blur_skip_below: float = 0.0  # inputs blurrier than this (Laplacian variance) are not blurred again
    crop: CropRecipe = field(default_factory=CropRecipe)  # how faces are cut out of photos for this model
    prior: PriorCorrection | None = None  # the logit adjustment --prior balanced applies (fitted on val)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "arch": self.arch,
            "class_names": list(self.class_names),
            "grouping": self.grouping.to_dict(),
            "input_size": self.input_size,
            "mean": self.mean,
            "std": self.std,
            "train_config": self.train_config,
            "metrics": self.metrics,
            "preprocess": {"blur_sigma": self.blur_sigma, "blur_skip_below": self.blur_skip_below},
            "crop": self.crop.to_dict(),
            "prior": self.prior.to_dict() if self.prior else None,
        }


def meta_from_dict(ckpt: dict[str, Any]) -> ClassifierMeta:
    """The metadata of :meth:`ClassifierMeta.to_dict` (a checkpoint, or an exported model's), rebuilt."""
    return ClassifierMeta(
        arch=ckpt["arch"],
        class_names=tuple(ckpt["class_names"]),
        grouping=LabelGrouping.from_dict(ckpt["grouping"]),
        input_size=int(ckpt["input_size"]),
        mean=float(ckpt["mean"]),
        std=float(ckpt["std"]),
        train_config=dict(ckpt.get("train_config") or {}),
        metrics=dict(ckpt.get("metrics") or {}),
        blur_sigma=float((ckpt.get("preprocess") or {}).get("blur_sigma", 0.0)),
        blur_skip_below=float((ckpt.get("preprocess") or {}).get("blur_skip_below", 0.0)),
        crop=CropRecipe.from_dict(ckpt.get("crop")),
        prior=PriorCorrection.from_dict(ckpt.get("prior")),
    )
