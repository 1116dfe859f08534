"""A YOLO face detector exported by ``fer export`` (ONNX, or OpenVINO IR), run without ultralytics, with
the same input and output handling as the PyTorch backend (:mod:`ferkit.detector.letterbox`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ferkit.backends import ExportedModel
from ferkit.detector.letterbox import detect_batch
from ferkit.errors import WeightsError
from ferkit.types import Detection


class ExportedYolo:
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

    def predict(
        self,
        images: Sequence[np.ndarray],
        conf: float,
        iou: float,
        imgsz: int,
        max_det: int,
        half: bool = False,
        min_side: int = 1 << 30,
    ) -> list[list[Detection]]:
        """Detect faces in BGR uint8 images; one list of Detections per image, boxes in original pixels."""
        if not images:
            return []
        run = lambda batch: self._run(batch)[0]  # noqa: E731
        return detect_batch(images, run, imgsz, self.stride, min_side, conf, iou, max_det)
