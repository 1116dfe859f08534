"""``Pipeline``: detector + classifier composed into typed per-image results."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from ferkit.classifier.ensemble import EnsembleClassifier, load_classifier
from ferkit.classifier.predictor import EmotionClassifier
from ferkit.datasets.crop import crop_face
from ferkit.datasets.images import read_image, to_bgr8
from ferkit.detector.defaults import DEFAULT_CONF, DEFAULT_IMGSZ, DEFAULT_NMS_IOU
from ferkit.detector.face_detector import FaceDetector
from ferkit.device import select_device
from ferkit.errors import ConfigError, DataError
from ferkit.types import Box, Detection, Face, ImageResult

ImageInput = str | Path | np.ndarray


class StageTimer:
    """Seconds spent per stage (decode, detect, crop, classify, write), accumulated over a run."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, stage: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - t0


def _check_options(margin: float | None, max_faces: int | None) -> None:
    if max_faces is not None and max_faces < 1:
        raise ConfigError(f"max_faces must be >= 1, got {max_faces}")
    if margin is not None and not -0.4 <= margin <= 2.0:
        raise ConfigError(f"margin must be between -0.4 and 2.0 (a fraction of the face box), got {margin}")


class Pipeline:
    """Find faces, crop them, classify each crop. Use :meth:`from_pretrained` for the shipped weights."""

    def __init__(
        self,
        classifier: EmotionClassifier | EnsembleClassifier,
        detector: FaceDetector | None,
        margin: float | None = None,
        max_faces: int | None = None,
        tta: bool = False,
    ):
        """``margin`` None frames faces as the classifier's checkpoint says (its crop recipe)."""
        _check_options(margin, max_faces)
        self.classifier, self.detector = classifier, detector
        recipe = classifier.crop
        self.margin = recipe.margin if margin is None else margin
        self.square = recipe.square
        self.max_faces, self.tta = max_faces, tta
        self.timer = StageTimer()

    @classmethod
    def from_pretrained(
        cls,
        detector_weights: str | Path | None = "default",
        classifier_weights: str | Path | Sequence[str | Path] | None = "default",
        device: str | torch.device = "auto",
        conf: float = DEFAULT_CONF,
        iou: float = DEFAULT_NMS_IOU,
        imgsz: int = DEFAULT_IMGSZ,
        margin: float | None = None,
        max_faces: int | None = None,
        detect: bool = True,
        tta: bool = False,
        batch_size: int = 8,
    ) -> Pipeline:
        """Load the shipped (or given) weights. ``detect=False`` treats every image as one face crop.

        ``classifier_weights`` may list several checkpoints: their probabilities are averaged (an ensemble).
        ``margin`` None uses the classifier's stored crop recipe.
        """
        _check_options(margin, max_faces)  # before the (slow) loading
        dev = device if isinstance(device, torch.device) else select_device(device)
        classifier = load_classifier(classifier_weights, dev)
        detector = (
            FaceDetector(detector_weights, conf=conf, iou=iou, imgsz=imgsz, device=dev, batch_size=batch_size)
            if detect
            else None
        )
        return cls(classifier, detector, margin=margin, max_faces=max_faces, tta=tta)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.classifier.class_names

    def run(self, image: ImageInput, color: str = "bgr") -> ImageResult:
        """Faces of one image: a file path, or an array in ``color`` order ('bgr' or 'rgb').

        An unreadable file gives an ImageResult with ``error`` set (no exception), so batches never stop.
        """
        return self.run_batch([image], color=color)[0]

    def run_batch(self, images: Sequence[ImageInput], color: str = "bgr") -> list[ImageResult]:
        """Results for several images: detection batched, all crops classified in one call."""
        sources, arrays, errors = [], [], {}
        with self.timer("decode"):
            for i, im in enumerate(images):
                sources.append(str(im) if isinstance(im, (str, Path)) else f"<array {i}>")
                try:
                    arrays.append(read_image(im) if isinstance(im, (str, Path)) else to_bgr8(im, color))
                except DataError as exc:
                    errors[i] = str(exc)
                    arrays.append(None)
        return self.run_arrays(sources, arrays, errors)

    def run_arrays(
        self,
        sources: Sequence[str],
        arrays: Sequence[np.ndarray | None],
        errors: dict[int, str] | None = None,
    ) -> list[ImageResult]:
        """Results for decoded BGR uint8 images; ``None`` entries are failures described in ``errors``."""
        errors = dict(errors or {})
        ok = [i for i, a in enumerate(arrays) if a is not None]
        with self.timer("detect"):
            if self.detector is None:
                found = [
                    [Detection(Box(0.0, 0.0, float(arrays[i].shape[1]), float(arrays[i].shape[0])), 1.0)]
                    for i in ok
                ]
            else:
                found = self.detector.detect([arrays[i] for i in ok]) if ok else []
        # keep the most confident faces, best first
        found = [sorted(dets, key=lambda d: d.score, reverse=True)[: self.max_faces] for dets in found]
        margin = self.margin if self.detector is not None else 0.0
        with self.timer("crop"):
            crops = [
                crop_face(arrays[i], d.box, margin, self.square)
                for i, dets in zip(ok, found, strict=True)
                for d in dets
            ]
        with self.timer("classify"):
            preds = iter(self.classifier.predict(crops, tta=self.tta) if crops else [])
        faces = {
            i: [Face(d.box, d.score, *next(preds)) for d in dets] for i, dets in zip(ok, found, strict=True)
        }
        results = []
        for i, src in enumerate(sources):
            a = arrays[i]
            if a is None:
                results.append(ImageResult(src, 0, 0, [], errors.get(i, "unreadable image")))
            else:
                results.append(ImageResult(src, int(a.shape[1]), int(a.shape[0]), faces[i]))
        return results
