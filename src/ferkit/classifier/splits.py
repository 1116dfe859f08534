"""From a dataset on disk to encoded arrays: images at a model's input size with class indices of its
grouping (training, evaluation and calibration read splits through here; no torch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
