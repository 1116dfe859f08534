"""Typed values that flow through ferkit: one frozen dataclass per face, one result per image."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in original image pixels (float corners, x2 > x1, y2 > y1)."""

    x1: float
    y1: float
    x2: float
    y2: float

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

    def as_list(self, ndigits: int = 1) -> list[float]:
        return [round(v, ndigits) for v in (self.x1, self.y1, self.x2, self.y2)]


@dataclass(frozen=True)
class Detection:
    """A face found by the detector: its box and the detector's confidence."""

    box: Box
    score: float


@dataclass(frozen=True)
class Face:
    """A detected and classified face; ``label`` is a class name of the classifier that produced it."""

    box: Box
    score: float
    label: str
    probs: dict[str, float] = field(hash=False)

    @property
    def confidence(self) -> float:
        """Probability of the predicted label."""
        return self.probs[self.label]

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable classes, best first."""
        return sorted(self.probs.items(), key=lambda kv: kv[1], reverse=True)[:k]

    def to_dict(self) -> dict:
        return {
            "box": self.box.as_list(),
            "score": round(self.score, 4),
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "probs": {k: round(v, 4) for k, v in self.probs.items()},
        }


@dataclass(frozen=True)
class ImageResult:
    """Everything ferkit found in one image. An unreadable input has ``error`` set and no faces."""

    source: str
    width: int
    height: int
    faces: list[Face] = field(default_factory=list, hash=False)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "width": self.width,
            "height": self.height,
            "error": self.error,
            "faces": [f.to_dict() for f in self.faces],
        }
