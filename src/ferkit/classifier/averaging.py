"""Weight averaging of classifier checkpoints (stochastic weight averaging over a run's epoch snapshots).

Snapshots of one run lie in one basin of the loss, and their mean often generalises better than any of
them (Izmailov et al., "Averaging Weights Leads to Wider Optima and Better Generalization", 2018). Unlike an
ensemble, the average is a single model at a single model's cost.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from ferkit.classifier.checkpoint import ClassifierMeta, load_checkpoint, read_checkpoint, save_checkpoint
from ferkit.errors import ConfigError, WeightsError

# what must agree for weights to be averaged and the average to read its inputs as each member did
_SAME = ("arch", "class_names", "input_size", "mean", "std", "blur_sigma", "crop")


def average_checkpoints(paths: list[str | Path], out: str | Path, half: bool = False) -> Path:
    """Write the element-wise mean of the checkpoints' weights and batch-norm statistics to ``out``.

    Every checkpoint must have the same architecture, classes, input size and preprocessing; the first
    one's metadata is kept, but its metrics (which describe that member, not the average) are replaced by
    ``averaged_from``, the members' paths: :func:`record_val_metrics` measures the average.
    """
    if len(paths) < 2:
        raise ConfigError(f"averaging needs at least 2 checkpoints, got {len(paths)}")
    first, meta = load_checkpoint(paths[0])
    states = [first.state_dict()]
    for path in paths[1:]:
        model, other = load_checkpoint(path)
        _check_same(meta, other, paths[0], path)
        states.append(model.state_dict())
    first.load_state_dict(mean_state(states))
    metrics = {"averaged_from": [str(p) for p in paths]}
    save_checkpoint(out, first, dataclasses.replace(meta, metrics=metrics), half=half)
    return Path(out)


def _check_same(a: ClassifierMeta, b: ClassifierMeta, path_a: str | Path, path_b: str | Path) -> None:
    for name in _SAME:
        va, vb = getattr(a, name), getattr(b, name)
        if va != vb:
            raise WeightsError(
                f"cannot average {path_b} with {path_a}: their {name.replace('_', ' ')} differ "
                f"({vb} against {va}); average snapshots of one run, or use an ensemble"
            )


def record_val_metrics(path: str | Path, datas: list[str], device: str = "auto", split: str = "val") -> dict:
    """Evaluate a checkpoint on the ``split`` of each dataset and store the figures in it, in the shape that
    training records (``val``: accuracy, macro F1 and per-class recall per dataset; ``val_acc``: their mean).
    Returns those metrics."""
    from ferkit.classifier.evaluate import evaluate_many
    from ferkit.classifier.train_data import dataset_names

    reports = evaluate_many(str(path), datas, split, device=device)
    val = {
        name: {"accuracy": r.accuracy, "macro_f1": r.macro_f1, "per_class_accuracy": r.per_class_accuracy}
        for name, r in zip(dataset_names(list(datas)), reports, strict=True)
    }
    ckpt = read_checkpoint(path)
    ckpt["metrics"] = {
        **ckpt.get("metrics", {}),
        "val": val,
        "val_acc": sum(v["accuracy"] for v in val.values()) / len(val),
    }
    torch.save(ckpt, path)
    return ckpt["metrics"]


def snapshot_path(run_dir: str | Path, epoch: int) -> Path:
    """Where ``fit`` keeps the weights of ``epoch`` when ``save_epochs`` is on."""
    return Path(run_dir) / "epochs" / f"epoch_{epoch:03d}.pt"


@torch.no_grad()
def mean_state(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of state dicts (floating tensors; others are taken from the first)."""
    out = dict(states[0])
    for k, v in out.items():
        if v.is_floating_point():
            out[k] = sum(s[k].double() for s in states).div(len(states)).to(v.dtype)
    return out
