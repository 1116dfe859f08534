"""Typed values that flow through ferkit: one frozen dataclass per face, one result per image."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ferkit.errors import DataError


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in original image pixels (finite float corners, x2 >= x1, y2 >= y1)."""

    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        corners = (self.x1, self.y1, self.x2, self.y2)
        if not all(math.isfinite(v) for v in corners):
            raise DataError(f"box corners must be finite numbers, got {corners}")
        if self.x2 < self.x1 or self.y2 < self.y1:
            raise DataError(f"box corners must satisfy x1 <= x2 and y1 <= y2, got {corners}")

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    def clip(self, width: float, height: float) -> Box:
        """The box clipped to an image of ``width`` x ``height`` pixels."""
        return Box(
            min(max(self.x1, 0.0), width),
            min(max(self.y1, 0.0), height),
            min(max(self.x2, 0.0), width),
            min(max(self.y2, 0.0), height),
        )

    def scaled(self, sx: float, sy: float) -> Box:
        """The box with x multiplied by ``sx`` and y by ``sy`` (another resolution of the same image)."""
        return self if sx == sy == 1.0 else Box(self.x1 * sx, self.y1 * sy, self.x2 * sx, self.y2 * sy)

    def as_list(self, ndigits: int = 1) -> list[float]:
        """The corners rounded to ``ndigits`` (as JSON and CSV write them)."""
        return [round(v, ndigits) for v in (self.x1, self.y1, self.x2, self.y2)]

    def as_tuple(self) -> tuple[float, float, float, float]:
        """(x1, y1, x2, y2), unrounded."""
        return (self.x1, self.y1, self.x2, self.y2)

    def __iter__(self):
        """``x1, y1, x2, y2 = face.box_xyxy`` and ``tuple(face.box_xyxy)`` work."""
        return iter(self.as_tuple())


@dataclass(frozen=True)
class Detection:
    """A face found by the detector: its box and the detector's confidence."""

    box: Box
    score: float


UNREADABLE_SMALL = "small"  # Face.unreadable: the box is below the pipeline's readable size


@dataclass(frozen=True)
class Face:
    """A detected and classified face. The field names are the output schema's (docs/output.md):
    ``box_xyxy`` in original pixels, ``det_score`` the detector's confidence that this is a face,
    ``emotion`` the predicted class and ``emotion_probs`` every class's probability.

    A face too small to read (``unreadable`` says why, e.g. ``"small"``) is still a detected face, but has
    no emotion: ``emotion`` None and ``emotion_probs`` empty."""

    box_xyxy: Box
    det_score: float
    emotion: str | None
    emotion_probs: dict[str, float] = field(hash=False)
    track_id: int | None = None  # in video: the same face across frames (None for still images)
    unreadable: str | None = None  # why the face has no emotion (None: it has one)

    def __post_init__(self) -> None:
        if self.emotion is None:
            if self.emotion_probs or self.unreadable is None:
                raise DataError("a face without an emotion has no probabilities and says why (unreadable)")
            return
        if self.unreadable is not None:
            raise DataError(f"a face with an emotion cannot be unreadable ({self.unreadable!r})")
        if self.emotion not in self.emotion_probs:
            raise DataError(
                f"face emotion {self.emotion!r} is not one of the classes of its probabilities "
                f"{list(self.emotion_probs)}"
            )

    @classmethod
    def unread(cls, box: Box, det_score: float, reason: str, track_id: int | None = None) -> Face:
        """A detected face that gets no emotion, and why."""
        return cls(box, det_score, None, {}, track_id, reason)

    @property
    def emotion_score(self) -> float | None:
        """Probability of the predicted emotion (None without one)."""
        return None if self.emotion is None else self.emotion_probs[self.emotion]

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable emotions, best first (empty without an emotion)."""
        return sorted(self.emotion_probs.items(), key=lambda kv: kv[1], reverse=True)[:k]

    def to_dict(self) -> dict:
        score = self.emotion_score
        return {
            "box_xyxy": self.box_xyxy.as_list(),
            "det_score": round(self.det_score, 4),
            "emotion": self.emotion,
            "emotion_score": None if score is None else round(score, 4),
            "emotion_probs": {k: round(v, 4) for k, v in self.emotion_probs.items()},
            "unreadable": self.unreadable,
            **({"track_id": self.track_id} if self.track_id is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Face:
        """A face of a JSON record (``to_dict``'s output)."""
        return cls(
            Box(*d["box_xyxy"]),
            d["det_score"],
            d.get("emotion"),
            dict(d.get("emotion_probs") or {}),
            d.get("track_id"),
            d.get("unreadable"),
        )


SCHEMA_VERSION = 1  # of ImageResult.to_dict(), the JSON/JSONL/CSV records (docs/output.md)


@dataclass(frozen=True)
class ImageResult:
    """Everything ferkit found in one image. An input that failed has ``error`` set and no faces.

    ``source`` is the input as given (a path as typed, or ``<array N>``); ``source_abs`` is the absolute
    path of a file input (None for arrays), which resumable runs use to recognise finished inputs.
    """

    source: str
    width: int
    height: int
    faces: list[Face] = field(default_factory=list, hash=False)
    error: str | None = None
    source_abs: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "source": self.source,
            "source_abs": self.source_abs,
            "width": self.width,
            "height": self.height,
            "error": self.error,
            "faces": [f.to_dict() for f in self.faces],
        }

    @classmethod
    def from_dict(cls, d: dict) -> ImageResult:
        """The result of a JSON record, as in results.jsonl (``to_dict``'s output)."""
        faces = [Face.from_dict(f) for f in d.get("faces") or []]
        return cls(d["source"], d["width"], d["height"], faces, d.get("error"), d.get("source_abs"))


@dataclass(frozen=True)
class FrameResult:
    """The faces of one processed video frame: ``frame_index`` counts from the video's first frame and
    ``timestamp_s`` is its time in seconds; each face carries a ``track_id`` and, when smoothing is on, its
    smoothed ``emotion_probs``."""

    source: str
    frame_index: int
    timestamp_s: float
    width: int
    height: int
    faces: list[Face] = field(default_factory=list, hash=False)

    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "source": self.source,
            "frame_index": self.frame_index,
            "timestamp_s": round(self.timestamp_s, 3),
            "width": self.width,
            "height": self.height,
            "faces": [f.to_dict() for f in self.faces],
        }
