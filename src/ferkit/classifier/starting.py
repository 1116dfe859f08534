"""What a run starts from besides its data: ``--init`` weights and the ``--teacher`` ensemble's outputs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ferkit.classifier.checkpoint import ClassifierMeta, load_checkpoint, read_checkpoint
from ferkit.classifier.config import ClassifierTrainConfig
from ferkit.classifier.finetune import HEAD_KEPT, adapt_head
from ferkit.classifier.train_data import PreparedData
from ferkit.errors import DataError, WeightsError, first_line
from ferkit.runs import RunFolder
from ferkit.weights import resolve_weights


def read_init(config: ClassifierTrainConfig, log=print) -> tuple[nn.Module, ClassifierMeta]:
    """The ``--init`` checkpoint; its architecture and input size become the run's."""
    path = resolve_weights("classifier", config.init)
    model, meta = load_checkpoint(path)
    if (config.arch, config.input_size) not in ((meta.arch, 0), (meta.arch, meta.input_size)):
        log(f"--init {config.init}: using its architecture {meta.arch} at {meta.input_size} px")
    config.arch, config.input_size = meta.arch, meta.input_size
    return model, meta


def match_init(
    data: PreparedData, init: tuple[nn.Module, ClassifierMeta], config: ClassifierTrainConfig, log=print
) -> tuple[PreparedData, dict[str, str]]:
    """Fit the ``--init`` model to the data's classes (a new head where they differ: rows kept for the
    classes it knows, :func:`ferkit.classifier.finetune.adapt_head`); inputs normalised as it was trained.
    Returns the data and where each class's head row came from (``kept`` or ``new``)."""
    model, meta = init
    if tuple(meta.class_names) == tuple(data.class_names):
        origin = dict.fromkeys(data.class_names, HEAD_KEPT)
    else:
        origin = adapt_head(model, meta.class_names, data.class_names, config.seed)
        kept = [c for c, o in origin.items() if o == HEAD_KEPT]
        log(
            f"--init {config.init}: a new head for {len(origin)} classes ("
            + (f"kept {', '.join(kept)}; " if kept else "")
            + f"new {', '.join(c for c in origin if c not in kept) or 'none'})"
        )
    return dataclasses.replace(data, mean=meta.mean, std=meta.std), origin


def _check_teacher_classes(teacher: tuple[str, ...], student: tuple[str, ...], source: str) -> None:
    """One DataError when the teachers predict other classes than the student."""
    if tuple(teacher) != tuple(student):
        raise DataError(
            f"teacher classes {', '.join(teacher)} differ from the student's {', '.join(student)} ({source})"
        )


def teacher_log_probs(
    teachers: list[str], images: np.ndarray, class_names: tuple[str, ...], device: torch.device, log=print
) -> np.ndarray:
    """Log of the teachers' mean probabilities for each training image (un-augmented), computed once."""
    from ferkit.classifier.ensemble import load_classifier

    ens = load_classifier(teachers, device)
    _check_teacher_classes(ens.class_names, class_names, ", ".join(teachers))
    log(f"distillation: scoring {len(images)} training images with {len(teachers)} teacher(s)")
    probs = np.concatenate(
        [ens.predict_proba(list(images[i : i + 1024])) for i in range(0, len(images), 1024)]
    )
    return np.log(np.clip(probs, 1e-7, 1.0)).astype(np.float32)


class OnlineTeacher:
    """The ``--teacher`` ensemble scored on the student's own augmented, mixed batch at every step
    (consistent distillation): the log of the teachers' mean probabilities. Each teacher gets the batch in
    its own normalisation; input size and blur must be the student's."""

    def __init__(self, models: list[nn.Module], metas: list[ClassifierMeta], mean: float, std: float):
        self.models, self.metas, self.mean, self.std = models, metas, mean, std

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.zeros(())
        for model, meta in zip(self.models, self.metas, strict=True):
            xt = x
            if (meta.mean, meta.std) != (self.mean, self.std):  # back to [0, 1], then the teacher's own
                xt = (x * self.std + self.mean - meta.mean) / meta.std
            probs = probs + model(xt).float().softmax(1)
        return (probs / len(self.models)).clamp_min(1e-7).log()


def online_teacher(teachers: list[str], data: PreparedData, input_size: int, device: torch.device, log=print):
    """Load the ``--teacher`` checkpoints for :class:`OnlineTeacher`, checked against the student's data."""
    models, metas = [], []
    for spec in teachers:
        model, meta = load_checkpoint(resolve_weights("classifier", spec), device)
        _check_teacher_classes(meta.class_names, data.class_names, spec)
        if meta.input_size != input_size or meta.blur_sigma != data.blur_sigma:
            raise DataError(
                f"{spec}: online distillation needs the student's input size ({input_size} px) and input "
                f"blur (sigma {data.blur_sigma:g}), it has {meta.input_size} px and {meta.blur_sigma:g}; "
                "distil without --distill-online"
            )
        models.append(model.eval().requires_grad_(False).to(memory_format=torch.channels_last))
        metas.append(meta)
    log(f"distillation: {len(teachers)} teacher(s) scored online, on each augmented batch")
    return OnlineTeacher(models, metas, data.mean, data.std)


def teachers_for(
    config: ClassifierTrainConfig, data: PreparedData, input_size: int, device: torch.device, log=print
) -> tuple[np.ndarray | None, OnlineTeacher | None]:
    """The run's ``--teacher`` ensemble: its log-probabilities of every training image, computed once, or
    with ``--distill-online`` the teachers themselves, scored on each augmented batch; (None, None) with no
    teachers."""
    if not config.teachers:
        return None, None
    if config.distill_online:
        return None, online_teacher(config.teachers, data, input_size, device, log)
    return teacher_log_probs(config.teachers, data.train.images, data.class_names, device, log), None


def read_resume_state(run_dir: Path) -> dict[str, Any]:
    """``run_dir/last.pt``, loaded safely; a damaged one is one error naming the last good alternative."""
    path = RunFolder(run_dir).last
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or "optimizer" not in state or "epoch" not in state:
            raise ValueError("not a training checkpoint")
        return state
    except Exception as exc:
        reason = first_line(exc, 120)
    good = _last_good(run_dir)
    hint = (
        f"the last good weights here are {good} (no optimizer state): fine-tune from them with --init {good}"
        if good
        else "no other checkpoint in it can be used: start the run afresh"
    )
    raise WeightsError(f"cannot resume {run_dir}: {path} is damaged ({reason}); {hint}")


def _last_good(run_dir: Path) -> Path | None:
    """The newest epoch snapshot, or best.pt, that still reads as a classifier checkpoint."""
    candidates = [*sorted((run_dir / "epochs").glob("epoch_*.pt"), reverse=True), RunFolder(run_dir).best]
    for candidate in candidates:
        try:
            read_checkpoint(candidate)
            return candidate
        except WeightsError:
            continue
    return None


def restore_run(state, run_dir: Path, arch: str, model, optimizer, scheduler, scaler, ema, loader):
    """Put a run back as its last.pt left it (weights, optimizer, schedule, EMA, random streams); returns
    (first epoch to run, best score, its epoch)."""
    from ferkit.classifier.loop import RNG_FORMAT, set_rng_state

    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError:
        raise WeightsError(
            f"cannot resume {run_dir}: its last.pt does not fit architecture {arch!r} of its config.yaml "
            "(a run folder of another ferkit version?)"
        ) from None
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    if ema is not None and state.get("ema"):
        ema.load_state_dict(state["ema"])
    rng = state.get("rng") or {}
    if rng.get("format") != RNG_FORMAT:  # an earlier training loop's streams: the run cannot go on exactly
        raise WeightsError(
            f"cannot resume {run_dir}: its last.pt was written by an earlier ferkit's training loop, whose "
            f"random streams this version cannot continue; start a new run from its weights with "
            f"--init {run_dir / 'best.pt'}"
        )
    set_rng_state(loader, rng)
    return state["epoch"] + 1, state["best_acc"], state["best_epoch"]
