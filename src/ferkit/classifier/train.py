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

from ferkit.atomic import atomic_path, write_text
from ferkit.classifier.averaging import snapshot_path
from ferkit.classifier.calibrate import calibrate_checkpoint
from ferkit.classifier.checkpoint import ClassifierMeta, save_checkpoint
from ferkit.classifier.config import ClassifierTrainConfig, parse_freeze
from ferkit.classifier.finetune import freeze, param_groups
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
from ferkit.runs import CONFIG_FILE, RunFolder

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
    if not RunFolder(run_dir).last.is_file() or not (run_dir / CONFIG_FILE).is_file():
        raise DataError(
            f"cannot resume: {run_dir} has no weights/last.pt and config.yaml (not a classifier run?)"
        )
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
    return run_dir, config.resolved(), read_resume_state(run_dir)


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


@dataclasses.dataclass
class _Run:
    """What one training run is made of, built step by step by :func:`_fit`."""

    config: ClassifierTrainConfig
    run_dir: Path
    data: PreparedData
    device: torch.device
    input_size: int
    model: nn.Module
    meta: ClassifierMeta
    teacher: np.ndarray | None = None
    online: Any = None


def _fit(config, resume, log, overrides, stack: contextlib.ExitStack) -> Path:
    state = None
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
        config, run_dir = config.with_absolute_paths(), None
    run = _prepare(config, resume is None, log)  # every check passed before a run folder is made
    if run_dir is None:
        run_dir = RunFolder.numbered(config.project, config.name).path
        stack.enter_context(RunFolder(run_dir).hold())
    run.run_dir = run_dir
    _record(run, log)
    loop = _train(run, state, log)
    _calibrate(run, loop, log)
    return run_dir


def _prepare(config: ClassifierTrainConfig, new: bool, log) -> _Run:
    """Check the config, read the data and the start weights, build the model and the teachers."""
    config.validate()
    get_spec(config.arch)  # an unknown architecture is one ConfigError, before the data is read
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    device = select_device(config.device)
    init = read_init(config, log) if config.init and new else None
    input_size = config.input_size or get_spec(config.arch).input_size
    data = prepare_data(config, input_size, log)
    crop = CropRecipe(margin=config.crop_margin)
    if init is not None:
        data, origin = match_init(data, init, config, log)
        data.report["head_from_init"] = origin
        crop = init[1].crop  # the start model's framing: the backbone learned faces cut that way
    model = init[0] if init else create_model(config.arch, len(data.class_names), input_size=input_size)
    if new and config.init and parse_freeze(config.freeze) != "none":
        n = freeze(model, config.freeze)
        log(f"frozen: the first {n} block(s) of the start weights ({config.freeze})")
    teacher, online = teachers_for(config, data, input_size, device, log)
    meta = ClassifierMeta(
        config.arch, data.class_names, data.grouping, input_size, data.mean, data.std,
        train_config=config.plain(), metrics={}, blur_sigma=data.blur_sigma,
        blur_skip_below=data.blur_skip_below, crop=crop,
    )  # fmt: skip
    model = model.to(device, memory_format=torch.channels_last)
    return _Run(config, Path(), data, device, input_size, model, meta, teacher, online)


def _record(run: _Run, log) -> None:
    """The run's config and data report in its folder, and its first log line."""
    RunFolder(run.run_dir).save_config(run.config)
    report = json.dumps(run.data.report, indent=2) + "\n"
    write_text(run.run_dir / "data_report.json", report)  # what was skipped and how it was split, too
    sizes = ", ".join(f"{n} {len(v.targets)}" for n, v in run.data.vals.items())
    log(
        f"run folder: {run.run_dir}  device: {run.device}  train {run.data.report['train']}  val: {sizes}  "
        f"classes: {', '.join(run.data.class_names)}"
    )


def _optimizer(config: ClassifierTrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """SGD (Nesterov) or AdamW over the trainable parameters, the backbone at ``backbone_lr`` of the lr."""
    groups = param_groups(model, config.lr, config.backbone_lr)
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, nesterov=True
        )
    return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)


@dataclasses.dataclass
class _Loop:
    """The moving parts of the epoch loop."""

    loader: Any
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    ema: Any
    amp_dtype: Any
    vals: dict
    history: list
    start_epoch: int = 1
    best: float = -1.0
    best_epoch: int = 0


def _make_loop(run: _Run, state: dict | None, log) -> _Loop:
    config, data, model = run.config, run.data, run.model
    weight = None
    if config.balance == "weighted-loss":
        weight = class_weights(data.train.targets, len(data.class_names)).to(run.device)
    criterion = nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)
    optimizer = _optimizer(config, model)
    loader = make_train_loader(data, config, run.input_size, run.device, run.teacher)
    scheduler = make_scheduler(optimizer, config, len(loader))
    amp_dtype = autocast_dtype(run.device, config.amp)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    ema = make_ema(model, config.ema)
    # scored exactly as the model will be used
    vals = {
        n: (Preprocess(run.meta).tensor(v.images), torch.from_numpy(v.targets)) for n, v in data.vals.items()
    }
    loop = _Loop(loader, criterion, optimizer, scheduler, scaler, ema, amp_dtype, vals,
                 _read_history(run.run_dir / "metrics.csv"))  # fmt: skip
    if state is not None:
        loop.start_epoch, loop.best, loop.best_epoch = restore_run(
            state, run.run_dir, config.arch, model, optimizer, scheduler, scaler, ema, loader
        )
        loop.history = [r for r in loop.history if r["epoch"] < loop.start_epoch]
        log(
            f"resuming at epoch {loop.start_epoch} of {config.epochs} (best val {config.select} "
            f"{loop.best:.4f} at epoch {loop.best_epoch})"
        )
    return loop


def _train(run: _Run, state: dict | None, log) -> _Loop:
    """Epochs until the last, early stopping or the session's end; best.pt and last.pt after each."""
    config, loop = run.config, _make_loop(run, state, log)
    epoch, started = loop.start_epoch - 1, time.time()
    while epoch < config.epochs:
        epoch += 1
        if epoch - loop.best_epoch > config.patience and loop.best_epoch > 0:
            log(f"early stop: no val gain for {config.patience} epochs")
            break
        if _session_over(config, started, loop.history, epoch - loop.start_epoch, log):
            log(f"session budget of {config.session_hours:g} h reached: continue with --resume {run.run_dir}")
            break
        row, va, improved = _one_epoch(run, loop, epoch)
        if config.hours > 0 and epoch == loop.start_epoch:
            _fit_epochs_to_budget(config, time.time() - started, epoch - 1, run.run_dir, log)
        _write_history(run.run_dir / "metrics.csv", loop.history)
        plot_training_curves(loop.history, run.run_dir / "training_curves.png")
        per = "  ".join(f"{n} {va[n]['accuracy']:.4f}" for n in run.data.vals)
        train = f"train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}"
        log(
            f"epoch {epoch:3d}/{config.epochs}  {train}  "
            f"val acc {per}  (mean {va['mean']['accuracy']:.4f})  lr {row['lr']:.4g}  {row['seconds']:.0f}s"
            + ("  *best" if improved else "")
        )
        sys.stdout.flush()
    best = RunFolder(run.run_dir).best
    log(f"best val {config.select} accuracy {loop.best:.4f} at epoch {loop.best_epoch}: {best}")
    return loop


def _one_epoch(run: _Run, loop: _Loop, epoch: int) -> tuple[dict, dict, bool]:
    """Train one epoch, validate, save best.pt (when better) and last.pt; its metrics row."""
    config, data = run.config, run.data
    scored = loop.ema.module if loop.ema is not None else run.model  # validated, and saved as best.pt
    t0 = time.time()
    tr = train_one_epoch(
        run.model, loop.loader, loop.criterion, loop.optimizer, loop.scheduler, run.device, loop.scaler,
        desc=f"epoch {epoch}/{config.epochs}",
        distill_alpha=config.distill_alpha if config.teachers else 0.0,
        temperature=config.distill_temperature, amp_dtype=loop.amp_dtype, ema=loop.ema, teacher=run.online,
    )  # fmt: skip
    va = evaluate(scored, loop.vals, run.device, data.class_names)
    score = selection_score(va, config.select)
    row = {
        "epoch": epoch, "train_loss": tr["loss"], "train_acc": tr["acc"], "val_loss": va["mean"]["loss"],
        "val_acc": va["mean"]["accuracy"], "val_acc_pooled": va["pooled"]["accuracy"], "score": score,
        **{f"val_acc_{n}": va[n]["accuracy"] for n in data.vals},
        **{f"val_f1_{n}": va[n]["macro_f1"] for n in data.vals},
        "lr": loop.optimizer.param_groups[0]["lr"], "seconds": time.time() - t0,
    }  # fmt: skip
    loop.history.append(row)
    improved = score > loop.best
    epoch_meta = dataclasses.replace(run.meta, metrics=_summary(va, data, epoch, score, config.select))
    if improved:
        loop.best, loop.best_epoch = score, epoch
        save_checkpoint(RunFolder(run.run_dir).best, scored, epoch_meta)
    if config.save_epochs:
        save_checkpoint(snapshot_path(run.run_dir, epoch), scored, epoch_meta)
    save_checkpoint(
        RunFolder(run.run_dir).last, run.model, epoch_meta,
        optimizer=loop.optimizer.state_dict(), scheduler=loop.scheduler.state_dict(),
        scaler=loop.scaler.state_dict() if loop.scaler else {},
        ema=loop.ema.state_dict() if loop.ema is not None else {},
        epoch=epoch, best_acc=loop.best, best_epoch=loop.best_epoch, rng=rng_state(loop.loader),
    )  # fmt: skip
    return row, va, improved


def _calibrate(run: _Run, loop: _Loop, log) -> None:
    """The prior correction of ``--prior balanced``, fitted on val and stored in best.pt."""
    best = RunFolder(run.run_dir).best
    if not best.is_file():
        return
    loader = loop.loader
    weights = None if loader.weights is None else loader.weights.numpy()
    data = run.data
    prior = class_prior(data.train.targets, weights, len(data.class_names))
    vals_u8 = {n: (v.images, v.targets) for n, v in data.vals.items()}
    corr, _ = calibrate_checkpoint(best, vals_u8, prior, run.device)
    log(f"prior correction for --prior balanced: tau {corr.tau:g} (fitted on val), stored in best.pt")


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
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:  # a killed run keeps the previous one
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for r in history:
            w.writerow({k: (int(r[k]) if k == "epoch" else round(r[k], 6)) for k in r})
