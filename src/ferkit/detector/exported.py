"""A YOLO face detector exported by ``fer export`` (ONNX, or OpenVINO IR), run without ultralytics.

Pre- and post-processing mirror ultralytics' predictor, so results match the PyTorch backend: letterbox to
``imgsz`` (a minimal stride-aligned rectangle when every image of a batch has the same shape, a square
otherwise; grey 114 padding, centred), RGB in [0, 1], then the confidence filter, NMS and rescaling of
boxes to original pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torchvision

from ferkit.backends import ExportedModel
from ferkit.errors import WeightsError
from ferkit.types import Box, Detection

PAD_VALUE = 114


def letterbox(image: np.ndarray, imgsz: int, stride: int, rect: bool) -> tuple[np.ndarray, tuple]:
    """The image resized to fit ``imgsz`` and padded (to a stride multiple when ``rect``, else to a square);
    with (gain_x, gain_y, pad_x, pad_y) to map boxes back."""
    h, w = image.shape[:2]
    r = min(imgsz / h, imgsz / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = imgsz - new_w, imgsz - new_h
    if rect:
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    if (w, h) != (new_w, new_h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom, left, right = round(dh - 0.1), round(dh + 0.1), round(dw - 0.1), round(dw + 0.1)
    image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return image, (new_w / w, new_h / h, left, top)


def decode(
    pred: np.ndarray, conf: float, iou: float, max_det: int, scale: tuple, size: tuple[int, int]
) -> list[Detection]:
    """Detections of one image from the raw (4 + classes, anchors) output: filter, NMS, rescale, clip."""
    p = torch.from_numpy(pred).T  # (anchors, 4 + nc)
    scores, _ = p[:, 4:].max(dim=1)
    keep = scores > conf
    p, scores = p[keep], scores[keep]
    if not len(p):
        return []
    xy, wh = p[:, :2], p[:, 2:4] / 2
    boxes = torch.cat([xy - wh, xy + wh], dim=1)
    order = scores.argsort(descending=True)[:30000]
    boxes, scores = boxes[order], scores[order]
    kept = torchvision.ops.nms(boxes, scores, iou)[:max_det]
    boxes, scores = boxes[kept].numpy().astype(np.float64), scores[kept].numpy()
    gx, gy, px, py = scale
    w, h = size
    boxes[:, [0, 2]] = ((boxes[:, [0, 2]] - px) / gx).clip(0, w)
    boxes[:, [1, 3]] = ((boxes[:, [1, 3]] - py) / gy).clip(0, h)
    return [Detection(Box(*map(float, b)), float(s)) for b, s in zip(boxes, scores, strict=True)]


class ExportedYolo:
    """An exported detector with the ``predict`` of :class:`ferkit.detector.yolo.YoloModel`."""

    def __init__(self, model: bytes | Path, meta: dict[str, Any], backend: str, device: torch.device):
        if meta.get("kind") != "detector":
            raise WeightsError(f"the exported model is a {meta.get('kind', 'unknown')} model, not a detector")
        self.names = {int(k): v for k, v in (meta.get("names") or {}).items()}
        self.stride = int(meta.get("stride", 32))
        self.ferkit_meta = {"split": meta["split"]} if meta.get("split") else {}
        self._run = ExportedModel(model, backend, device)

    def predict(
        self,
        images: Sequence[np.ndarray],
        conf: float,
        iou: float,
        imgsz: int,
        max_det: int,
        half: bool = False,
    ) -> list[list[Detection]]:
        """Detect faces in BGR uint8 images; one list of Detections per image, boxes in original pixels."""
        if not images:
            return []
        imgsz = -(-imgsz // self.stride) * self.stride
        rect = len({im.shape for im in images}) == 1
        boxed = [letterbox(im, imgsz, self.stride, rect) for im in images]
        batch = np.stack([b for b, _ in boxed])[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        preds = self._run(batch)[0]
        return [
            decode(p, conf, iou, max_det, scale, (im.shape[1], im.shape[0]))
            for p, (_, scale), im in zip(preds, boxed, images, strict=True)
        ]
