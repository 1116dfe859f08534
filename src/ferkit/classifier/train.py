"""Classifier training as small functions: ``train_one_epoch``, ``evaluate``, ``fit(config)``."""

from __future__ import annotations

import csv
import dataclasses
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, WeightedRandomSampler
from tqdm import tqdm

from ferkit.classifier.checkpoint import ClassifierMeta, save_checkpoint
from ferkit.classifier.config import ClassifierTrainConfig
from ferkit.classifier.data import AugmentedFaces, preprocess
from ferkit.classifier.evaluate import classification_metrics
from ferkit.classifier.models import create_model, get_spec
from ferkit.classifier.train_data import PreparedData, prepare_data
from ferkit.datasets.augment import train_transform
from ferkit.datasets.crop import CropRecipe
from ferkit.device import select_device
from ferkit.errors import DataError
from ferkit.plots import plot_training_curves
from ferkit.runs import load_config_dict, next_run_dir, save_config

__all__ = ["ClassifierTrainConfig", "evaluate", "fit", "prepare_data", "train_one_epoch"]


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
    ds = AugmentedFaces(
        data.train.images,
        data.train.soft,
        train_transform(input_size, config.augment),
        data.mean,
        data.std,
        teacher_logp,
    )
    per_sample = np.asarray(config.weights(), dtype=np.float64)[data.train.dataset]
    if config.balance == "oversample":
        per_class = class_weights(data.train.targets, len(data.class_names)).numpy()
        per_sample = per_sample * per_class[data.train.targets]
    sampler = None
    if not np.allclose(per_sample, per_sample[0]):
        sampler = WeightedRandomSampler(per_sample, num_samples=len(ds), replacement=True)
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
    )


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
) -> dict[str, float]:
    """One pass over ``loader``; returns mean loss and accuracy (against each image's most likely label)."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = tqdm(loader, desc=desc, leave=False, dynamic_ncols=True, disable=None)
    for x, y, t in bar:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=scaler is not None):
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


def _read_history(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with path.open() as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def _open_run(resume: str | Path, overrides: dict[str, Any]) -> tuple[Path, ClassifierTrainConfig]:
    run_dir = Path(resume)
    if run_dir.is_file():
        run_dir = run_dir.parent
    if not (run_dir / "last.pt").is_file() or not (run_dir / "config.yaml").is_file():
        raise DataError(f"cannot resume: {run_dir} has no last.pt and config.yaml (not a classifier run?)")
    config = ClassifierTrainConfig.from_dict(load_config_dict(run_dir / "config.yaml"))
    for k, v in overrides.items():
        if v is not None:
            setattr(config, k, v)
    return run_dir, config


def teacher_log_probs(
    teachers: list[str], images: np.ndarray, class_names: tuple[str, ...], device: torch.device, log=print
) -> np.ndarray:
    """Log of the teachers' mean probabilities for each training image (un-augmented), computed once."""
    from ferkit.classifier.ensemble import load_classifier

    ens = load_classifier(teachers, device)
    if tuple(ens.class_names) != tuple(class_names):
        raise DataError(
            f"teacher classes {', '.join(ens.class_names)} differ from the student's "
            f"{', '.join(class_names)} ({', '.join(teachers)})"
        )
    log(f"distillation: scoring {len(images)} training images with {len(teachers)} teacher(s)")
    probs = np.concatenate(
        [ens.predict_proba(list(images[i : i + 1024])) for i in range(0, len(images), 1024)]
    )
    return np.log(np.clip(probs, 1e-7, 1.0)).astype(np.float32)


def fit(
    config: ClassifierTrainConfig | None = None,
    resume: str | Path | None = None,
    log=print,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """Train a classifier; writes config.yaml, metrics.csv, training_curves.png, last.pt and best.pt.

    With ``resume`` (a run folder), continues that run from its last.pt with its saved config; ``overrides``
    (e.g. ``{"epochs": 80, "hours": 1.0}``) change that config, the time budget counting from the resume.
    Returns the run folder.
    """
    if resume is not None:
        run_dir, config = _open_run(resume, overrides or {})
    elif config is None:
        raise DataError("fit needs a config, or a run folder to resume")
    config.validate()
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    device = select_device(config.device)
    input_size = config.input_size or get_spec(config.arch).input_size
    data = prepare_data(config, input_size, log)
    if resume is None:
        run_dir = next_run_dir(config.project, config.name)
    save_config(config, run_dir / "config.yaml")
    sizes = ", ".join(f"{n} {len(v.targets)}" for n, v in data.vals.items())
    log(
        f"run folder: {run_dir}  device: {device}  train {data.report['train']}  val: {sizes}  "
        f"classes: {', '.join(data.class_names)}"
    )
    teacher = (
        teacher_log_probs(config.teachers, data.train.images, data.class_names, device, log)
        if config.teachers
        else None
    )

    # channels-last is ~1.5x faster for these convolutions on CPU (oneDNN) and suits CUDA AMP as well
    model = create_model(config.arch, len(data.class_names), input_size=input_size)
    model = model.to(device, memory_format=torch.channels_last)
    weight = (
        class_weights(data.train.targets, len(data.class_names)).to(device)
        if config.balance == "weighted-loss"
        else None
    )
    criterion = nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(
            model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            nesterov=True,
        )
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loader = make_train_loader(data, config, input_size, device, teacher)
    scheduler = make_scheduler(optimizer, config, len(loader))
    scaler = torch.amp.GradScaler("cuda") if (config.amp and device.type == "cuda") else None
    meta = ClassifierMeta(
        config.arch,
        data.class_names,
        data.grouping,
        input_size,
        data.mean,
        data.std,
        train_config=config.plain(),
        metrics={},
        blur_sigma=data.blur_sigma,
        blur_skip_below=data.blur_skip_below,
        crop=CropRecipe(margin=config.crop_margin),
    )
    # scored exactly as the model will be used
    vals = {n: (preprocess(v.images, meta), torch.from_numpy(v.targets)) for n, v in data.vals.items()}
    start_epoch, best, best_epoch = 1, -1.0, 0
    history = _read_history(run_dir / "metrics.csv")
    if resume is not None:
        state = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start_epoch, best, best_epoch = state["epoch"] + 1, state["best_acc"], state["best_epoch"]
        history = [r for r in history if r["epoch"] < start_epoch]
        log(
            f"resuming at epoch {start_epoch} of {config.epochs} (best val {config.select} {best:.4f} "
            f"at epoch {best_epoch})"
        )

    epoch, started = start_epoch - 1, time.time()
    while epoch < config.epochs:
        epoch += 1
        if epoch - best_epoch > config.patience and best_epoch > 0:
            log(f"early stop: no val gain for {config.patience} epochs")
            break
        t0 = time.time()
        tr = train_one_epoch(
            model,
            loader,
            criterion,
            optimizer,
            scheduler,
            device,
            scaler,
            desc=f"epoch {epoch}/{config.epochs}",
            distill_alpha=config.distill_alpha if teacher is not None else 0.0,
            temperature=config.distill_temperature,
        )
        va = evaluate(model, vals, device, data.class_names)
        score = selection_score(va, config.select)
        row = {
            "epoch": epoch,
            "train_loss": tr["loss"],
            "train_acc": tr["acc"],
            "val_loss": va["mean"]["loss"],
            "val_acc": va["mean"]["accuracy"],
            "val_acc_pooled": va["pooled"]["accuracy"],
            "score": score,
            **{f"val_acc_{n}": va[n]["accuracy"] for n in data.vals},
            **{f"val_f1_{n}": va[n]["macro_f1"] for n in data.vals},
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.time() - t0,
        }
        history.append(row)
        improved = score > best
        summary = _summary(va, data, epoch, score, config.select)
        if improved:
            best, best_epoch = score, epoch
            save_checkpoint(run_dir / "best.pt", model, dataclasses.replace(meta, metrics=summary))
        save_checkpoint(
            run_dir / "last.pt",
            model,
            dataclasses.replace(meta, metrics=summary),
            optimizer=optimizer.state_dict(),
            scheduler=scheduler.state_dict(),
            scaler=scaler.state_dict() if scaler else {},
            epoch=epoch,
            best_acc=best,
            best_epoch=best_epoch,
        )
        if config.hours > 0 and epoch == start_epoch:
            _fit_epochs_to_budget(config, time.time() - started, epoch - 1, run_dir, log)
        _write_history(run_dir / "metrics.csv", history)
        plot_training_curves(history, run_dir / "training_curves.png")
        per = "  ".join(f"{n} {va[n]['accuracy']:.4f}" for n in data.vals)
        log(
            f"epoch {epoch:3d}/{config.epochs}  train loss {tr['loss']:.4f} acc {tr['acc']:.4f}  "
            f"val acc {per}  (mean {va['mean']['accuracy']:.4f})  lr {row['lr']:.4g}  {row['seconds']:.0f}s"
            + ("  *best" if improved else "")
        )
        sys.stdout.flush()
    log(f"best val {config.select} accuracy {best:.4f} at epoch {best_epoch}: {run_dir / 'best.pt'}")
    return run_dir


def _summary(va: dict, data: PreparedData, epoch: int, score: float, select: str) -> dict[str, Any]:
    """What a checkpoint records of its val results."""
    return {
        "epoch": epoch,
        "select": select,
        "score": score,
        "val_acc": va["mean"]["accuracy"],
        "val": {
            n: {k: va[n][k] for k in ("accuracy", "macro_f1", "per_class_accuracy")}
            for n in [*data.vals, "pooled"]
        },
    }


def _fit_epochs_to_budget(
    config: ClassifierTrainConfig, epoch_seconds: float, done: int, run_dir: Path, log=print
) -> None:
    """Cut ``config.epochs`` to what fits in ``config.hours`` (from now) at the first epoch's pace."""
    fits = done + max(1, int(config.hours * 3600 / max(epoch_seconds, 1e-6)))
    if fits < config.epochs:
        log(f"time budget {config.hours:g} h at {epoch_seconds:.0f} s/epoch: {fits} epochs")
        config.epochs = fits
        save_config(config, run_dir / "config.yaml")


def _write_history(path: Path, history: list[dict[str, float]]) -> None:
    keys: list[str] = []
    for r in history:
        keys += [k for k in r if k not in keys]
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for r in history:
            w.writerow({k: (int(r[k]) if k == "epoch" else round(r[k], 6)) for k in r})
