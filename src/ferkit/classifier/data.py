"""From a dataset on disk to encoded arrays, and to the augmented training batches of the classifier."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ferkit.datasets.augment import BatchAugment
from ferkit.datasets.fer2013 import FaceSet, load_faces
from ferkit.datasets.grouping import LabelGrouping
from ferkit.errors import DataError


@dataclass
class EncodedSplit:
    """Images (N, S, S) uint8 with class indices (N,) of a grouping, and what was left out."""

    images: np.ndarray
    targets: np.ndarray
    sources: list[str]
    dropped_unmapped: int = 0
    skipped: int = 0

    def subset(self, keep: np.ndarray) -> EncodedSplit:
        """The images where the boolean mask ``keep`` is true."""
        return EncodedSplit(
            self.images[keep], self.targets[keep], [s for s, k in zip(self.sources, keep, strict=True) if k]
        )


def encode(faces: FaceSet, grouping: LabelGrouping, drop_unmapped: bool) -> EncodedSplit:
    targets, keep = grouping.encode(faces.labels, drop_unmapped=drop_unmapped)
    kept = faces.subset(keep)
    if len(kept) == 0:
        raise DataError(f"no images left after applying grouping {grouping.name!r}")
    return EncodedSplit(kept.images, targets, kept.sources, int((~keep).sum()), len(faces.skipped))


def load_split(
    data: str,
    split: str,
    grouping: LabelGrouping,
    size: int,
    drop_unmapped: bool = False,
    skip_bad: bool = False,
) -> EncodedSplit:
    """Read one split of a dataset and encode its labels with ``grouping``."""
    return encode(load_faces(data, split, size, skip_bad), grouping, drop_unmapped)


def stratified_holdout(targets: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Boolean mask of a deterministic, per-class ``fraction`` of samples (used as val when there is none)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(targets), dtype=bool)
    for c in np.unique(targets):
        idx = np.flatnonzero(targets == c)
        n = max(1, round(len(idx) * fraction)) if len(idx) > 1 else 0
        mask[rng.permutation(idx)[:n]] = True
    return mask


class TrainBatches:
    """Augmented training batches of (image, target distribution, teachers' log-probabilities or an empty
    tensor), drawn from the whole training set held as one uint8 tensor on the training device.

    Each epoch draws a permutation (or, with per-image ``weights``, a weighted draw with replacement) from
    ``generator``; ``augment`` augments each batch as a whole, then the inference normalisation is applied.
    """

    def __init__(
        self,
        images: np.ndarray,
        targets: np.ndarray,
        augment: BatchAugment,
        mean: float,
        std: float,
        batch_size: int,
        device: torch.device,
        seed: int = 0,
        weights: np.ndarray | None = None,
        teacher_logp: np.ndarray | None = None,
    ):
        self.images = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)).to(device)
        self.targets = torch.from_numpy(np.asarray(targets, dtype=np.float32)).to(device)
        self.teacher = (
            None
            if teacher_logp is None
            else torch.from_numpy(np.asarray(teacher_logp, np.float32)).to(device)
        )
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        self.augment, self.mean, self.std = augment, mean, std
        self.batch_size, self.device = batch_size, device
        self.generator = torch.Generator().manual_seed(seed)
        self.drop_last = len(self.targets) > batch_size

    def __len__(self) -> int:
        n, b = len(self.targets), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def order(self) -> torch.Tensor:
        """The image indices of one epoch, in the order they are drawn."""
        n = len(self.targets)
        if self.weights is None:
            return torch.randperm(n, generator=self.generator)
        return torch.multinomial(self.weights, n, replacement=True, generator=self.generator)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        order = self.order().to(self.device)
        empty = torch.zeros(0, device=self.device)
        for b in range(len(self)):
            i = order[b * self.batch_size : (b + 1) * self.batch_size]
            x = self.augment(self.images[i]).sub_(self.mean).div_(self.std)
            yield x, self.targets[i], (self.teacher[i] if self.teacher is not None else empty)
