"""A YOLO face detector exported by ``fer export`` (ONNX, or OpenVINO IR), run without ultralytics, with
the same input and output handling as the PyTorch backend (:mod:`ferkit.detector.letterbox`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ferkit.backends import ExportedModel
from ferkit.detector.letterbox import LetterboxedDetector
from ferkit.errors import WeightsError


class ExportedYolo(LetterboxedDetector):
    """An exported detector with the ``predict`` of :class:`ferkit.detector.yolo.YoloModel`."""

    def __init__(
        self,
        model: bytes | Path,
        meta: dict[str, Any],
        backend: str,
        device: torch.device,
        precision: str = "fp32",
    ):
        if meta.get("kind") != "detector":
            raise WeightsError(f"the exported model is a {meta.get('kind', 'unknown')} model, not a detector")
        self.names = {int(k): v for k, v in (meta.get("names") or {}).items()}
        self.stride = int(meta.get("stride", 32))
        self.ferkit_meta = {"split": meta["split"]} if meta.get("split") else {}
        self._run = ExportedModel(model, backend, device, precision)

    def forward(self, half: bool):
        return lambda batch: self._run(batch)[0]
