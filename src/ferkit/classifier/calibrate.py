"""Fit a checkpoint's prior correction on val images and store it in the checkpoint
(:mod:`ferkit.classifier.priors`): at the end of every training run, and for existing weights with
``fer calibrate-classifier``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ferkit.atomic import atomic_path
from ferkit.classifier.checkpoint import read_checkpoint
from ferkit.classifier.meta import meta_from_dict
from ferkit.classifier.predictor import EmotionClassifier
from ferkit.classifier.priors import PriorCorrection, class_prior, fit_prior
from ferkit.classifier.splits import load_split
from ferkit.errors import DataError


def calibrate_checkpoint(
    path: str | Path,
    vals: dict[str, tuple[np.ndarray, np.ndarray]],
    train_prior: tuple[float, ...],
    device: torch.device,
    out: str | Path | None = None,
) -> tuple[PriorCorrection, list[dict]]:
    """Fit the correction of checkpoint ``path`` on ``{name: (uint8 images at its input size, targets)}``
    and write the checkpoint with it to ``out`` (default: in place). Returns it with the table of every
    candidate strength."""
    clf = EmotionClassifier.from_pretrained(path, device, backend="torch")
    probs = {n: (clf.predict_images({clf.meta.input_size: x}), y) for n, (x, y) in vals.items()}
    correction, table = fit_prior(probs, train_prior)
    ckpt = read_checkpoint(path)
    ckpt["prior"] = correction.to_dict()
    with atomic_path(out or path) as tmp:
        torch.save(ckpt, tmp)
    return correction, table


def calibrate_weights(
    weights: str,
    datas: Sequence[str],
    split: str = "val",
    train_split: str = "train",
    device: torch.device | str = "cpu",
    out: str | Path | None = None,
) -> tuple[PriorCorrection, list[dict]]:
    """The command's work: the training class prior from the datasets' ``train_split`` (mixed with the
    checkpoint's recorded dataset weights when they match), the correction fitted on their ``split``."""
    from ferkit.classifier.train_data import dataset_names
    from ferkit.weights import resolve

    ref = resolve("classifier", weights)
    if ref.exported:
        raise DataError(f"{weights} is an export: calibrate its checkpoint (.pt), then export that again")
    if ref.shipped and out is None:
        raise DataError("is needed: the shipped weights are not changed in place", option="out")
    ckpt = read_checkpoint(ref.path)
    meta = meta_from_dict(ckpt)
    size, grouping = meta.input_size, meta.grouping
    recorded = list(ckpt.get("train_config", {}).get("data_weights") or [])
    mix = recorded if len(recorded) == len(datas) else [1.0] * len(datas)
    targets, weights_ = [], []
    vals = {}
    for name, data, w in zip(dataset_names(list(datas)), datas, mix, strict=True):
        train = load_split(data, train_split, grouping, size)
        targets.append(train.targets)
        weights_.append(np.full(len(train.targets), w, np.float64))
        val = load_split(data, split, grouping, size)
        vals[name] = (val.images, val.targets)
    prior = class_prior(np.concatenate(targets), np.concatenate(weights_), len(grouping.classes))
    dev = device if isinstance(device, torch.device) else torch.device(device)
    return calibrate_checkpoint(ref.path, vals, prior, dev, out or ref.path)
