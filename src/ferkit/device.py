"""The one place that picks a device: a ``torch.device`` where PyTorch is installed, else a :class:`Device`
(the light install runs exported models on the CPU, or on CUDA through onnxruntime-gpu)."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ferkit.errors import ConfigError, MissingExtraError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device_name(name: str | None) -> str:
    """The normalised device name, or a ConfigError for one that is not auto/cpu/cuda/cuda:N/mps."""
    norm = (name or "auto").strip().lower()
    if not _PATTERN.match(norm):
        raise ConfigError(f"unknown device {name!r}: use one of {', '.join(DEVICE_CHOICES)}")
    return norm


def torch_installed() -> bool:
    """Whether PyTorch can be imported (the ``torch`` extra); checked without importing it."""
    return importlib.util.find_spec("torch") is not None


@dataclass(frozen=True)
class Device:
    """A device without PyTorch, spelled as ``torch.device`` is (``type``, ``index``, ``str()``)."""

    type: str
    index: int | None = None

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


def as_device(device: str | Any) -> Any:
    """A device object as given (a ``torch.device`` or :class:`Device`), or a name picked by
    :func:`inference_device`."""
    return inference_device(device) if device is None or isinstance(device, str) else device


def inference_device(name: str | None = "auto") -> torch.device | Device:
    """:func:`select_device` for running models: the CPU as a :class:`Device`, without importing PyTorch
    (1.6 s of a cold start on a 2-core CPU), when ``name`` is ``cpu``, or ``auto`` on a machine that shows
    no GPU (Linux without NVIDIA or ROCm device files, macOS, where ``auto`` is the CPU); the PyTorch
    backends turn it into a ``torch.device`` (:func:`torch_device`). Elsewhere, :func:`select_device`."""
    norm = check_device_name(name)
    if norm == "cpu" or (norm == "auto" and not _gpu_visible()):
        return Device("cpu")
    return select_device(norm)


def _gpu_visible() -> bool:
    """Whether this machine may have a GPU PyTorch or ONNX Runtime could use (True where it cannot tell)."""
    if sys.platform == "darwin":
        return False  # auto never picks MPS
    if sys.platform.startswith("linux"):
        return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg"))
    return True


def torch_device(device: Any) -> torch.device:
    """``device`` (a :class:`Device` or ``torch.device``) as a ``torch.device``."""
    import torch

    return device if isinstance(device, torch.device) else torch.device(str(device))


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def onnxruntime_cuda() -> bool:
    """Whether ONNX Runtime is installed with its CUDA provider (onnxruntime-gpu)."""
    if importlib.util.find_spec("onnxruntime") is None:
        return False
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def _select_without_torch(name: str) -> Device:
    """``auto``/``cpu``/``cuda[:N]`` where PyTorch is not installed: CUDA through onnxruntime-gpu only."""
    cuda = onnxruntime_cuda()
    if name == "cpu" or (name == "auto" and not cuda):
        return Device("cpu")
    if name == "mps":
        raise MissingExtraError("device mps needs PyTorch", extra="torch")
    if not cuda:
        raise ConfigError(
            f"{name} was asked for, but neither PyTorch nor onnxruntime-gpu is installed: "
            "pip install onnxruntime-gpu (exported models on CUDA), or 'ferkit[torch]'",
            option="device",
        )
    return Device("cuda", int(name.split(":")[1]) if ":" in name else 0)


def select_device(name: str = "auto") -> torch.device | Device:
    """Resolve ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` / ``mps`` to a torch device (``auto``: CUDA if
    present, else CPU). Asking for hardware that is not here is a ConfigError saying so. Without PyTorch,
    a :class:`Device` (CUDA only where onnxruntime-gpu is installed)."""
    name = check_device_name(name)
    if not torch_installed():
        return _select_without_torch(name)
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise ConfigError(
                "mps was asked for, but this torch has no usable MPS (Apple GPU) here", option="device"
            )
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise ConfigError(
            f"{name} was asked for, but no CUDA GPU is available here (use cpu or auto)", option="device"
        )
    if ":" in name and int(name.split(":")[1]) >= torch.cuda.device_count():
        raise ConfigError(f"{name}: only {torch.cuda.device_count()} CUDA GPU(s) here", option="device")
    return torch.device(name)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated."""
    import torch

    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def autocast_dtype(device: torch.device, enabled: bool = True) -> torch.dtype | None:
    """The mixed-precision dtype training uses on ``device``: bfloat16 on a GPU that computes it (no loss
    scaling, so no wait for the GPU at every step) or a CPU with native bf16, float16 on older GPUs, None
    (full float32) elsewhere or when ``enabled`` is False."""
    if not enabled:
        return None
    import torch

    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
    if device.type == "cpu" and cpu_has_bf16():
        return torch.bfloat16
    return None
