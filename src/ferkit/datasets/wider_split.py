"""Which split a WIDER FACE photo belongs to: whole held-out events first, then a per-photo hash split.

Photos of a held-out event land in ``val_events`` (a detector never sees that kind of scene in training, so
this split measures generalisation); the other photos go to ``val`` when the hash of their path falls below
the val fraction, else to ``train``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ferkit.errors import DataError

DEFAULT_VAL_FRACTION = 0.1
DEFAULT_VAL_EVENTS = "auto"
AUTO_EVENT_SHARE = 0.2  # 'auto' holds out whole events until they hold this share of the photos
SPLITS = ("train", "val", "val_events")
SPLIT_TITLES = {"val": "per-photo val", "val_events": "event-held-out val", "wider_val": "WIDER FACE val"}
SPLIT_KEY = "ferkit_split"  # in a data.yaml, and in detector weights trained on it: the rule that made it


def _hash01(text: str) -> float:
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def is_val(image_path: str, val_fraction: float) -> bool:
    """Per-photo split: in val when the hash of the relative path falls below the fraction.

    The same image always lands in the same split, whatever the order or number of images around it.
    """
    return _hash01(image_path.replace("\\", "/")) < val_fraction


def event_of(image_path: str) -> str:
    """The event folder of a WIDER relative path ('0--Parade/0_Parade_1_5.jpg' -> '0--Parade')."""
    parts = image_path.replace("\\", "/").split("/")
    return parts[0] if len(parts) > 1 else ""


def choose_val_events(spec: str, image_paths: Iterable[str]) -> tuple[str, ...]:
    """The events a spec names: 'auto', 'none' (or empty), or a comma list of names / numbers.

    'auto' orders the events by the hash of their name and takes them until they hold
    :data:`AUTO_EVENT_SHARE` of the photos: the same events for the same data, whatever the order. A
    name matches the folder ('13--Interview'), its number ('13') or its words ('Interview'); one that
    matches no event is a DataError listing the events there are.
    """
    counts = Counter(event_of(p) for p in image_paths)
    counts.pop("", None)
    spec = spec.strip()
    if spec.lower() in ("", "none"):
        return ()
    if spec.lower() == "auto":
        total, chosen, held = sum(counts.values()), [], 0
        for event in sorted(counts, key=_hash01):
            if held >= AUTO_EVENT_SHARE * total:
                break
            chosen.append(event)
            held += counts[event]
        return tuple(sorted(chosen, key=_event_number))
    chosen = []
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        hits = [e for e in counts if token.lower() in (e.lower(), *map(str.lower, e.split("--", 1)))]
        if not hits:
            known = ", ".join(sorted(counts, key=_event_number))
            raise DataError(
                f"names {token!r}, no event of the ground truth; events: {known}", option="val_events"
            )
        chosen += [e for e in hits if e not in chosen]
    if len(chosen) == len(counts):
        raise DataError("names every event: nothing would be left to train on", option="val_events")
    return tuple(sorted(chosen, key=_event_number))


def _event_number(event: str) -> tuple[int, str]:
    head = event.split("--", 1)[0]
    return (int(head) if head.isdigit() else 1 << 30, event)


@dataclass(frozen=True)
class WiderSplit:
    """The split rule: held-out events, then a per-photo fraction of the rest."""

    val_fraction: float = DEFAULT_VAL_FRACTION
    val_events: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_fraction < 1.0:
            raise DataError(f"must be in [0, 1), got {self.val_fraction}", option="val_fraction")

    def of(self, image_path: str) -> str:
        """'train', 'val' or 'val_events'."""
        if event_of(image_path) in self.val_events:
            return "val_events"
        return "val" if is_val(image_path, self.val_fraction) else "train"

    def to_dict(self) -> dict:
        return {"val_fraction": self.val_fraction, "val_events": list(self.val_events)}

    @classmethod
    def from_dict(cls, d: dict) -> WiderSplit:
        return cls(float(d["val_fraction"]), tuple(d["val_events"]))

    def describe(self) -> str:
        events = ", ".join(self.val_events) or "none"
        return f"val_fraction={self.val_fraction:g}, val_events=[{events}]"
