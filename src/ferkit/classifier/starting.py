"""What a run starts from besides its data: ``--init`` weights and the ``--teacher`` ensemble's outputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from ferkit.classifier.checkpoint import ClassifierMeta, load_checkpoint
from ferkit.classifier.config import ClassifierTrainConfig
from ferkit.classifier.train_data import PreparedData
from ferkit.errors import DataError
from ferkit.weights import resolve_weights


def read_init(config: ClassifierTrainConfig, log=print) -> tuple[nn.Module, ClassifierMeta]:
    """The ``--init`` checkpoint; its architecture and input size become the run's."""
    path = resolve_weights("classifier", config.init)
    model, meta = load_checkpoint(path)
    if (config.arch, config.input_size) not in ((meta.arch, 0), (meta.arch, meta.input_size)):
        log(f"--init {config.init}: using its architecture {meta.arch} at {meta.input_size} px")
    config.arch, config.input_size = meta.arch, meta.input_size
    return model, meta


def match_init(data: PreparedData, meta: ClassifierMeta, spec: str) -> PreparedData:
    """Check the ``--init`` model has the data's classes; normalise inputs as it was trained to."""
    if tuple(meta.class_names) != tuple(data.class_names):
        raise DataError(
            f"--init {spec}: its classes ({', '.join(meta.class_names)}) differ from the data's "
            f"({', '.join(data.class_names)}); use the same --grouping, or train from scratch"
        )
    return dataclasses.replace(data, mean=meta.mean, std=meta.std)


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
