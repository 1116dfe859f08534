"""The crop recipe a classifier checkpoint carries (no image library needed to read or check it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ferkit.errors import ConfigError

INTERPOLATION_NAMES = ("area", "linear", "cubic")
MARGIN_RANGE = (-0.4, 2.0)  # crop margin, a fraction of the face box on each side


def check_margin(margin: float) -> float:
    """``margin`` if it is within :data:`MARGIN_RANGE`, else a ConfigError."""
    lo, hi = MARGIN_RANGE
    if not lo <= margin <= hi:
        raise ConfigError(f"crop margin must be between {lo} and {hi} (a fraction of the box), got {margin}")
    return margin


@dataclass(frozen=True)
class CropRecipe:
    """How a detector box becomes the model's input: grown by ``margin`` (fraction of the box on each
    side), made square around its centre, cut out, converted to ``color`` and resized with
    ``interpolation`` when shrinking (linear when enlarging)."""

    margin: float = 0.025
    square: bool = True
    interpolation: str = "area"
    color: str = "gray"

    def __post_init__(self) -> None:
        check_margin(self.margin)
        if self.interpolation not in INTERPOLATION_NAMES:
            raise ConfigError(f"crop interpolation must be one of {', '.join(INTERPOLATION_NAMES)}")
        if self.color != "gray":
            raise ConfigError(f"crop colour {self.color!r} is not supported (gray)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> CropRecipe:
        """The recipe stored in a checkpoint; checkpoints from before recipes get the defaults."""
        d = dict(d or {})
        return cls(**{k: d[k] for k in ("margin", "square", "interpolation", "color") if k in d})
