"""The augmented training batches of the classifier, drawn from encoded splits (:mod:`.splits`)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ferkit.datasets.augment import BatchAugment


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
