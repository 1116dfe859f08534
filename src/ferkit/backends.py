"""Inference backends: PyTorch, or an exported ONNX model run by ONNX Runtime or OpenVINO.

One function picks the runtime of resolved weights (:func:`resolve_runtime`: backend and precision), as
:func:`ferkit.device.select_device` picks the device; the CLI's early checks and the models call it alike.
:class:`ExportedModel` runs an exported model on arrays. OpenVINO is asked for float32 precision, so that
its results match PyTorch's (on CPUs with bfloat16 it would otherwise round to bfloat16), unless bf16 is
asked for, or ``auto`` measured it faster on this CPU (:mod:`ferkit.precision`).
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ferkit.config import DEFAULT_PRECISION, check_backend_name, check_precision_name
from ferkit.device import onnxruntime_cuda
from ferkit.errors import ConfigError, MissingExtraError, WeightsError, first_line
from ferkit.extras import missing
from ferkit.weights import WeightsRef, resolve, shipped_export, weights_sha256

if TYPE_CHECKING:
    import torch

RUNTIME_PACKAGES = {"onnx": "onnxruntime", "openvino": "openvino"}
RUNTIME_EXTRAS = {"onnx": "onnx", "torch": "torch"}  # the ferkit extra that brings each (OpenVINO: core)
# the order `auto` tries on a CPU: fastest first, as measured by benchmarks/backends.py
CPU_PREFERENCE = ("openvino", "onnx", "torch")


# what the torch backend imports for a kind of model (None: the whole torch extra, ultralytics included)
TORCH_PACKAGES: dict[str | None, tuple[str, ...] | None] = {"classifier": ("torch", "torchvision")}


def backend_installed(backend: str, kind: str | None = None) -> bool:
    """Whether the runtime of ``backend`` can be imported for a ``kind`` of model (torch: PyTorch, and
    ultralytics unless it runs a classifier)."""
    if backend == "torch":
        return not missing("torch", TORCH_PACKAGES.get(kind))
    return importlib.util.find_spec(RUNTIME_PACKAGES[backend]) is not None


@dataclass(frozen=True)
class Runtime:
    """How resolved weights run: ``backend`` (torch, onnx, openvino), ``precision`` and ``device``."""

    backend: str
    precision: str
    device: torch.device


def resolve_runtime(
    ref: WeightsRef | None, backend: str | None, precision: str, device: torch.device
) -> Runtime:
    """The runtime of ``ref`` (:func:`ferkit.weights.resolve`): :func:`resolve_backend`, then
    :func:`check_precision`; a precision that backend cannot run names the weights and the backend."""
    resolved = resolve_backend(backend, device, ref)
    try:
        return Runtime(resolved, check_precision(precision, resolved), device)
    except ConfigError as exc:
        own = ref is not None and not ref.shipped
        where = f" (for {ref.spec}, which backend {backend} runs on {resolved})" if own else ""
        raise ConfigError(f"{exc}{where}") from None


def resolve_backend(name: str | None, device: torch.device, ref: WeightsRef | None = None) -> str:
    """``auto``: ONNX Runtime with CUDA on a GPU (when its CUDA provider is installed, else PyTorch), the
    fastest installed backend on a CPU; but PyTorch for a checkpoint of your own (``ref`` a .pt or run
    folder), which an exported backend would have to export at every start (``fer export`` it once and
    pass the .onnx instead). A named backend whose runtime is missing is a ConfigError saying what to
    install; OpenVINO runs on CPUs only here. An exported ``ref`` with backend torch is a WeightsError, and
    so is an OpenVINO export with another backend."""
    norm = check_backend_name(name)
    kind = ref.kind if ref is not None else None
    exported = ref is not None and ref.exported
    if norm == "torch" and exported:
        raise WeightsError(f"{ref.path} is an exported model: use backend onnx or openvino")
    if ref is not None and ref.format == "openvino" and norm not in ("auto", "openvino"):
        raise WeightsError(f"{ref.spec} is an OpenVINO export: it runs with backend openvino")
    if ref is not None and ref.format == "openvino":
        norm = "openvino"
    if norm == "auto" and ref is not None and not exported and not ref.shipped:
        if not backend_installed("torch", kind):
            needed = ", ".join(missing("torch", TORCH_PACKAGES.get(kind)))
            what = f"{ref.spec} is a PyTorch checkpoint (or pass its .onnx from fer export): needs {needed}"
            raise MissingExtraError(what, extra="torch")
        return "torch"  # a checkpoint of the user's own
    if norm == "auto":
        if device.type == "cuda":
            return "onnx" if onnxruntime_cuda() else "torch"
        if device.type != "cpu":
            return "torch"
        for b in CPU_PREFERENCE:
            if backend_installed(b, kind):
                return b
        raise MissingExtraError("inference needs a runtime (OpenVINO, ONNX Runtime or PyTorch)", extra="onnx")
    if not backend_installed(norm, kind):
        if norm in RUNTIME_EXTRAS:
            absent = ", ".join(missing("torch", TORCH_PACKAGES.get(kind))) if norm == "torch" else ""
            what = f"backend {norm!r} needs {absent or RUNTIME_PACKAGES[norm]}"
            raise MissingExtraError(what, extra=RUNTIME_EXTRAS[norm])
        raise ConfigError(
            f"backend {norm!r} needs a package that is not installed: pip install {RUNTIME_PACKAGES[norm]}"
        )
    if norm == "openvino" and device.type != "cpu":
        raise ConfigError(
            f"backend 'openvino' runs on the CPU here; use --device cpu, or --backend onnx on {device}"
        )
    if norm == "onnx" and device.type == "cuda" and not onnxruntime_cuda():
        raise ConfigError("backend 'onnx' on CUDA needs onnxruntime-gpu (its CUDA provider is not installed)")
    if norm == "onnx" and device.type not in ("cpu", "cuda"):
        raise ConfigError(f"backend 'onnx' runs on cpu or cuda, not {device}")
    return norm


def check_precision(precision: str, backend: str) -> str:
    """``precision`` if ``backend`` supports it: fp32 everywhere, bf16 with OpenVINO only; ``auto`` stays
    ``auto`` (measured when the model loads, :mod:`ferkit.precision`) with OpenVINO on a CPU with native
    bfloat16 (:func:`native_bf16`), and is fp32 everywhere else."""
    check_precision_name(precision)
    if precision == "auto":
        return "auto" if backend == "openvino" and native_bf16() else "fp32"
    if precision == "bf16" and backend != "openvino":
        raise ConfigError(f"precision bf16 runs with the openvino backend, not {backend}")
    return precision


@functools.cache
def native_bf16() -> bool:
    """Whether OpenVINO computes bfloat16 natively on this CPU (AVX512-BF16 or AMX), as it reports."""
    try:
        import openvino as ov

        return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # no OpenVINO, or a CPU plugin that cannot say
        return False


class ExportedModel:
    """An exported model (ONNX bytes or file, or an OpenVINO IR .xml) run by ``backend`` on ``device``:
    float32 arrays in, a list of float32 arrays out. ``precision`` bf16 lets OpenVINO compute in bfloat16
    where the CPU has it (faster; results differ from float32 in the third decimal)."""

    def __init__(
        self,
        model: bytes | Path,
        backend: str,
        device: torch.device,
        precision: str = DEFAULT_PRECISION,
        probe_shape: tuple[int, ...] | None = None,
    ):
        """``probe_shape``: a typical input, on which ``precision`` auto times both precisions (without
        one, auto is fp32)."""
        self.backend, self.precision = backend, check_precision(precision, backend)
        self._lock = threading.Lock()
        try:
            if backend == "onnx":
                import onnxruntime as ort

                providers = ["CUDAExecutionProvider"] if device.type == "cuda" else []
                src = model if isinstance(model, bytes) else str(model)
                self._session = ort.InferenceSession(src, providers=[*providers, "CPUExecutionProvider"])
                self._input = self._session.get_inputs()[0].name
            elif backend == "openvino":
                import openvino as ov

                core = ov.Core()
                read = core.read_model(model if isinstance(model, bytes) else str(model))
                if self.precision == "auto":
                    from ferkit.precision import measured_precision

                    measured = measured_precision(core, read, model, probe_shape) if probe_shape else "fp32"
                    self.precision = measured
                hint = "bf16" if self.precision == "bf16" else "f32"
                config = {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY"}
                self._request = _compiled(core, read, config).create_infer_request()
            else:
                raise ConfigError(f"ExportedModel runs onnx or openvino, not {backend!r}")
        except (ConfigError, WeightsError):
            raise
        except Exception as exc:  # the runtimes raise their own types for a bad file
            where = "the exported model" if isinstance(model, bytes) else str(model)
            raise WeightsError(f"{backend} cannot load {where}: {first_line(exc, 300)}") from None

    def properties(self) -> dict[str, Any]:
        """How the runtime runs this model, as it reports it: OpenVINO's performance hint, streams, threads
        and inference precision; ONNX Runtime's providers (what benchmarks record beside their figures)."""
        if self.backend == "onnx":
            return {"providers": self._session.get_providers()}
        compiled = self._request.get_compiled_model()
        keys = ("PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT")
        return {k.lower(): str(compiled.get_property(k)) for k in keys}

    def probe(self, shape: tuple[int, ...], source: str | Path, expects: str) -> list[np.ndarray]:
        """The outputs for zeros of ``shape``; a network that cannot take that input is a WeightsError
        naming ``source`` and what its metadata ``expects`` (checked at load, not at the first image)."""
        try:
            return self(np.zeros(shape, np.float32))
        except Exception as exc:  # the runtimes' own errors for a wrong input shape
            first = first_line(exc, 160)
            raise WeightsError(
                f"{source}: its metadata does not match the network, which does not take {expects} "
                f"({first}): re-export it with fer export"
            ) from None

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        with self._lock:
            if self.backend == "onnx":
                return self._session.run(None, {self._input: x})
            self._request.infer({0: x})
            return [np.array(t.data) for t in self._request.output_tensors]


def _compiled(core: Any, network: Any, config: dict) -> Any:
    """``network`` compiled for the CPU, through OpenVINO's model cache in ferkit's cache folder
    (:func:`ferkit.precision.cache_dir`, ``openvino/``): a later start loads the compiled model instead of
    compiling it again (0.48 -> 0.27 s for both models on a 2-core CPU). Where that folder cannot be
    written, the model is compiled without it."""
    from ferkit.precision import cache_dir

    folder = cache_dir() / "openvino"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return core.compile_model(network, "CPU", {**config, "CACHE_DIR": str(folder)})
    except Exception:  # a read-only home, or a cache OpenVINO cannot use: compile as usual
        return core.compile_model(network, "CPU", config)


def load_exported(
    ref: WeightsRef, backend: str, make_onnx: Callable[[Path], tuple[bytes, dict[str, Any]]]
) -> tuple[bytes | Path, dict[str, Any], Path]:
    """(model to run, its ferkit metadata, the file it came from) of resolved weights for an exported
    backend: an export as it is (an OpenVINO one with OpenVINO only); the shipped default from its shipped
    ONNX export, unless that no longer matches the checkpoint; any other checkpoint exported in memory by
    its model package's ``make_onnx`` (path -> ONNX bytes with metadata, and the metadata)."""
    if ref.exported:
        if ref.format == "openvino" and backend != "openvino":
            raise WeightsError(f"{ref.spec} is an OpenVINO export: it runs with backend openvino")
        return ref.model_file, ref.meta, ref.path
    if ref.shipped:
        onnx_file = shipped_export(ref.kind)
        if onnx_file.is_file():
            shipped = resolve(ref.kind, onnx_file)
            if shipped.meta.get("source_sha256") == weights_sha256(ref.path):
                return shipped.model_file, shipped.meta, onnx_file
    return (*make_onnx(ref.path), ref.path)
