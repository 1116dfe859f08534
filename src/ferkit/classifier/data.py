"""The augmented training batches of the classifier, drawn from encoded splits (:mod:`.splits`), and
their optional mixing (mixup, CutMix)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ferkit.datasets.augment import BatchAugment


class BatchMix:
    """Mixup and CutMix of a whole batch with itself in a shuffled order: one mixing weight per batch
    (``lam`` ~ Beta(a, a), the first image's share), the target distributions and the teachers'
    distributions mixed in the same proportion. With both on, each batch gets one of the two, at random.

    Every random choice is drawn on the CPU from :attr:`generator` (a numpy generator whose state is saved
    with the run, so a resumed run mixes as the uninterrupted one would); only the shuffled order goes to
    the device, nothing is read back. CutMix pastes one box, clipped to the image; ``lam`` is then the
    share of the image left unpasted.
    """

    def __init__(self, mixup: float = 0.0, cutmix: float = 0.0, seed: int = 0):
        if mixup < 0 or cutmix < 0 or not (mixup or cutmix):
            raise ValueError(f"mixup and cutmix must be >= 0 and one of them > 0, got {mixup}, {cutmix}")
        self.mixup, self.cutmix = float(mixup), float(cutmix)
        self.generator = np.random.default_rng(seed)

    def draw(self, n: int, side: int) -> tuple[str, float, np.ndarray, tuple[int, int, int, int]]:
        """One batch's mixing: ("mixup" | "cutmix", lam, the shuffled order, CutMix's box y0, y1, x0, x1)."""
        g = self.generator
        kinds = [(k, a) for k, a in (("mixup", self.mixup), ("cutmix", self.cutmix)) if a > 0]
        kind, a = kinds[int(g.integers(len(kinds)))]
        lam = float(g.beta(a, a))
        perm = g.permutation(n)
        box = (0, 0, 0, 0)
        if kind == "cutmix":
            cut = round(side * (1 - lam) ** 0.5)
            cy, cx = (int(v) for v in g.integers(side, size=2))
            y0, x0 = max(cy - cut // 2, 0), max(cx - cut // 2, 0)
            y1, x1 = min(cy - cut // 2 + cut, side), min(cx - cut // 2 + cut, side)
            box = (y0, y1, x0, x1)
            lam = 1 - (y1 - y0) * (x1 - x0) / (side * side)
        return kind, lam, perm, box

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mix a batch of (N, C, S, S) images, (N, K) target distributions and (N, K) teacher
        log-probabilities (or an empty tensor)."""
        kind, lam, order, (y0, y1, x0, x1) = self.draw(x.shape[0], x.shape[-1])
        perm = torch.from_numpy(order).to(x.device)
        if kind == "mixup":
            x = x.mul(lam).add_(x[perm], alpha=1 - lam)
        else:
            x = x.clone()
            x[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
        y = y.mul(lam).add_(y[perm], alpha=1 - lam)
        if t.numel():
            p = t.exp()
            t = p.mul(lam).add_(p[perm], alpha=1 - lam).clamp_min_(1e-12).log_()
        return x, y, t


class TrainBatches:
    """Augmented training batches of (image, target distribution, teachers' log-probabilities or an empty
    tensor), drawn from the whole training set held as one uint8 tensor on the training device.

    Each epoch draws a permutation (or, with per-image ``weights``, a weighted draw with replacement) from
    ``generator``; ``augment`` augments each batch as a whole, then the inference normalisation is applied,
    then ``mix`` (if given) mixes the batch.
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
        mix: BatchMix | None = None,
    ):
        self.images = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)).to(device)
        self.targets = torch.from_numpy(np.asarray(targets, dtype=np.float32)).to(device)
        self.teacher = (
            None
            if teacher_logp is None
            else torch.from_numpy(np.asarray(teacher_logp, np.float32)).to(device)
        )
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        self.augment, self.mean, self.std, self.mix = augment, mean, std, mix
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
            y, t = self.targets[i], (self.teacher[i] if self.teacher is not None else empty)
            yield self.mix(x, y, t) if self.mix is not None else (x, y, t)
