"""Classifier checkpoints: everything needed to rebuild and use a model, loaded with ``weights_only=True``."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ferkit.atomic import atomic_path
from ferkit.classifier.meta import FORMAT, ClassifierMeta, meta_from_dict
from ferkit.classifier.models import create_model
from ferkit.errors import WeightsError, first_line
from ferkit.imaging.recipe import CropRecipe


def save_checkpoint(
    path: str | Path, model: nn.Module, meta: ClassifierMeta, half: bool = False, **extra
) -> None:
    """Save model weights with their metadata; ``half`` stores float16 weights (half the size)."""
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu()
        for k, v in model.state_dict().items()
    }
    with atomic_path(path) as tmp:  # a run killed while saving keeps its previous checkpoint
        torch.save({**meta.to_dict(), "state_dict": state, **extra}, tmp)


NOT_OURS = "not a ferkit classifier checkpoint (a detector .pt, or a file from another tool?)"


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dict, loaded safely."""
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        raise WeightsError(f"classifier weights {path} are an empty file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"classifier weights not found: {path}") from None
    except pickle.UnpicklingError:  # pickled Python objects, refused by weights_only loading
        raise WeightsError(f"{path} is {NOT_OURS}") from None
    except Exception as exc:
        raise WeightsError(f"cannot read classifier weights {path}: {first_line(exc)}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise WeightsError(f"{path} is {NOT_OURS}")
    return ckpt


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, ClassifierMeta]:
    """Rebuild a checkpoint's model (eval mode, float32, on ``device``); return it with its metadata."""
    ckpt = read_checkpoint(path)
    meta = meta_from_dict(ckpt)
    model = create_model(meta.arch, num_classes=len(meta.class_names), input_size=meta.input_size)
    try:
        model.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
        )
    except RuntimeError as exc:
        raise WeightsError(
            f"{path}: weights do not fit architecture {meta.arch!r}: {str(exc)[:200]}"
        ) from None
    return model.to(device, memory_format=torch.channels_last).eval(), meta


def export_checkpoint(
    src: str | Path, dst: str | Path, half: bool = True, crop: CropRecipe | None = None, **metrics: Any
) -> Path:
    """Write a deployable copy of a checkpoint: weights (float16 by default) and metadata, no training state.

    ``crop`` replaces the stored crop recipe (e.g. with a margin measured for this model); ``metrics`` are
    merged into the checkpoint's metrics (e.g. the evaluation figures of the shipped model).
    """
    model, meta = load_checkpoint(src)
    meta = dataclasses.replace(meta, metrics={**meta.metrics, **metrics}, crop=crop or meta.crop)
    save_checkpoint(dst, model, meta, half=half)
    return Path(dst)
