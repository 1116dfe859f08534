"""Which faces a pipeline reports: at least ``min_face`` pixels, at most ``max_faces`` (the most confident
first), and only the ``emotions`` asked for; checked once, when the pipeline is built. Faces below the
readable size are measured the same way (:func:`shorter_side`)."""

from __future__ import annotations

from collections.abc import Sequence

from ferkit.config import parse_emotions
from ferkit.errors import ConfigError
from ferkit.types import Detection, Face


def check_emotions(emotions: Sequence[str] | str, class_names: Sequence[str]) -> tuple[str, ...]:
    """``emotions`` as names of the classifier's classes; an unknown one is a ConfigError naming both."""
    names = parse_emotions(emotions)
    unknown = [e for e in names if e not in class_names]
    if unknown:
        known = ", ".join(class_names)
        raise ConfigError(f"unknown emotion(s) {', '.join(unknown)}: this classifier predicts {known}")
    return names


def select_detections(
    found: list[list[Detection]], scales: Sequence[float], min_face: int, max_faces: int | None
) -> list[list[Detection]]:
    """Per image: detections at least ``min_face`` pixels wide and high (``scales``: original pixels per
    decoded pixel), the most confident first, at most ``max_faces`` (both checked where they were set)."""
    out = []
    for dets, s in zip(found, scales, strict=True):
        kept = [d for d in dets if shorter_side(d, s) >= min_face] if min_face else dets
        out.append(sorted(kept, key=lambda d: d.score, reverse=True)[:max_faces])
    return out


def shorter_side(detection: Detection, scale: float) -> float:
    """The shorter side of a detection's box in original pixels (``scale``: original pixels per decoded
    pixel): what ``min_face`` and the readable size are measured against."""
    return min(detection.box.width, detection.box.height) * scale


def select_faces(faces: list[Face], emotions: tuple[str, ...]) -> list[Face]:
    """The faces classified as one of ``emotions`` (all of them when it is empty)."""
    return [f for f in faces if f.emotion in emotions] if emotions else faces
