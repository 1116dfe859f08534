"""The pipeline's options, defined once and torch-free: what it loads and how it runs
(:class:`PipelineConfig`, read by the CLI, ``fer serve``, video and Ray), and what may change from one call
to the next of an immutable pipeline (:class:`RunOptions`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ferkit.detector.defaults import DEFAULT_CONF, DEFAULT_IMGSZ, DEFAULT_NMS_IOU, DEFAULT_QUICK_SIZE
from ferkit.detector.sizing import InputSize, check_quick_size
from ferkit.errors import ConfigError
from ferkit.imaging.recipe import check_margin

BACKENDS = ("auto", "torch", "onnx", "openvino")
DEFAULT_BACKEND = "auto"  # the fastest installed runtime for the device (ferkit.backends.resolve_backend)
PRECISIONS = ("auto", "fp32", "bf16")
# auto: fp32, except where OpenVINO runs on a CPU with native bfloat16 AND bf16 is measured at least 10 %
# faster there on the loaded model (ferkit.precision: a short probe at first use, cached per machine); bf16
# was 1.4x faster on AMX Xeons and 0.7-0.8x on a Xeon without AMX. fp32 is the reproducible choice.
DEFAULT_PRECISION = "auto"
PRIORS = ("natural", "balanced")
DEFAULT_PRIOR = "natural"  # the most accurate on every val set; balanced: rare classes found more often
# faces whose box's shorter side is below this many pixels get no emotion (they are still reported): below it
# the classifier's accuracy falls far from its accuracy on faces it can read (docs/benchmarks.md, "face size")
DEFAULT_READABLE_SIZE = 20
DEFAULT_BATCH_SIZE = 8  # images per detector batch (and per decode-ahead batch)


def check_backend_name(name: str | None) -> str:
    """The normalised backend name, or a ConfigError listing the valid ones."""
    norm = (name or "auto").strip().lower()
    if norm not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}")
    return norm


def check_precision_name(precision: str) -> str:
    """``precision`` if it is one ferkit knows, else a ConfigError listing them."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    return precision


def check_prior_name(prior: str) -> str:
    """``prior`` if it is one ferkit knows, else a ConfigError listing them."""
    if prior not in PRIORS:
        raise ConfigError(f"unknown prior {prior!r}: use one of {', '.join(PRIORS)}")
    return prior


def check_conf(conf: float) -> None:
    if not 0.0 <= conf <= 1.0:
        raise ConfigError(f"must be in [0, 1], got {conf}", option="conf")


def check_min_face(min_face: int | None) -> None:
    if min_face is not None and min_face < 0:
        raise ConfigError(f"must be >= 0 pixels, got {min_face}", option="min_face")


def parse_emotions(emotions: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"happy,sad"`` or ``["happy", "sad"]`` as a tuple of names (empty: every emotion)."""
    items = emotions.split(",") if isinstance(emotions, str) else list(emotions or ())
    return tuple(dict.fromkeys(e.strip().lower() for e in items if e.strip()))


def check_readable_size(size: int | None) -> None:
    if size is not None and not 0 <= size <= 10_000:
        raise ConfigError(
            f"must be between 0 and 10000 pixels (0: classify every face), got {size}", option="readable_size"
        )


def check_max_faces(max_faces: int | None) -> None:
    if max_faces is not None and max_faces < 1:
        raise ConfigError(f"must be >= 1, got {max_faces}", option="max_faces")


@dataclass(frozen=True)
class PipelineConfig:
    """Everything :meth:`ferkit.pipeline.Pipeline.from_config` loads, and how the pipeline runs.

    ``classifier_weights``: one spec, or several (an ensemble, probabilities averaged); ``margin`` None
    frames faces as the classifier's checkpoint says; ``detect`` False treats every image as one face crop;
    ``imgsz``: pixels or ``auto`` (:mod:`ferkit.detector.sizing`). Invalid values are a ConfigError here,
    before anything loads.
    """

    detector_weights: str = "default"
    classifier_weights: tuple[str, ...] = ("default",)
    device: str = "auto"
    backend: str = DEFAULT_BACKEND
    precision: str = DEFAULT_PRECISION
    prior: str = DEFAULT_PRIOR
    conf: float = DEFAULT_CONF
    iou: float = DEFAULT_NMS_IOU
    imgsz: int | str = DEFAULT_IMGSZ
    quick_size: int = DEFAULT_QUICK_SIZE  # small photos run first at this size (detector.defaults); 0: off
    tile: bool = False  # large photos also run in overlapping full-resolution tiles (ferkit.detector.tiling)
    margin: float | None = None
    max_faces: int | None = None
    min_face: int = 0  # faces whose box is narrower or lower than this (original pixels) are left out
    readable_size: int = DEFAULT_READABLE_SIZE  # smaller faces are reported without an emotion (0: none)
    emotions: tuple[str, ...] = ()  # keep only faces classified as one of these (empty: every face)
    detect: bool = True
    tta: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE

    def __post_init__(self) -> None:
        cw = self.classifier_weights
        members = [cw] if cw is None or isinstance(cw, (str, Path)) else list(cw)
        set_ = object.__setattr__  # frozen: normalised once, here
        set_(self, "classifier_weights", tuple("default" if w is None else str(w) for w in members))
        det = self.detector_weights
        set_(self, "detector_weights", "default" if det is None else str(det))
        set_(self, "imgsz", InputSize.parse(self.imgsz).spec)
        set_(self, "emotions", parse_emotions(self.emotions))
        if not self.classifier_weights:
            raise ConfigError("give at least one classifier weights spec")
        check_conf(self.conf)
        check_quick_size(self.quick_size)
        if not 0.0 < self.iou <= 1.0:
            raise ConfigError(f"must be in (0, 1], got {self.iou}", option="iou")
        check_max_faces(self.max_faces)
        check_min_face(self.min_face)
        check_readable_size(self.readable_size)
        if self.margin is not None:
            check_margin(self.margin)
        if self.batch_size < 1:
            raise ConfigError(f"must be >= 1, got {self.batch_size}", option="batch_size")
        check_backend_name(self.backend)
        check_precision_name(self.precision)
        check_prior_name(self.prior)

    def models(self) -> list[tuple[str, str]]:
        """The (kind, weights spec) of every model this config loads."""
        out = [("classifier", w) for w in self.classifier_weights]
        return out + ([("detector", self.detector_weights)] if self.detect else [])

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classifier_weights"] = list(self.classifier_weights)
        return d


@dataclass(frozen=True)
class RunOptions:
    """Per-call options of :meth:`ferkit.pipeline.Pipeline.run_arrays` (a ``fer serve`` request's query).

    ``None`` keeps what the pipeline was built with; the pipeline itself is never changed by them, so
    concurrent calls with different options each get their own results.
    """

    conf: float | None = None  # detector confidence threshold
    max_faces: int | None = None  # keep at most this many faces, the most confident first
    tta: bool | None = None  # test-time augmentation for the classifier
    min_face: int | None = None  # leave out faces smaller than this many pixels (box width or height)
    readable_size: int | None = None  # faces smaller than this get no emotion (0: every face gets one)

    def __post_init__(self) -> None:
        if self.conf is not None:
            check_conf(self.conf)
        check_max_faces(self.max_faces)
        check_min_face(self.min_face)
        check_readable_size(self.readable_size)


@dataclass(frozen=True)
class DrawStyle:
    """How faces are drawn: ``line_width`` in pixels (None: scaled to the image), and whether labels and
    their confidence are shown (``--line-width``, ``--hide-labels``, ``--hide-conf``)."""

    line_width: int | None = None
    labels: bool = True
    conf: bool = True

    def __post_init__(self) -> None:
        if self.line_width is not None and not 1 <= self.line_width <= 50:
            raise ConfigError(f"must be between 1 and 50 pixels, got {self.line_width}", option="line_width")


PIPELINE = PipelineConfig()  # the defaults, read by the CLI and the server
