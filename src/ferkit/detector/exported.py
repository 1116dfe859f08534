"""A YOLO face detector exported by ``fer export`` (ONNX, or OpenVINO IR), run without ultralytics, with
the same input and output handling as the PyTorch backend (:mod:`ferkit.detector.letterbox`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ferkit.backends import ExportedModel
from ferkit.detector.letterbox import LetterboxedDetector
from ferkit.errors import WeightsError
from ferkit.weights import weights_sha256, with_metadata


class ExportedYolo(LetterboxedDetector):
    """An exported detector with the ``predict`` of :class:`ferkit.detector.yolo.YoloModel`."""

    def __init__(
        self,
        model: bytes | Path,
        meta: dict[str, Any],
        backend: str,
        device,
        precision: str = "fp32",
    ):
        if meta.get("kind") != "detector":
            raise WeightsError(f"the exported model is a {meta.get('kind', 'unknown')} model, not a detector")
        source = "the exported detector" if isinstance(model, bytes) else str(model)
        try:
            self.names = {int(k): str(v) for k, v in (meta.get("names") or {}).items()}
            self.stride = int(meta.get("stride", 32))
            size = int(meta.get("imgsz") or 640)
        except (TypeError, ValueError, AttributeError) as exc:
            raise WeightsError(f"{source}: its ferkit metadata is malformed ({exc}): re-export it") from None
        if not self.names:
            raise WeightsError(f"{source}: its ferkit metadata names no classes: re-export it (fer export)")
        self.ferkit_meta = {"split": meta["split"]} if meta.get("split") else {}
        self._run = ExportedModel(model, backend, device, precision, probe_shape=(1, 3, 512, 512))
        self.precision = self._run.precision  # auto: as measured on this CPU
        # a small input checks channels and outputs as well as the traced size would, at 1/64 of the time
        out = self._run.probe((1, 3, 64, 64), source, f"{size} px colour photos")[0]
        if out.ndim != 3 or out.shape[1] != 4 + len(self.names):
            raise WeightsError(
                f"{source}: its metadata names {len(self.names)} class(es) but the network's output has "
                f"shape {tuple(out.shape)} (4 box values + one score per class expected): re-export it"
            )

    def forward(self, half: bool):
        return lambda batch: self._run(batch)[0]

    def properties(self) -> dict:
        """How the runtime runs the network (:meth:`ferkit.backends.ExportedModel.properties`)."""
        return self._run.properties()


def detector_onnx(weights: Path, imgsz: int) -> tuple[bytes, dict[str, Any]]:
    """ONNX bytes (dynamic batch and size, the ferkit metadata inside) of a detector checkpoint traced at
    ``imgsz``, and that metadata."""
    from ferkit.detector.yolo import export_onnx

    data, info = export_onnx(weights, imgsz)
    meta = {"kind": "detector", **info, "imgsz": imgsz, "source_sha256": weights_sha256(weights)}
    return with_metadata(data, meta), meta
