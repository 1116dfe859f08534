"""Start a wider network from a trained narrower one without losing what it learned (function-preserving
widening, as in Net2Net's Net2WiderNet): ``fer widen-classifier``.

Every unit of the wider network copies a unit of the narrower one; where a unit is copied, the layer that
reads it splits that unit's outgoing weight between the copies with random shares that sum to one. The
wider network then computes exactly what the narrower one did (in eval mode), and the unequal shares give
the copies different gradients, so fine-tuning makes them diverge and the extra width is used.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from ferkit.classifier.checkpoint import load_checkpoint, save_checkpoint
from ferkit.classifier.models import create_model
from ferkit.errors import ConfigError

_WEIGHTED = (nn.Conv2d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def _layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, _WEIGHTED + _NORMS)]


def _shares(out_map: torch.Tensor, n_old: int, gen: torch.Generator) -> torch.Tensor:
    """Random positive shares per new unit, summing to one over the copies of each old unit."""
    r = 0.5 + torch.rand(len(out_map), generator=gen, dtype=torch.float64)
    total = torch.zeros(n_old, dtype=torch.float64).index_add_(0, out_map, r)
    return (r / total[out_map]).float()


def _check_fits(src: list[nn.Module], dst: list[nn.Module], names: tuple[str, str]) -> None:
    shapes_ok = len(src) == len(dst) and all(
        type(a) is type(b)
        and (not isinstance(a, nn.Conv2d) or a.weight.shape[2:] == b.weight.shape[2:])
        and b.weight.shape[0] >= a.weight.shape[0]
        and b.weight.shape[0] % a.weight.shape[0] == 0
        for a, b in zip(src, dst, strict=True)
    )
    if not shapes_ok or src[-1].weight.shape[0] != dst[-1].weight.shape[0]:
        raise ConfigError(
            f"{names[1]} is not a widening of {names[0]}: it needs the same layers, each as wide or wider",
            option="arch",
        )


@torch.no_grad()
def widen_model(src: nn.Module, dst: nn.Module, seed: int = 0) -> nn.Module:
    """Fill ``dst`` (the wider architecture, same layers) from ``src`` so that both compute the same
    function in eval mode; returns ``dst``."""
    gen = torch.Generator().manual_seed(seed)
    a_layers, b_layers = _layers(src), _layers(dst)
    _check_fits(a_layers, b_layers, (type(src).__name__, type(dst).__name__))
    first = a_layers[0].weight.shape[1]
    in_map, in_share = torch.arange(first), torch.ones(first)
    for a, b in zip(a_layers, b_layers, strict=True):
        if isinstance(a, _NORMS):
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(b, name).copy_(getattr(a, name)[in_map])
            b.num_batches_tracked.copy_(a.num_batches_tracked)
            continue
        n_in_new = b.weight.shape[1]
        if n_in_new != len(in_map):  # the flatten between the convolutions and the head
            per = n_in_new // len(in_map)  # positions per channel
            in_map = (in_map[:, None] * per + torch.arange(per)).reshape(-1)
            in_share = in_share.repeat_interleave(per)
        n_out_old, n_out_new = a.weight.shape[0], b.weight.shape[0]
        out_map = torch.arange(n_out_new) % n_out_old
        w = a.weight[out_map][:, in_map]
        shape = (1, -1) + (1,) * (w.dim() - 2)
        b.weight.copy_(w * in_share.view(shape))
        if a.bias is not None:
            b.bias.copy_(a.bias[out_map])
        in_map, in_share = out_map, _shares(out_map, n_out_old, gen)
    return dst


def widen_checkpoint(weights: str | Path, arch: str, out: str | Path, seed: int = 0) -> Path:
    """Write ``out``: checkpoint ``weights`` (a path or ``default``) widened into architecture ``arch``,
    with the same preprocessing, crop recipe and prior correction; ``fer train-classifier --init out``
    fine-tunes it."""
    from ferkit.weights import resolve_weights

    src, meta = load_checkpoint(resolve_weights("classifier", weights))
    dst = create_model(arch, num_classes=len(meta.class_names), input_size=meta.input_size)
    widen_model(src, dst, seed)
    origin = {"widened_from": str(weights), "from_arch": meta.arch, "seed": seed}
    save_checkpoint(out, dst, replace(meta, arch=arch, metrics=origin))
    return Path(out)
