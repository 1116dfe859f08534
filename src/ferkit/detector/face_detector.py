"""``FaceDetector``: find faces in one image or a batch; boxes in original image pixels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import overload

import numpy as np

from ferkit.backends import load_exported, resolve_runtime
from ferkit.boxes import contained_in_higher, detection_arrays
from ferkit.config import DEFAULT_BACKEND, DEFAULT_BATCH_SIZE, DEFAULT_PRECISION
from ferkit.detector.defaults import (
    DEFAULT_CONF,
    DEFAULT_CONTAINED,
    DEFAULT_IMGSZ,
    DEFAULT_MAX_DET,
    DEFAULT_MIN_SIDE,
    DEFAULT_NMS_IOU,
    DEFAULT_QUICK_SIZE,
    QUICK_CONF,
    QUICK_FLOOR,
    QUICK_MAX_SIDE,
    QUICK_MIN_SHARE,
    quick_box_bias,
)
from ferkit.detector.exported import ExportedYolo, detector_onnx
from ferkit.detector.letterbox import LetterboxedDetector
from ferkit.detector.sizing import InputSize, check_quick_size
from ferkit.detector.tiling import SMALL_PX, crop_tiles, merge_tiles, tiles
from ferkit.device import as_device
from ferkit.errors import ConfigError
from ferkit.imaging.images import read_image, to_bgr8
from ferkit.types import Box, Detection
from ferkit.weights import resolve

ImageLike = np.ndarray | str | Path


class FaceDetector:
    """A YOLO face detector. Images are BGR uint8 arrays (OpenCV order) or file paths.

    ``imgsz``: the input size, fixed (pixels) or ``"auto"``/``"auto:LO-HI"``, which sizes each photo from
    its own long side (:class:`ferkit.detector.sizing.InputSize`). ``min_side``: with a fixed size, how far
    a smaller photo is enlarged (0: not at all); ``auto`` enlarges small photos to its LO instead.
    ``tile``: photos larger than the input size (``auto``: its ceiling) are also run in overlapping tiles at
    full resolution (:mod:`ferkit.detector.tiling`), for faces tiny against the photo. ``quick``: photos of
    at most ``QUICK_MAX_SIDE`` px first run at this size, and keep that answer when it is one clear face
    (:mod:`ferkit.detector.defaults`); 0 runs every photo at the input size only.
    """

    def __init__(
        self,
        weights: str | Path | None = "default",
        conf: float = DEFAULT_CONF,
        iou: float = DEFAULT_NMS_IOU,
        imgsz: int | str | InputSize = DEFAULT_IMGSZ,
        device: str | object = "auto",
        max_det: int = DEFAULT_MAX_DET,
        batch_size: int = DEFAULT_BATCH_SIZE,
        contained: float = DEFAULT_CONTAINED,
        backend: str = DEFAULT_BACKEND,
        precision: str = DEFAULT_PRECISION,
        min_side: int = DEFAULT_MIN_SIDE,
        tile: bool = False,
        quick: int = DEFAULT_QUICK_SIZE,
    ):
        if not 0.0 <= conf <= 1.0 or not 0.0 < iou <= 1.0:
            raise ConfigError(f"conf must be in [0, 1] and iou in (0, 1], got conf={conf}, iou={iou}")
        if max_det < 1 or batch_size < 1:
            raise ConfigError("max_det and batch_size must be >= 1")
        size = InputSize.parse(imgsz)
        self.device = as_device(device)
        ref = resolve("detector", weights)
        runtime = resolve_runtime(ref, backend, precision, self.device)
        self.backend, self.precision = runtime.backend, runtime.precision
        self.conf, self.iou, self.max_det, self.batch_size = conf, iou, max_det, batch_size
        self.input_size = size
        self.imgsz = size.spec  # as settings record it: a number, or the auto rule
        self.contained = contained  # > 1 keeps boxes inside others
        self.min_side = min_side  # photos smaller than imgsz are enlarged only up to this long side
        self.tile = bool(tile)
        check_quick_size(quick)
        self.quick = 0 if tile else int(quick)  # tiles look for tiny faces: every photo gets its full pass
        if self.backend == "torch":
            from ferkit.detector.yolo import YoloModel

            self.weights = ref.path
            self._model: LetterboxedDetector = YoloModel(self.weights, self.device)
        else:
            trace = size.trace_size()
            model, meta, self.weights = load_exported(ref, self.backend, lambda p: detector_onnx(p, trace))
            self._model = ExportedYolo(model, meta, self.backend, self.device, self.precision)
            self.precision = self._model.precision  # auto: as measured on this CPU

    @overload
    def detect(self, images: ImageLike, conf: float | None = None) -> list[Detection]: ...
    @overload
    def detect(self, images: Sequence[ImageLike], conf: float | None = None) -> list[list[Detection]]: ...

    def detect(self, images, conf: float | None = None):
        """Faces of one image (a list of Detections) or of each image of a sequence (a list of lists);
        ``conf`` replaces the detector's threshold for this call only."""
        single = isinstance(images, (str, Path)) or (isinstance(images, np.ndarray) and images.ndim in (2, 3))
        batch = [images] if single else list(images)
        arrays = [read_image(im) if isinstance(im, (str, Path)) else to_bgr8(im) for im in batch]
        conf = self.conf if conf is None else conf
        if self.quick:
            found = self._quick_then_full(arrays, conf)
        else:
            found = self._predict(arrays, conf, self.input_size, self.min_side)
        if self.tile:
            found = [self._tiled(a, dets, conf) for a, dets in zip(arrays, found, strict=True)]
        if self.contained <= 1.0:
            found = [_drop_contained(dets, self.contained) for dets in found]
        return found[0] if single else found

    def _predict(self, arrays, conf: float, size: InputSize, min_side: int) -> list[list[Detection]]:
        found: list[list[Detection]] = []
        for i in range(0, len(arrays), self.batch_size):
            found += self._model.predict(
                arrays[i : i + self.batch_size],
                conf,
                self.iou,
                size,
                self.max_det,
                half=self.device.type == "cuda",
                min_side=min_side,
            )
        return found

    def _quick_then_full(self, arrays: list[np.ndarray], conf: float) -> list[list[Detection]]:
        """Small photos' answers from the quick pass where it settles them, every other photo's from the full
        pass."""
        small = [i for i, a in enumerate(arrays) if max(a.shape[:2]) <= QUICK_MAX_SIDE]
        floor = min(conf, QUICK_FLOOR)
        quick = self._predict([arrays[i] for i in small], floor, InputSize(fixed=self.quick), self.quick)
        found: dict[int, list[Detection]] = {}
        for i, dets in zip(small, quick, strict=True):
            if _one_clear_face(dets, arrays[i], max(conf, QUICK_CONF)):
                found[i] = [_unbiased(dets[0], arrays[i], quick_box_bias(self.quick))]
        rest = [i for i in range(len(arrays)) if i not in found]
        if rest:
            full = self._predict([arrays[i] for i in rest], conf, self.input_size, self.min_side)
            found.update(zip(rest, full, strict=True))
        return [found[i] for i in range(len(arrays))]

    def _tiled(self, image: np.ndarray, whole: list[Detection], conf: float) -> list[Detection]:
        """``whole`` (the photo's own pass) merged with its tiles' detections, if it is larger than a tile."""
        side = self.input_size.fixed or self.input_size.hi
        h, w = image.shape[:2]
        if max(h, w) <= side:
            return whole
        boxes = tiles(w, h, side)
        per_tile = self._predict(crop_tiles(image, boxes), conf, InputSize(fixed=side), 0)
        small = SMALL_PX / self.input_size.ratio(h, w, self.min_side)  # in photo pixels
        pairs = list(zip(boxes, per_tile, strict=True))
        return merge_tiles(whole, pairs, w, h, self.iou, self.max_det, max_tile_side=small)

    def runtime_properties(self) -> dict:
        """How the backend runs the network: OpenVINO's hint, streams, threads and precision (empty for
        PyTorch)."""
        props = getattr(self._model, "properties", None)
        return props() if props is not None else {}

    @property
    def recorded_split(self) -> dict | None:
        """How the WIDER photos of its training data were split (val_fraction, val_events), if recorded."""
        return self._model.ferkit_meta.get("split")


def _one_clear_face(dets: list[Detection], image: np.ndarray, conf: float) -> bool:
    """Whether a quick pass settled a photo: one candidate only, scored at least ``conf``, with a shorter
    side of at least ``QUICK_MIN_SHARE`` of the photo's."""
    if len(dets) != 1:
        return False
    box = dets[0].box
    return dets[0].score >= conf and min(box.width, box.height) >= QUICK_MIN_SHARE * min(image.shape[:2])


def _unbiased(det: Detection, image: np.ndarray, bias: tuple[float, float]) -> Detection:
    """A quick-pass box shrunk about its centre by ``bias`` (:func:`quick_box_bias`), within the image."""
    b, (sx, sy) = det.box, bias
    cx, cy, hw, hh = (b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2, b.width / sx / 2, b.height / sy / 2
    h, w = image.shape[:2]
    box = Box(max(cx - hw, 0.0), max(cy - hh, 0.0), min(cx + hw, float(w)), min(cy + hh, float(h)))
    return Detection(box, det.score)


def _drop_contained(dets: list[Detection], share: float) -> list[Detection]:
    keep = contained_in_higher(*detection_arrays(dets), share)
    return [d for d, k in zip(dets, keep, strict=True) if k]
