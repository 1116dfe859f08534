"""The one place that picks a torch device."""

from __future__ import annotations

import torch

from ferkit.errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def select_device(name: str = "auto") -> torch.device:
    """Resolve ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` to a torch device (``auto``: CUDA if present)."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device {name} was asked for, but no CUDA GPU is available here (use cpu or auto)"
            )
        return torch.device(name)
    raise ConfigError(f"unknown device {name!r}: use one of {', '.join(DEVICE_CHOICES)} or cuda:N")
