"""``Preprocess``: face crops to the classifier's input, as its checkpoint prescribes; the one place it is
assembled (inference, evaluation, training's validation and int8 calibration all use it), as a timm model's
``pretrained_cfg`` drives its one transform."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ferkit.imaging.crop import resize_square
from ferkit.imaging.images import to_gray8
from ferkit.imaging.sharpness import match_blur

if TYPE_CHECKING:
    import torch


def to_array(images: np.ndarray, mean: float, std: float) -> np.ndarray:
    """(N, S, S) uint8 -> (N, 1, S, S) float32, normalised."""
    x = np.asarray(images, dtype=np.float32) / np.float32(255.0)
    x -= np.float32(mean)
    x /= np.float32(std)
    return x[:, None]


def to_tensor(images: np.ndarray, mean: float, std: float) -> torch.Tensor:
    """:func:`to_array` as a torch tensor (training)."""
    import torch

    return torch.from_numpy(to_array(images, mean, std))


class Preprocess:
    """The input pipeline a checkpoint's metadata (``ClassifierMeta``) prescribes: gray, resized to its
    input size (its crop recipe's interpolation when shrinking), blur matched to its training data,
    normalised with its mean and std."""

    def __init__(self, meta) -> None:
        self.meta = meta

    @property
    def size(self) -> int:
        return self.meta.input_size

    def resize(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """(N, S, S) uint8: each crop (any size, gray or colour) in gray at the input size."""
        size, interp = self.size, self.meta.crop.interpolation
        if not len(crops):
            return np.zeros((0, size, size), np.uint8)
        return np.stack([resize_square(to_gray8(c), size, interp) for c in crops])

    def array(self, images: np.ndarray) -> np.ndarray:
        """(N, S, S) uint8 images already at the input size -> the network's (N, 1, S, S) float32 input."""
        m = self.meta
        return to_array(match_blur(images, m.blur_sigma, m.blur_skip_below), m.mean, m.std)

    def tensor(self, images: np.ndarray) -> torch.Tensor:
        """:meth:`array` as a torch tensor (training's validation)."""
        import torch

        return torch.from_numpy(self.array(images))

    def __call__(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        return self.array(self.resize(crops))
