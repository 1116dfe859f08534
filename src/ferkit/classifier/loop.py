"""The pieces of one training epoch and of validation: loader, schedule, losses, metrics per val set."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from ferkit.classifier.config import ClassifierTrainConfig
from ferkit.classifier.data import BatchMix, TrainBatches
from ferkit.classifier.evaluate import classification_metrics
from ferkit.classifier.train_data import PreparedData
from ferkit.datasets.augment import BatchAugment
from ferkit.errors import DataError


def class_weights(targets: np.ndarray, num_classes: int) -> torch.Tensor:
    """Inverse-frequency class weights, normalised to mean 1."""
    counts = np.bincount(targets, minlength=num_classes).astype(np.float64)
    w = counts.sum() / (num_classes * np.maximum(counts, 1))
    return torch.tensor(w / w.mean(), dtype=torch.float32)


def make_train_loader(
    data: PreparedData,
    config: ClassifierTrainConfig,
    input_size: int,
    device: torch.device,
    teacher_logp: np.ndarray | None = None,
) -> TrainBatches:
    """Augmented training batches of (image, target distribution, teachers' log-probabilities).

    Each dataset is drawn in proportion to its size times its ``data_weights`` entry; ``balance=oversample``
    also evens out the classes; ``mixup`` / ``cutmix`` mix each batch (:class:`BatchMix`). The run's random
    streams (order, augmentation, mixing) are seeded from the config and saved in last.pt, so that a
    resumed run continues exactly where it stopped (see :func:`rng_state`).
    """
    augment = BatchAugment(input_size, config.augment, seed=config.seed + 1)
    per_sample = np.asarray(config.weights(), dtype=np.float64)[data.train.dataset]
    if config.balance == "oversample":
        per_class = class_weights(data.train.targets, len(data.class_names)).numpy()
        per_sample = per_sample * per_class[data.train.targets]
    weights = None if np.allclose(per_sample, per_sample[0]) else per_sample
    return TrainBatches(
        data.train.images,
        data.train.soft,
        augment,
        data.mean,
        data.std,
        config.batch_size,
        device,
        seed=config.seed,
        weights=weights,
        teacher_logp=teacher_logp,
        mix=BatchMix(config.mixup, config.cutmix, config.seed + 2) if config.mixup or config.cutmix else None,
    )


RNG_FORMAT = 2  # last.pt's random streams: 2 = batch augmentation on the device (ferkit 0.1, 2026-12)


def rng_state(loader: TrainBatches) -> dict[str, Any]:
    """Every random stream a training epoch draws from: torch's (dropout, on the CPU and CUDA), the
    loader's order and its augmentation's."""
    state = {
        "format": RNG_FORMAT,
        "torch": torch.get_rng_state(),
        "order": loader.generator.get_state(),
        "augment": loader.augment.generator.get_state(),
    }
    if loader.device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(loader.device)
    if loader.mix is not None:
        state["mix"] = loader.mix.generator.bit_generator.state
    return state


def set_rng_state(loader: TrainBatches, state: dict[str, Any]) -> None:
    """Put back what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    loader.generator.set_state(state["order"])
    loader.augment.generator.set_state(state["augment"])
    if "cuda" in state and loader.device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], loader.device)
    if "mix" in state and loader.mix is not None:
        loader.mix.generator.bit_generator.state = state["mix"]


def make_scheduler(optimizer: torch.optim.Optimizer, config: ClassifierTrainConfig, steps_per_epoch: int):
    """Per-step LR multiplier: linear warm-up, then cosine / step decay / constant.

    The length is read from ``config.epochs`` at each step, so a time budget can shorten it.
    """
    warm = config.warmup_epochs * steps_per_epoch

    def factor(step: int) -> float:
        total = config.epochs * steps_per_epoch
        if step < warm:
            return (step + 1) / warm
        if config.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))
        if config.schedule == "step":
            return 0.1 ** int(3 * step / total)
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class EMA(AveragedModel):
    """torch's exponential moving average of the weights and batch-norm statistics, whose per-step update
    sends nothing to the device: :class:`AveragedModel` copies its step count (a CPU tensor) to the GPU at
    every step, a blocking copy that waits for all queued work, although the EMA update never uses it. The
    count is kept on the host; the state dict is AveragedModel's, so runs saved by either resume with the
    other."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        self._steps: int | None = None

    def load_state_dict(self, *args, **kwargs):
        self._steps = None  # read again from the loaded n_averaged
        return super().load_state_dict(*args, **kwargs)

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        if self._steps is None:
            self._steps = int(self.n_averaged)
        mine = [*self.module.parameters(), *self.module.buffers()]
        theirs = [*model.parameters(), *model.buffers()]
        if self._steps == 0:
            torch._foreach_copy_(mine, theirs)
        else:
            groups: dict[tuple, tuple[list, list]] = {}
            for a, b in zip(mine, theirs, strict=True):
                pair = groups.setdefault((a.device, a.dtype), ([], []))
                pair[0].append(a)
                pair[1].append(b)
            for a, b in groups.values():
                self.multi_avg_fn(a, b, None)
        self.n_averaged += 1
        self._steps += 1


def make_ema(model: nn.Module, decay: float) -> EMA | None:
    """An exponential moving average of ``model``'s weights and batch-norm statistics (None if decay is 0)."""
    if decay <= 0:
        return None
    return EMA(model, decay)


def distillation_loss(logits: torch.Tensor, teacher_logp: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL divergence from the teachers' tempered distribution to the student's, scaled by T^2."""
    t = temperature
    student = F.log_softmax(logits.float() / t, dim=1)
    teacher = F.log_softmax(teacher_logp.float() / t, dim=1)
    return F.kl_div(student, teacher, log_target=True, reduction="batchmean") * t * t


def train_one_epoch(
    model: nn.Module,
    loader: TrainBatches,
    criterion: nn.Module,
    optimizer,
    scheduler,
    device: torch.device,
    scaler: torch.amp.GradScaler | None,
    desc: str = "",
    distill_alpha: float = 0.0,
    temperature: float = 1.0,
    amp_dtype: torch.dtype | None = None,
    ema: EMA | None = None,
    teacher: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, float]:
    """One pass over ``loader``; returns mean loss and accuracy (against each image's most likely label).

    ``amp_dtype`` runs the forward pass under autocast in that dtype (float16 needs ``scaler``); ``ema``
    is updated after every optimizer step; ``teacher`` (an :class:`~ferkit.classifier.starting.OnlineTeacher`)
    gives the teachers' log-probabilities of each batch as the student sees it, instead of the loader's.
    """
    model.train()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    bar = tqdm(loader, desc=desc, leave=False, dynamic_ncols=True, disable=None)
    for step, (x, y, t) in enumerate(bar, 1):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            if teacher is not None:
                t = teacher(x)
            logits = model(x)
            loss = criterion(logits.float(), y)
            if distill_alpha > 0 and t.numel():
                kd = distillation_loss(logits, t, temperature)
                loss = (1 - distill_alpha) * loss + distill_alpha * kd
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if ema is not None:
            ema.update_parameters(model)
        with warnings.catch_warnings():  # AMP skips the optimizer step of a batch with inf gradients
            warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step", UserWarning)
            scheduler.step()
        n = y.shape[0]
        total_loss += loss.detach() * n  # summed on the device: no wait for it at every step
        correct += (logits.argmax(1) == y.argmax(1)).sum()
        seen += n
        if step % 25 == 0 or step == len(loader):
            bar.set_postfix(loss=f"{total_loss.item() / seen:.3f}", acc=f"{correct.item() / seen:.3f}")
    seen = max(seen, 1)
    return {"loss": total_loss.item() / seen, "acc": correct.item() / seen}


@torch.no_grad()
def predict_logits(
    model: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int = 512
) -> torch.Tensor:
    """Logits of a preprocessed (N, 1, S, S) tensor, in batches, on the CPU."""
    model.eval()
    out = [model(x[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out) if out else torch.zeros(0)


def evaluate(
    model: nn.Module,
    vals: dict[str, tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    class_names: tuple[str, ...],
) -> dict[str, dict[str, Any]]:
    """Loss, accuracy, macro F1, per-class recall and confusion matrix on each val set, plus ``pooled``
    (all val images together) and ``mean`` (the mean of the val accuracies and F1s)."""
    out: dict[str, dict[str, Any]] = {}
    all_logits, all_y = [], []
    for name, (x, y) in vals.items():
        logits = predict_logits(model, x, device)
        m = classification_metrics(y.numpy(), logits.softmax(1).numpy(), class_names, with_auc=False)
        out[name] = {"loss": F.cross_entropy(logits, y).item(), **m}
        all_logits.append(logits)
        all_y.append(y)
    logits, y = torch.cat(all_logits), torch.cat(all_y)
    pooled = classification_metrics(y.numpy(), logits.softmax(1).numpy(), class_names, with_auc=False)
    out["pooled"] = {"loss": F.cross_entropy(logits, y).item(), **pooled}
    per = [out[n] for n in vals]
    out["mean"] = {
        "loss": float(np.mean([m["loss"] for m in per])),
        "accuracy": float(np.mean([m["accuracy"] for m in per])),
        "macro_f1": float(np.mean([m["macro_f1"] for m in per])),
    }
    return out


def selection_score(metrics: dict[str, dict[str, Any]], select: str) -> float:
    """The figure model selection maximises: mean / pooled / min val accuracy, or one dataset's."""
    if select == "min":
        return min(m["accuracy"] for n, m in metrics.items() if n not in ("pooled", "mean"))
    if select not in metrics:
        names = [n for n in metrics if n not in ("pooled", "mean")]
        raise DataError(
            f"{select!r} names no val set; use mean, pooled, min or one of {names}", option="select"
        )
    return float(metrics[select]["accuracy"])
