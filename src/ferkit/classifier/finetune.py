"""Fine-tuning onto other classes: a head made for the data's classes (rows kept for the classes the start
model knows), frozen parts, and a smaller learning rate for the backbone than for the head."""

from __future__ import annotations

import types
from collections.abc import Sequence

import torch
from torch import nn

from ferkit.classifier.config import parse_freeze
from ferkit.errors import ConfigError

HEAD_KEPT, HEAD_NEW = "kept", "new"


def head_layer(model: nn.Module) -> nn.Linear:
    """The model's last linear layer: the one whose rows are the classes."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError(f"{type(model).__name__} has no linear layer to adapt to other classes")
    return linears[-1]


def adapt_head(
    model: nn.Module, known: Sequence[str], wanted: Sequence[str], seed: int = 0
) -> dict[str, str]:
    """Give ``model`` a head for ``wanted`` classes, in place: a class among the ``known`` ones (the start
    model's) keeps its row of weights and its bias, a new one starts from small random weights and the mean
    bias. Returns each wanted class's origin (``kept`` or ``new``)."""
    old = head_layer(model)
    new = nn.Linear(old.in_features, len(wanted), bias=old.bias is not None)
    gen = torch.Generator().manual_seed(seed)
    origin = {}
    with torch.no_grad():
        new.weight.copy_(torch.randn(new.weight.shape, generator=gen) * old.weight.std() * 0.1)
        if new.bias is not None:
            new.bias.fill_(float(old.bias.mean()))
        for i, name in enumerate(wanted):
            if name in known:
                j = list(known).index(name)
                new.weight[i] = old.weight[j]
                if new.bias is not None:
                    new.bias[i] = old.bias[j]
            origin[name] = HEAD_KEPT if name in known else HEAD_NEW
    _replace(model, old, new.to(old.weight.device))
    return origin


def _replace(model: nn.Module, old: nn.Module, new: nn.Module) -> None:
    for parent in model.modules():
        for name, child in parent.named_children():
            if child is old:
                setattr(parent, name, new)
                return


def stages(model: nn.Module) -> list[list[nn.Module]]:
    """The backbone's blocks in order: each convolution stage (up to and including its pooling), then each
    hidden layer of the head (up to its activation)."""
    blocks: list[list[nn.Module]] = [[]]
    features = getattr(model, "features", nn.Sequential())
    hidden = getattr(model, "classifier", nn.Sequential())
    for part, ends in ((features, (nn.MaxPool2d,)), (hidden, (nn.ReLU,))):
        for m in part.children():
            blocks[-1].append(m)
            if isinstance(m, ends):
                blocks.append([])
    last = head_layer(model)
    return [b for b in blocks if b and last not in b]


def freeze(model: nn.Module, spec: str) -> int:
    """Freeze the first blocks of ``model`` (``spec``: :func:`parse_freeze`): their weights do not train and
    their batch-norm statistics stay as they are (the blocks stay in eval mode). Returns the blocks frozen."""
    value = parse_freeze(spec)
    blocks = stages(model)
    n = 0 if value == "none" else len(blocks) if value == "backbone" else value
    if n > len(blocks):
        raise ConfigError(f"this model has {len(blocks)} blocks, got {n}", option="freeze")
    for block in blocks[:n]:
        for m in block:
            m.requires_grad_(False)
            m.train = types.MethodType(_always_eval, m)
            m.eval()
    return n


def _always_eval(self: nn.Module, mode: bool = True) -> nn.Module:
    return nn.Module.train(self, False)


def param_groups(model: nn.Module, lr: float, backbone_lr: float) -> list[dict]:
    """The trainable parameters as optimizer groups: the head at ``lr``, the rest at ``lr * backbone_lr``."""
    head = {id(p) for p in head_layer(model).parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if id(p) in head], "lr": lr},
        {"params": [p for p in trainable if id(p) not in head], "lr": lr * backbone_lr},
    ]
    return [g for g in groups if g["params"]]
