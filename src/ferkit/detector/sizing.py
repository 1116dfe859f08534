"""How large the detector sees a photo (``--imgsz``): a fixed size, or ``auto``, which follows the photo.

A fixed size N fits every photo into N x N (ultralytics' ``imgsz``), so a 1024 px photo is halved at 512
and its 24 px faces become 12 px. ``auto`` runs each photo at ``scale`` times its own long side, rounded
down to the stride and clamped to a range: small photos stay cheap (the floor), large photos keep their
small faces (up to the ceiling), and no photo runs smaller than a fixed 512 would run it, so photos up to
640 px cost what they did. Spelled ``auto`` (the default range and scale) or ``auto:LO-HI``. No torch
here: the CLI, the server and the configs read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ferkit.detector.defaults import DEFAULT_MIN_SIDE, TRACE_IMGSZ
from ferkit.errors import ConfigError

STRIDE = 32  # the detector's largest stride: letterboxed sides are multiples of it
# long-side floor (small photos are enlarged to it, as with fixed sizes) and ceiling of `auto`
AUTO_RANGE = (DEFAULT_MIN_SIDE, 960)
# share of the photo's own long side that `auto` runs at, rounded down to the stride: 640 px photos at 512
# (as the fixed default did), 1024 px photos at 704; chosen with benchmarks/imgsz_auto.py (docs/weights.md):
# on val photos upscaled to 1024 px, 704 and 768 score alike, 800 a little higher but at 2.1x the time
AUTO_SCALE = 0.7
AUTO_BASE = 512  # `auto` never runs a photo smaller than a fixed 512 would (the default before auto)
MIN_IMGSZ = 32
IMGSZ_HELP = (
    "Detector input size: pixels (every photo fitted into N x N), or auto (0.7x the photo's long side, "
    "never less than 512 gives, within 384-960 px), or auto:LO-HI."
)


@dataclass(frozen=True)
class InputSize:
    """A fixed detector input size (``fixed`` > 0), or ``auto``: ``scale`` x the photo's long side, rounded
    down to the stride, within [``lo``, ``hi``]."""

    fixed: int = 0
    lo: int = AUTO_RANGE[0]
    hi: int = AUTO_RANGE[1]
    scale: float = AUTO_SCALE

    def __post_init__(self) -> None:
        if self.fixed:
            if self.fixed < MIN_IMGSZ:
                raise ConfigError(f"must be >= {MIN_IMGSZ} pixels, or auto; got {self.fixed}", option="imgsz")
            return
        if self.lo < MIN_IMGSZ or self.lo > self.hi:
            raise ConfigError(
                f"auto:{self.lo}-{self.hi} is an empty range: give auto:LO-HI with {MIN_IMGSZ} <= LO <= HI",
                option="imgsz",
            )
        if self.lo % STRIDE or self.hi % STRIDE:
            raise ConfigError(
                f"auto:{self.lo}-{self.hi}: both ends must be multiples of the detector's stride "
                f"({STRIDE}), e.g. auto:{_floor(self.lo)}-{_floor(self.hi)}",
                option="imgsz",
            )
        if not 0 < self.scale <= 4:
            raise ConfigError(f"the auto input size's scale must be in (0, 4], got {self.scale}")

    @classmethod
    def parse(cls, value: int | str | InputSize) -> InputSize:
        """``512``, ``"512"``, ``"auto"`` or ``"auto:384-960"``; anything else is a ConfigError."""
        if isinstance(value, InputSize):
            return value
        if isinstance(value, bool):
            raise ConfigError(f"must be a size in pixels or auto, got {value!r}", option="imgsz")
        if isinstance(value, int):
            return cls(fixed=value)
        text = str(value).strip().lower()
        if text == "auto":
            return cls()
        if text.startswith("auto:"):
            lo, sep, hi = text[5:].partition("-")
            if sep and lo.strip().isdigit() and hi.strip().isdigit():
                return cls(lo=int(lo), hi=int(hi))
        elif text.isdigit():
            return cls(fixed=int(text))
        raise ConfigError(
            f"must be a size in pixels, auto or auto:LO-HI (e.g. auto:384-960), got {value!r}", option="imgsz"
        )

    @property
    def spec(self) -> int | str:
        """What settings record: the fixed size as a number, or the auto rule as text."""
        if self.fixed:
            return self.fixed
        rule = "auto" if (self.lo, self.hi) == AUTO_RANGE else f"auto:{self.lo}-{self.hi}"
        return rule if self.scale == AUTO_SCALE else f"{rule}@{self.scale:g}"

    def trace_size(self) -> int:
        """A square size to trace or probe an exported network at (its sizes stay dynamic)."""
        return self.fixed or TRACE_IMGSZ

    def ratio(self, h: int, w: int, min_side: int) -> float:
        """The resize ratio of an h x w photo. Fixed: fit it into the square; a smaller photo is enlarged
        only until its long side reaches ``min_side`` (0: kept at its own size). Auto: its long side times
        ``scale``, rounded down to the stride, at least what a fixed 512 gives, within [lo, hi]."""
        long = max(h, w)
        if self.fixed:
            r = self.fixed / long
            return min(r, max(1.0, min_side / long)) if r > 1.0 else r
        kept = min(long, AUTO_BASE)  # what a fixed AUTO_BASE does: never less than that
        return min(max(_floor(long * self.scale), kept, self.lo), self.hi) / long


def check_quick_size(size: int) -> None:
    """The quick first pass of small photos: 0 (off) or at least ``MIN_IMGSZ`` pixels, a multiple of the
    stride."""
    if size and (size < MIN_IMGSZ or size % STRIDE):
        raise ConfigError(
            f"must be 0 (off) or a multiple of {STRIDE} of at least {MIN_IMGSZ} pixels, got {size}",
            option="quick_size",
        )


def _floor(x: float) -> int:
    """``x`` rounded down to the stride (at least one stride)."""
    return max(STRIDE, int(x // STRIDE) * STRIDE)
