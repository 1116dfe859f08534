"""AlexNet-family emotion classifiers, built by name from a registry (``create_model(name, num_classes)``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ferkit.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture: its builder and the input it expects."""

    name: str
    builder: Callable[..., nn.Module]
    input_size: int
    description: str


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, input_size: int, description: str) -> Callable:
    """Decorator adding a builder ``f(num_classes, in_channels) -> nn.Module`` to the registry."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelSpec(name, fn, input_size, description)
        return fn

    return deco


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown classifier architecture {name!r}; known: {', '.join(list_models())}")
    return _REGISTRY[name]


def create_model(
    name: str, num_classes: int, in_channels: int = 1, input_size: int | None = None
) -> nn.Module:
    """Build a registered architecture with freshly initialised weights, for ``input_size`` square inputs
    (default: the architecture's own)."""
    if num_classes < 2:
        raise ConfigError(f"a classifier needs at least 2 classes, got {num_classes}")
    spec = get_spec(name)
    return spec.builder(
        num_classes=num_classes, in_channels=in_channels, input_size=input_size or spec.input_size
    )


def _conv(cin: int, cout: int, k: int = 3) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class AlexNetBN(nn.Module):
    """AlexNet's shape for small grayscale faces: a wide first kernel, convolution stages separated by
    max-pooling, and a three-layer fully connected head with dropout; batch norm after every layer.

    ``stages`` lists the convolution widths of each stage; every stage ends in a 2x2 max-pool.
    """

    def __init__(
        self,
        stages: tuple[tuple[int, ...], ...],
        fc: int,
        num_classes: int,
        in_channels: int = 1,
        dropout: float = 0.5,
        input_size: int = 48,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        cin, first = in_channels, True
        for stage in stages:
            for cout in stage:
                layers += _conv(cin, cout, 5 if first else 3)
                cin, first = cout, False
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        side = input_size // 2 ** len(stages)
        if side < 1:
            raise ConfigError(f"input size {input_size} is too small for {len(stages)} pooling stages")
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(cin * side * side, fc, bias=False),
            nn.BatchNorm1d(fc),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(fc, fc, bias=False),
            nn.BatchNorm1d(fc),
            nn.ReLU(inplace=True),
            nn.Linear(fc, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model("alexnet_s", 48, "compact AlexNet-BN for 48x48 gray (1.2M params), trains on a CPU")
def alexnet_s(num_classes: int, in_channels: int = 1, input_size: int = 48) -> nn.Module:
    return AlexNetBN(
        ((32, 32), (64, 64), (128, 128), (256,)), 256, num_classes, in_channels, input_size=input_size
    )


@register_model("alexnet_m", 48, "wider AlexNet-BN (5.0M params)")
def alexnet_m(num_classes: int, in_channels: int = 1, input_size: int = 48) -> nn.Module:
    return AlexNetBN(
        ((64, 64), (128, 128), (256, 256), (512,)), 512, num_classes, in_channels, input_size=input_size
    )


@register_model("alexnet_l", 48, "wider and deeper AlexNet-BN (11.2M params), for a GPU")
def alexnet_l(num_classes: int, in_channels: int = 1, input_size: int = 48) -> nn.Module:
    return AlexNetBN(
        ((64, 64), (128, 128, 128), (256, 256, 256), (512, 512)),
        1024,
        num_classes,
        in_channels,
        input_size=input_size,
    )
