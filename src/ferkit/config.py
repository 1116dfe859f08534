"""Config types that need no torch: what may change from one call to the next of an immutable pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from ferkit.errors import ConfigError


@dataclass(frozen=True)
class RunOptions:
    """Per-call options of :meth:`ferkit.pipeline.Pipeline.run_arrays` (a ``fer serve`` request's query).

    ``None`` keeps what the pipeline was built with; the pipeline itself is never changed by them, so
    concurrent calls with different options each get their own results.
    """

    conf: float | None = None  # detector confidence threshold
    max_faces: int | None = None  # keep at most this many faces, the most confident first
    tta: bool | None = None  # test-time augmentation for the classifier

    def __post_init__(self) -> None:
        if self.conf is not None and not 0.0 <= self.conf <= 1.0:
            raise ConfigError(f"conf must be in [0, 1], got {self.conf}")
        if self.max_faces is not None and self.max_faces < 1:
            raise ConfigError(f"max_faces must be >= 1, got {self.max_faces}")
