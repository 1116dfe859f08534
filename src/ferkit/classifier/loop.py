"""The pieces of one training epoch and of validation: loader, schedule, losses, metrics per val set."""

from __future__ import annotations

import math
import random
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, WeightedRandomSampler
from tqdm import tqdm

from ferkit.classifier.config import ClassifierTrainConfig
from ferkit.classifier.data import AugmentedFaces
from ferkit.classifier.evaluate import classification_metrics
from ferkit.classifier.train_data import PreparedData
from ferkit.datasets.augment import train_transform
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
) -> DataLoader:
    """Augmented training batches of (image, target distribution, teachers' log-probabilities).

    Each dataset is drawn in proportion to its size times its ``data_weights`` entry; ``balance=oversample``
    also evens out the classes.
    """
    transform = train_transform(input_size, config.augment)
    # the run's own random streams (augmentation, order), seeded from the config and saved in last.pt, so
    # that a resumed run continues exactly where it stopped (see rng_state)
    transform.set_random_state(np.random.default_rng(config.seed), random.Random(config.seed))
    order = torch.Generator().manual_seed(config.seed)
    ds = AugmentedFaces(data.train.images, data.train.soft, transform, data.mean, data.std, teacher_logp)
    per_sample = np.asarray(config.weights(), dtype=np.float64)[data.train.dataset]
    if config.balance == "oversample":
        per_class = class_weights(data.train.targets, len(data.class_names)).numpy()
        per_sample = per_sample * per_class[data.train.targets]
    sampler = None
    if not np.allclose(per_sample, per_sample[0]):
        sampler = WeightedRandomSampler(per_sample, num_samples=len(ds), replacement=True, generator=order)
    workers = config.workers if config.workers >= 0 else (4 if device.type == "cuda" else 0)
    return DataLoader(
        ds,
        batch_size=config.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        num_workers=workers,
        drop_last=len(ds) > config.batch_size,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        generator=order,
    )


def rng_state(loader: DataLoader) -> dict[str, Any]:
    """Every random stream a training epoch draws from: torch's (dropout), the loader's order, and the
    augmentation's numpy and Python generators (exact on CPU, where augmentation runs in this process)."""
    aug = loader.dataset.transform
    version, internal, gauss = aug.py_random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "order": loader.generator.get_state(),
        "aug_numpy": aug.random_generator.bit_generator.state,
        "aug_python": [version, list(internal), gauss],
    }


def set_rng_state(loader: DataLoader, state: dict[str, Any]) -> None:
    """Put back what :func:`rng_state` saved."""
    aug = loader.dataset.transform
    torch.set_rng_state(state["torch"])
    loader.generator.set_state(state["order"])
    aug.random_generator.bit_generator.state = state["aug_numpy"]
    version, internal, gauss = state["aug_python"]
    aug.py_random.setstate((version, tuple(internal), gauss))


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


def make_ema(model: nn.Module, decay: float) -> AveragedModel | None:
    """An exponential moving average of ``model``'s weights and batch-norm statistics (None if decay is 0)."""
    if decay <= 0:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def distillation_loss(logits: torch.Tensor, teacher_logp: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL divergence from the teachers' tempered distribution to the student's, scaled by T^2."""
    t = temperature
    student = F.log_softmax(logits.float() / t, dim=1)
    teacher = F.log_softmax(teacher_logp.float() / t, dim=1)
    return F.kl_div(student, teacher, log_target=True, reduction="batchmean") * t * t


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    criterion: nn.Module,
    optimizer,
    scheduler,
    device: torch.device,
    scaler: torch.amp.GradScaler | None,
    desc: str = "",
    distill_alpha: float = 0.0,
    temperature: float = 1.0,
    amp_dtype: torch.dtype | None = None,
    ema: AveragedModel | None = None,
) -> dict[str, float]:
    """One pass over ``loader``; returns mean loss and accuracy (against each image's most likely label).

    ``amp_dtype`` runs the forward pass under autocast in that dtype (float16 needs ``scaler``); ``ema``
    is updated after every optimizer step.
    """
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = tqdm(loader, desc=desc, leave=False, dynamic_ncols=True, disable=None)
    for x, y, t in bar:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits = model(x)
            loss = criterion(logits.float(), y)
            if distill_alpha > 0 and t.numel():
                kd = distillation_loss(logits, t.to(device), temperature)
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
        total_loss += loss.item() * n
        correct += (logits.argmax(1) == y.argmax(1)).sum().item()
        seen += n
        bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
    return {"loss": total_loss / max(seen, 1), "acc": correct / max(seen, 1)}


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
        raise DataError(f"--select {select!r} names no val set; use mean, pooled, min or one of {names}")
    return float(metrics[select]["accuracy"])
