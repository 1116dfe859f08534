"""``Pipeline``: detector + classifier composed into typed per-image results."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ferkit.classifier.ensemble import load_classifier
from ferkit.classifier.protocol import Classifier
from ferkit.config import (
    DEFAULT_BATCH_SIZE,
    PIPELINE,
    PipelineConfig,
    RunOptions,
    check_max_faces,
    check_min_face,
    check_readable_size,
)
from ferkit.detector.defaults import DEFAULT_DECODE_SIDE
from ferkit.detector.face_detector import FaceDetector
from ferkit.device import inference_device
from ferkit.errors import ConfigError, DataError, InputError
from ferkit.imaging.crop import crop_face
from ferkit.imaging.images import check_color, in_memory_to_bgr, read_image, read_image_reduced
from ferkit.imaging.recipe import check_margin
from ferkit.pipeline.selection import check_emotions, select_detections, select_faces, shorter_side
from ferkit.pipeline.timing import StageTimer
from ferkit.runs import absolute_source
from ferkit.types import UNREADABLE_SMALL, Box, Detection, Face, FrameResult, ImageResult
from ferkit.weights import file_id

if TYPE_CHECKING:
    from ferkit.video.config import VideoOptions

ImageInput = str | Path | np.ndarray | Any  # Any: a PIL.Image (PIL is not imported for the hint)


def _check_options(margin: float | None, max_faces: int | None) -> None:
    check_max_faces(max_faces)
    if margin is not None:
        check_margin(margin)


class Pipeline:
    """Find faces, crop them, classify each crop. Use :meth:`from_pretrained` for the shipped weights."""

    def __init__(
        self,
        classifier: Classifier,
        detector: FaceDetector | None,
        margin: float | None = None,
        max_faces: int | None = None,
        tta: bool = False,
        decode_side: int | None = DEFAULT_DECODE_SIDE,
        min_face: int = 0,
        emotions: Sequence[str] | str = (),
        readable_size: int = PIPELINE.readable_size,
    ):
        """``margin`` None frames faces as the classifier's checkpoint says (its crop recipe).
        ``decode_side``: big JPEG files are decoded at reduced scale, keeping at least this long side (None:
        always whole); boxes are reported in the full image's pixels either way. ``min_face``: faces whose
        box is narrower or lower than this many pixels are left out; ``emotions`` (names of the classifier's
        classes) keeps only faces classified as one of them. ``readable_size``: faces whose box is narrower
        or lower than this many pixels are reported without an emotion (``Face.unreadable`` "small"); 0
        classifies every face."""
        _check_options(margin, max_faces)
        check_min_face(min_face)
        check_readable_size(readable_size)
        self.min_face, self.readable_size = min_face, readable_size
        self.emotions = check_emotions(emotions, classifier.class_names)
        self.classifier, self.detector = classifier, detector
        self.decode_side = decode_side
        # how faces are framed: the classifier's own recipe, with the margin given here if any
        self.crop = classifier.crop if margin is None else replace(classifier.crop, margin=margin)
        self.max_faces, self.tta = max_faces, tta
        self.config: PipelineConfig | None = None  # set by from_config
        self.timer = StageTimer()

    @classmethod
    def from_pretrained(
        cls,
        detector_weights: str | Path | None = PIPELINE.detector_weights,
        classifier_weights: str | Path | Sequence[str | Path] | None = PIPELINE.classifier_weights,
        device: str | Any = PIPELINE.device,
        **options,
    ) -> Pipeline:
        """Load the shipped (or given) weights; ``options`` are the other fields of
        :class:`ferkit.config.PipelineConfig` (conf, iou, imgsz, margin, max_faces, detect, tta,
        batch_size, backend, precision), with its defaults.

        ``classifier_weights`` may list several checkpoints: their probabilities are averaged (an ensemble).
        ``backend``: torch, onnx, openvino, or auto (the fastest installed for the device, per model:
        :func:`ferkit.backends.resolve_runtime`); ``precision`` bf16 (OpenVINO only) trades exactness for
        about twice the speed.
        """
        dev = None if isinstance(device, str) else device
        config = PipelineConfig(detector_weights, classifier_weights, str(device), **options)
        return cls.from_config(config, dev)

    @classmethod
    def from_config(cls, config: PipelineConfig, device: Any = None) -> Pipeline:
        """The pipeline ``config`` describes (validated before anything loads); ``device`` overrides
        ``config.device`` with an already chosen device."""
        dev = device or inference_device(config.device)
        classifier = load_classifier(
            list(config.classifier_weights), dev, config.backend, config.precision, config.prior
        )
        detector = None
        if config.detect:
            detector = FaceDetector(
                config.detector_weights,
                conf=config.conf,
                iou=config.iou,
                imgsz=config.imgsz,
                device=dev,
                batch_size=config.batch_size,
                backend=config.backend,
                precision=config.precision,
                tile=config.tile,
                quick=config.quick_size,
            )
        pipe = cls(
            classifier,
            detector,
            margin=config.margin,
            max_faces=config.max_faces,
            tta=config.tta,
            min_face=config.min_face,
            readable_size=config.readable_size,
            emotions=config.emotions,
            decode_side=None if config.tile else DEFAULT_DECODE_SIDE,  # tiles need all pixels
        )
        pipe.config = config
        return pipe

    @property
    def margin(self) -> float:
        return self.crop.margin

    @property
    def square(self) -> bool:
        return self.crop.square

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.classifier.class_names

    def settings(self) -> dict:
        """Everything that decides this pipeline's results: options and the weights files' SHA-256
        (recorded beside resumable runs, so that a resume never mixes two configurations)."""
        det = self.detector
        weights = getattr(self.classifier, "weights", None)
        members = weights if isinstance(weights, list) else [weights]
        clf_precision = getattr(self.classifier, "precision", "fp32")
        precision = getattr(det, "precision", None) or clf_precision
        return {
            "classifier_backend": self.classifier.backend,
            "detector_backend": getattr(det, "backend", None),
            "precision": precision,
            # recorded where the two models run at different precisions (auto measures each one)
            **({"classifier_precision": clf_precision} if clf_precision != precision else {}),
            "detect": det is not None,
            "detector": type(det).__name__ if det is not None else None,
            "detector_weights": file_id(getattr(det, "weights", None)),
            **{k: getattr(det, k, None) for k in ("conf", "iou", "imgsz", "contained", "quick")},
            **({"tile": True} if getattr(det, "tile", False) else {}),  # absent when off: older runs resume
            "classifier_weights": [file_id(w) for w in members],
            "margin": self.margin,
            "square": self.square,
            "max_faces": self.max_faces,
            "prior": getattr(self.classifier, "prior", "natural"),
            "min_face": self.min_face,
            **({"readable_size": self.readable_size} if self.readable_size else {}),  # older runs resume
            "emotions": list(self.emotions),
            "tta": self.tta,
            "decode_side": self.decode_side,
        }

    def run(self, image: ImageInput, color: str = "bgr") -> ImageResult:
        """Faces of one image: a file path, a ``PIL.Image``, or an array in ``color`` order ('bgr' or
        'rgb'; any other ``color`` is a ConfigError).

        An input that cannot be read (a missing path, an unreadable file, a value that is not an image)
        raises :class:`ferkit.errors.InputError` naming it; :meth:`run_batch` and :meth:`stream` give such
        inputs an ImageResult with ``error`` set instead, so that a batch goes on.
        """
        result = self.run_batch([image], color=color)[0]
        if result.error is not None:
            reason = result.error
            raise InputError(reason if reason.startswith(result.source) else f"{result.source}: {reason}")
        return result

    def run_batch(self, images: Sequence[ImageInput], color: str = "bgr") -> list[ImageResult]:
        """Results for several images: detection batched, all crops classified in one call."""
        check_color(color)
        with self.timer("decode"):
            decoded = self._decode(list(enumerate(images)), color)
        return self.run_arrays(*decoded)

    def stream(
        self, images: Iterable[ImageInput], batch_size: int = DEFAULT_BATCH_SIZE, color: str = "bgr"
    ) -> Iterator[ImageResult]:
        """Results in input order as each batch finishes, for inputs of any length: at most two batches are
        decoded at a time (the next one in a background thread while this one runs)."""
        for result, _ in self.stream_with_images(images, batch_size, color):
            yield result

    def stream_with_images(
        self, images: Iterable[ImageInput], batch_size: int = DEFAULT_BATCH_SIZE, color: str = "bgr"
    ) -> Iterator[tuple[ImageResult, np.ndarray | None]]:
        """Like :meth:`stream`, with each decoded BGR image (None where decoding failed), for writers."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        check_color(color)
        batches = _chunks(enumerate(images), batch_size)
        with ThreadPoolExecutor(1, thread_name_prefix="ferkit-decode") as pool:
            nxt = pool.submit(self._decode, next(batches, []), color)
            while True:
                with self.timer("decode"):
                    decoded = nxt.result()
                if not decoded[0]:
                    return
                nxt = pool.submit(self._decode, next(batches, []), color)
                yield from zip(self.run_arrays(*decoded), decoded[1], strict=True)

    def run_video(
        self, source: str | int | Path, options: VideoOptions | None = None, **overrides
    ) -> Iterator[FrameResult]:
        """Per-frame results of a video file, camera index or stream URL, as frames are processed: faces carry
        a ``track_id`` and smoothed ``emotion_probs``. ``options`` (or keyword overrides of its fields: every,
        fps, start_s, end_s, smooth, ...) say how frames are sampled, tracked and smoothed."""
        from dataclasses import replace

        from ferkit.video.config import VideoOptions
        from ferkit.video.run import iter_video
        from ferkit.video.source import VideoSource

        opts = replace(options or VideoOptions(), **overrides)
        with VideoSource(source) as video:
            for frame, _ in iter_video(self, video, opts):
                yield frame

    def _decode(self, batch: list[tuple[int, ImageInput]], color: str):
        """(sources, arrays, errors, absolute paths, full sizes) of a batch of (position, input) pairs.

        Big JPEG files are decoded at a reduced scale (``decode_side``); ``full sizes`` keeps their real
        (width, height), to which boxes are mapped back ((0, 0) where the array is full size).
        """
        sources, arrays, errors, absolute, full = [], [], {}, [], []
        for i, (pos, im) in enumerate(batch):
            is_path = isinstance(im, (str, Path))
            kind = "array" if isinstance(im, np.ndarray) else "image"
            sources.append(str(im) if is_path else f"<{kind} {pos}>")
            absolute.append(absolute_source(im) if is_path else None)
            size = (0, 0)
            try:
                if not is_path:
                    arrays.append(in_memory_to_bgr(im, color, sources[-1]))
                elif self.decode_side:
                    array, size = read_image_reduced(im, self.decode_side)
                    arrays.append(array)
                else:
                    arrays.append(read_image(im))
            except DataError as exc:
                errors[i] = str(exc)
                arrays.append(None)
            full.append(size)
        return sources, arrays, errors, absolute, full

    def run_arrays(
        self,
        sources: Sequence[str],
        arrays: Sequence[np.ndarray | None],
        errors: dict[int, str] | None = None,
        sources_abs: Sequence[str | None] | None = None,
        full_sizes: Sequence[tuple[int, int]] | None = None,
        options: RunOptions | None = None,
    ) -> list[ImageResult]:
        """Results for decoded BGR uint8 images; ``None`` entries are failures described in ``errors``.
        ``full_sizes``: the (width, height) of images decoded at reduced scale, whose boxes are scaled up.
        ``options`` (conf, max_faces, tta, min_face, readable_size) apply to this call only; the pipeline is
        not changed."""
        options = options or RunOptions()
        max_faces = self.max_faces if options.max_faces is None else options.max_faces
        min_face = self.min_face if options.min_face is None else options.min_face
        readable = self.readable_size if options.readable_size is None else options.readable_size
        readable = readable if self.detector is not None else 0  # a whole image given as a face is read
        tta = self.tta if options.tta is None else options.tta
        errors = dict(errors or {})
        absolute = list(sources_abs) if sources_abs is not None else [None] * len(sources)
        full = list(full_sizes) if full_sizes is not None else [(0, 0)] * len(sources)
        ok = [i for i, a in enumerate(arrays) if a is not None]
        with self.timer("detect"):
            if self.detector is None:
                found = [
                    [Detection(Box(0.0, 0.0, float(arrays[i].shape[1]), float(arrays[i].shape[0])), 1.0)]
                    for i in ok
                ]
            else:
                found = self.detector.detect([arrays[i] for i in ok], conf=options.conf) if ok else []
        # sizes in the original image's pixels; the whole image, without a detector, is always kept
        scales = [full[i][0] / arrays[i].shape[1] if full[i][0] else 1.0 for i in ok]
        found = select_detections(found, scales, min_face if self.detector else 0, max_faces)
        by_image = dict(zip(ok, found, strict=True))
        readable_of = {
            i: [shorter_side(d, s) >= readable for d in dets]
            for i, dets, s in zip(ok, found, scales, strict=True)
        }
        with self.timer("crop"):  # without a detector the box is the whole image, which no margin changes
            crops = [
                crop_face(arrays[i], d.box, self.crop)
                for i, dets in by_image.items()
                for d, r in zip(dets, readable_of[i], strict=True)
                if r
            ]
        with self.timer("classify"):
            preds = iter(self.classifier.predict(crops, tta=tta) if crops else [])
        results = []
        for i, src in enumerate(sources):
            a = arrays[i]
            if a is None:
                err = errors.get(i, "unreadable image")
                results.append(ImageResult(src, 0, 0, [], err, source_abs=absolute[i]))
            else:
                h, w = a.shape[:2]
                fw, fh = full[i] if full[i][0] else (w, h)
                sx, sy = fw / w, fh / h
                faces = [
                    Face(d.box.scaled(sx, sy), d.score, *next(preds))
                    if r
                    else Face.unread(d.box.scaled(sx, sy), d.score, UNREADABLE_SMALL)
                    for d, r in zip(by_image[i], readable_of[i], strict=True)
                ]
                faces = select_faces(faces, self.emotions)
                results.append(ImageResult(src, int(fw), int(fh), faces, source_abs=absolute[i]))
        return results


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of ``size`` items (the last may be shorter), read lazily."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk
