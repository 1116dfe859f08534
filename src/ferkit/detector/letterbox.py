"""Detector input and output, shared by every backend: letterboxing, decoding raw YOLO output.

Each image is letterboxed to the smallest stride-aligned rectangle that holds it resized for the detector
(grey 114 padding, centred), as ultralytics does for one image: fitted into a fixed ``imgsz`` (photos
smaller than it enlarged only up to ``min_side``), or sized from the photo's own long side with ``auto``
(:mod:`ferkit.detector.sizing`). Images of a batch that get the same rectangle run together
(:func:`detect_batch`), so an image's faces never depend on the batch it came in. Decoding mirrors
ultralytics' predictor: confidence filter, NMS, boxes mapped back to original pixels and clipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from ferkit.boxes import nms
from ferkit.detector.sizing import InputSize
from ferkit.types import Box, Detection

PAD_VALUE = 114
MAX_NMS = 30000


def fitted_size(h: int, w: int, imgsz: int | str | InputSize, min_side: int) -> tuple[int, int, float]:
    """(new_h, new_w, ratio) of an image resized for the detector (see :class:`InputSize`): fitted into a
    fixed ``imgsz``, a smaller image enlarged only until its long side reaches ``min_side`` (0: kept at its
    own size; ``imgsz`` or more: always enlarged to fit); or, with ``auto``, sized from its own long side."""
    r = InputSize.parse(imgsz).ratio(h, w, min_side)
    return max(round(h * r), 1), max(round(w * r), 1), r


def letterbox_batch(
    images: Sequence[np.ndarray], imgsz: int | InputSize, stride: int, min_side: int = 1 << 30
) -> tuple[np.ndarray, list[tuple[float, float, int, int]]]:
    """A float32 (N, 3, H, W) RGB batch in [0, 1] and, per image, (gain_x, gain_y, pad_x, pad_y)."""
    sizes = [fitted_size(*im.shape[:2], imgsz, min_side) for im in images]
    th = -(-max(s[0] for s in sizes) // stride) * stride
    tw = -(-max(s[1] for s in sizes) // stride) * stride
    batch = np.empty((len(images), th, tw, 3), np.uint8)
    scales = []
    for i, (im, (nh, nw, _)) in enumerate(zip(images, sizes, strict=True)):
        h, w = im.shape[:2]
        if (h, w) != (nh, nw):
            im = cv2.resize(im, (nw, nh), interpolation=cv2.INTER_LINEAR)
        dh, dw = (th - nh) / 2, (tw - nw) / 2
        top, left = round(dh - 0.1), round(dw - 0.1)
        batch[i] = PAD_VALUE
        batch[i, top : top + nh, left : left + nw] = im
        scales.append((nw / w, nh / h, left, top))
    x = batch[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32)
    x *= 1.0 / 255.0
    return x, scales


def decode(
    pred: np.ndarray,
    conf: float,
    iou: float,
    max_det: int,
    scale: tuple[float, float, int, int],
    size: tuple[int, int],
) -> list[Detection]:
    """Detections of one image from its raw (4 + classes, anchors) output; ``size`` is (width, height)."""
    p = np.asarray(pred, dtype=np.float32).T
    scores = p[:, 4:].max(axis=1)
    keep = scores > conf
    p, scores = p[keep], scores[keep]
    if not len(p):
        return []
    xy, half_wh = p[:, :2], p[:, 2:4] / 2
    boxes = np.concatenate([xy - half_wh, xy + half_wh], axis=1)
    order = np.argsort(-scores, kind="stable")[:MAX_NMS]
    boxes, scores = boxes[order], scores[order]
    kept = nms(boxes, scores, iou)[:max_det]
    b, s = boxes[kept].astype(np.float64), scores[kept]
    gx, gy, px, py = scale
    b[:, [0, 2]] = ((b[:, [0, 2]] - px) / gx).clip(0, size[0])
    b[:, [1, 3]] = ((b[:, [1, 3]] - py) / gy).clip(0, size[1])
    return [Detection(Box(*map(float, box)), float(score)) for box, score in zip(b, s, strict=True)]


def decode_batch(preds, images: Sequence[np.ndarray], scales, conf: float, iou: float, max_det: int):
    """:func:`decode` for every image of a batch."""
    return [
        decode(p, conf, iou, max_det, sc, (im.shape[1], im.shape[0]))
        for p, sc, im in zip(preds, scales, images, strict=True)
    ]


def detect_batch(
    images: Sequence[np.ndarray],
    run,
    imgsz: int | InputSize,
    stride: int,
    min_side: int,
    conf: float,
    iou: float,
    max_det: int,
) -> list[list[Detection]]:
    """Detections per image: images grouped by their letterboxed shape, ``run`` (a float32 NCHW batch ->
    raw (N, 4 + classes, anchors) output) called once per group, results in input order."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, im in enumerate(images):
        h, w, _ = fitted_size(*im.shape[:2], imgsz, min_side)
        groups.setdefault((-(-h // stride), -(-w // stride)), []).append(i)
    out: list[list[Detection]] = [[] for _ in images]
    for idx in (chunk for group in groups.values() for chunk in _pow2_chunks(group)):
        part = [images[i] for i in idx]
        batch, scales = letterbox_batch(part, imgsz, stride, min_side)
        for i, dets in zip(idx, decode_batch(run(batch), part, scales, conf, iou, max_det), strict=True):
            out[i] = dets
    return out


def _pow2_chunks(items: list[int]) -> list[list[int]]:
    """``items`` in chunks of powers of two, largest first (7: 4 + 2 + 1). A runtime with dynamic shapes
    prepares itself once per input shape it meets (OpenVINO: 30-300 ms on a 2-core CPU); batches of 1, 2, 4
    or 8 images meet four batch sizes per image size instead of eight."""
    chunks, i = [], 0
    while i < len(items):
        n = 1 << ((len(items) - i).bit_length() - 1)
        chunks.append(items[i : i + n])
        i += n
    return chunks


class LetterboxedDetector:
    """What every detector backend shares: ``predict`` letterboxes, runs ``forward(half)`` per group of
    same-shaped images, and decodes. Subclasses set ``stride`` and implement :meth:`forward`."""

    stride: int = 32

    def forward(self, half: bool) -> Callable[[np.ndarray], np.ndarray]:
        """The network: a float32 NCHW batch in, raw (N, 4 + classes, anchors) output out."""
        raise NotImplementedError

    def predict(
        self,
        images: Sequence[np.ndarray],
        conf: float,
        iou: float,
        imgsz: int | InputSize,
        max_det: int,
        half: bool = False,
        min_side: int = 1 << 30,
    ) -> list[list[Detection]]:
        """Detect faces in BGR uint8 images; one list of Detections per image, boxes in original pixels."""
        if not images:
            return []
        return detect_batch(images, self.forward(half), imgsz, self.stride, min_side, conf, iou, max_det)
