"""Classifier training as small functions: ``train_one_epoch``, ``evaluate``, ``fit(config)``."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ferkit.atomic import write_text
from ferkit.classifier.averaging import snapshot_path
from ferkit.classifier.calibrate import calibrate_checkpoint
from ferkit.classifier.checkpoint import ClassifierMeta, save_checkpoint
from ferkit.classifier.config import ClassifierTrainConfig
from ferkit.classifier.loop import (
    class_weights,
    evaluate,
    make_ema,
    make_scheduler,
    make_train_loader,
    rng_state,
    selection_score,
    train_one_epoch,
)
from ferkit.classifier.models import create_model, get_spec
from ferkit.classifier.preprocess import Preprocess
from ferkit.classifier.priors import class_prior
from ferkit.classifier.starting import (
    match_init,
    read_init,
    read_resume_state,
    restore_run,
    teachers_for,
)
from ferkit.classifier.train_data import PreparedData, prepare_data
from ferkit.device import autocast_dtype, select_device
from ferkit.errors import DataError
from ferkit.imaging.recipe import CropRecipe
from ferkit.plots import plot_training_curves
from ferkit.runs import RunFolder

__all__ = [
    "ClassifierTrainConfig",
    "class_weights",
    "evaluate",
    "fit",
    "make_train_loader",
    "prepare_data",
    "selection_score",
    "train_one_epoch",
]


def _read_history(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with path.open() as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def _open_run(resume: str | Path, overrides: dict[str, Any]) -> tuple[Path, ClassifierTrainConfig, dict]:
    """The run folder, its config with ``overrides`` applied, and its last.pt state (checked before any
    data is read)."""
    run_dir = Path(resume)
    if run_dir.is_file():
        run_dir = run_dir.parent
    if not (run_dir / "last.pt").is_file() or not (run_dir / "config.yaml").is_file():
        raise DataError(f"cannot resume: {run_dir} has no last.pt and config.yaml (not a classifier run?)")
    try:
        config = ClassifierTrainConfig.from_dict(RunFolder(run_dir).load_config())
    except Exception as exc:  # not YAML, or not a mapping of known options
        raise DataError(
            f"cannot resume: {run_dir / 'config.yaml'} is damaged ({type(exc).__name__})"
        ) from None
    config.session_hours = 0.0  # a session budget is this invocation's alone
    for k, v in overrides.items():
        if v is not None:
            setattr(config, k, v)
    return run_dir, config, read_resume_state(run_dir)


def fit(
    config: ClassifierTrainConfig | None = None,
    resume: str | Path | None = None,
    log=print,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """Train a classifier; writes config.yaml, metrics.csv, training_curves.png, last.pt and best.pt.

    With ``config.ema`` > 0 the moving average of the weights is what is validated and saved as best.pt
    (last.pt keeps both, for resuming). With ``config.save_epochs`` each epoch's weights are also kept in
    ``epochs/`` for :func:`ferkit.classifier.averaging.average_checkpoints`.

    With ``resume`` (a run folder), continues that run from its last.pt with its saved config; ``overrides``
    (e.g. ``{"epochs": 80, "hours": 1.0}``) change that config, the time budget counting from the resume.
    Returns the run folder.
    """
    with contextlib.ExitStack() as stack:  # holds the run folder while training
        return _fit(config, resume, log, overrides, stack)


def _fit(config, resume, log, overrides, stack: contextlib.ExitStack) -> Path:
    if resume is not None:
        run_dir, config, state = _open_run(resume, overrides or {})
        stack.enter_context(RunFolder(run_dir).hold())  # a second resume of the same run is refused
        if state["epoch"] >= config.epochs:  # nothing to do: said before any data is read
            done = f"{run_dir} already finished at epoch {state['epoch']} of {config.epochs}"
            log(f"{done} (--epochs extends it)")
            return run_dir
    elif config is None:
        raise DataError("fit needs a config, or a run folder to resume")
    else:
        config = config.with_absolute_paths()
    config.validate()
    get_spec(config.arch)  # an unknown architecture is one ConfigError, before the data is read
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    device = select_device(config.device)
    init = read_init(config, log) if config.init and resume is None else None
    input_size = config.input_size or get_spec(config.arch).input_size
    data = prepare_data(config, input_size, log)
    if init is not None:
        data = match_init(data, init[1], config.init)
    if resume is None:
        run_dir = RunFolder.numbered(config.project, config.name).path
        stack.enter_context(RunFolder(run_dir).hold())
    RunFolder(run_dir).save_config(config)
    write_text(run_dir / "data_report.json", json.dumps(data.report, indent=2) + "\n")  # what was skipped too
    sizes = ", ".join(f"{n} {len(v.targets)}" for n, v in data.vals.items())
    log(
        f"run folder: {run_dir}  device: {device}  train {data.report['train']}  val: {sizes}  "
        f"classes: {', '.join(data.class_names)}"
    )
    teacher, online = teachers_for(config, data, input_size, device, log)

    # channels-last is ~1.5x faster for these convolutions on CPU (oneDNN) and suits CUDA AMP as well
    model = init[0] if init else create_model(config.arch, len(data.class_names), input_size=input_size)
    model = model.to(device, memory_format=torch.channels_last)
    amp_dtype = autocast_dtype(device, config.amp)
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
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    ema = make_ema(model, config.ema)
    scored = ema.module if ema is not None else model  # validated, and saved as best.pt
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
    vals = {n: (Preprocess(meta).tensor(v.images), torch.from_numpy(v.targets)) for n, v in data.vals.items()}
    start_epoch, best, best_epoch = 1, -1.0, 0
    history = _read_history(run_dir / "metrics.csv")
    if resume is not None:
        start_epoch, best, best_epoch = restore_run(state, run_dir, config.arch, model, optimizer, scheduler,
                                                    scaler, ema, loader)  # fmt: skip
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
        if _session_over(config, started, history, epoch - start_epoch, log):
            log(f"session budget of {config.session_hours:g} h reached: continue with --resume {run_dir}")
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
            distill_alpha=config.distill_alpha if config.teachers else 0.0,
            temperature=config.distill_temperature,
            amp_dtype=amp_dtype,
            ema=ema,
            teacher=online,
        )
        va = evaluate(scored, vals, device, data.class_names)
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
        epoch_meta = dataclasses.replace(meta, metrics=_summary(va, data, epoch, score, config.select))
        if improved:
            best, best_epoch = score, epoch
            save_checkpoint(run_dir / "best.pt", scored, epoch_meta)
        if config.save_epochs:
            save_checkpoint(snapshot_path(run_dir, epoch), scored, epoch_meta)
        save_checkpoint(
            run_dir / "last.pt",
            model,
            epoch_meta,
            optimizer=optimizer.state_dict(),
            scheduler=scheduler.state_dict(),
            scaler=scaler.state_dict() if scaler else {},
            ema=ema.state_dict() if ema is not None else {},
            epoch=epoch,
            best_acc=best,
            best_epoch=best_epoch,
            rng=rng_state(loader),
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
    if (run_dir / "best.pt").is_file():
        weights = None if loader.weights is None else loader.weights.numpy()
        prior = class_prior(data.train.targets, weights, len(data.class_names))
        vals_u8 = {n: (v.images, v.targets) for n, v in data.vals.items()}
        corr, _ = calibrate_checkpoint(run_dir / "best.pt", vals_u8, prior, device)
        log(f"prior correction for --prior balanced: tau {corr.tau:g} (fitted on val), stored in best.pt")
    return run_dir


def _session_over(config: ClassifierTrainConfig, started: float, history: list, done: int, log) -> bool:
    """Whether ``config.session_hours`` leaves no room for one more epoch (at the last epoch's pace)."""
    if config.session_hours <= 0 or done == 0:
        return False
    last = history[-1]["seconds"] if history else 0.0
    return time.time() - started + last > config.session_hours * 3600


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
        RunFolder(run_dir).save_config(config)


def _write_history(path: Path, history: list[dict[str, float]]) -> None:
    keys: list[str] = []
    for r in history:
        keys += [k for k in r if k not in keys]
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for r in history:
            w.writerow({k: (int(r[k]) if k == "epoch" else round(r[k], 6)) for k in r})
