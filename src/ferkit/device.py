"""The one place that picks a torch device."""

from __future__ import annotations

import re

import torch

from ferkit.errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device_name(name: str | None) -> str:
    """The normalised device name, or a ConfigError for one that is not auto/cpu/cuda/cuda:N/mps."""
    norm = (name or "auto").strip().lower()
    if not _PATTERN.match(norm):
        raise ConfigError(f"unknown device {name!r}: use one of {', '.join(DEVICE_CHOICES)}")
    return norm


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def select_device(name: str = "auto") -> torch.device:
    """Resolve ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` / ``mps`` to a torch device (``auto``: CUDA if
    present, else CPU). Asking for hardware that is not here is a ConfigError saying so."""
    name = check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise ConfigError("--device mps was asked for, but this torch has no usable MPS (Apple GPU) here")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise ConfigError(
            f"--device {name} was asked for, but no CUDA GPU is available here (use cpu or auto)"
        )
    if ":" in name and int(name.split(":")[1]) >= torch.cuda.device_count():
        raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} CUDA GPU(s) here")
    return torch.device(name)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def autocast_dtype(device: torch.device, enabled: bool = True) -> torch.dtype | None:
    """The mixed-precision dtype training uses on ``device``: float16 on CUDA, bfloat16 on a CPU with native
    bf16, None (full float32) elsewhere or when ``enabled`` is False."""
    if not enabled:
        return None
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and cpu_has_bf16():
        return torch.bfloat16
    return None
