"""Label groupings: map fine-grained expression labels to the coarse classes a model predicts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ferkit.errors import DataError

FER2013_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # CSV order 0..6

BUILTIN_GROUPINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "fer7": {name: (name,) for name in FER2013_LABELS},
    "fer6": {
        "angry": ("angry", "disgust"),
        "fear": ("fear",),
        "happy": ("happy",),
        "sad": ("sad",),
        "surprise": ("surprise",),
        "neutral": ("neutral",),
    },
    "valence3": {
        "positive": ("happy", "surprise"),
        "negative": ("angry", "disgust", "fear", "sad"),
        "neutral": ("neutral",),
    },
}
IDENTITY = "identity"  # each fine label is its own class (for arbitrary folder datasets)
AUTO = "auto"  # fer7 when the labels are exactly FER2013's seven, else identity (the data's own classes)


def normalise_label(label: str) -> str:
    return str(label).strip().lower()


@dataclass(frozen=True)
class LabelGrouping:
    """A named mapping from fine labels to coarse classes; ``classes`` fixes the model's output order."""

    name: str
    classes: tuple[str, ...]
    members: tuple[tuple[str, ...], ...]  # fine labels of each class, parallel to ``classes``

    @classmethod
    def from_mapping(cls, name: str, mapping: Mapping[str, Sequence[str]], source: str = "") -> LabelGrouping:
        """Build from ``{coarse: [fine, ...]}``; a fine label listed under two classes is an error."""
        where = f"{source}: " if source else ""
        if not mapping:
            raise DataError(f"{where}the label mapping is empty")
        seen: dict[str, str] = {}
        classes, members = [], []
        for coarse, fines in mapping.items():
            coarse_n = normalise_label(coarse)
            if isinstance(fines, str):
                fines = [fines]
            if not isinstance(fines, (list, tuple)) or not fines:
                raise DataError(f"{where}class {coarse!r} must list one or more fine labels")
            fine_n = []
            for fine in fines:
                f = normalise_label(fine)
                if f in seen:
                    raise DataError(f"{where}label {f!r} is mapped twice: to {seen[f]!r} and to {coarse_n!r}")
                seen[f] = coarse_n
                fine_n.append(f)
            if coarse_n in classes:
                raise DataError(f"{where}class {coarse_n!r} appears twice")
            classes.append(coarse_n)
            members.append(tuple(fine_n))
        return cls(name, tuple(classes), tuple(members))

    @classmethod
    def identity(cls, labels: Iterable[str]) -> LabelGrouping:
        names = sorted({normalise_label(x) for x in labels})
        return cls(IDENTITY, tuple(names), tuple((n,) for n in names))

    @property
    def lookup(self) -> dict[str, int]:
        """Fine label -> class index."""
        return {fine: i for i, fines in enumerate(self.members) for fine in fines}

    def encode(self, labels: Sequence[str], drop_unmapped: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Class indices of fine labels, and a mask of the ones kept.

        Unmapped labels raise a DataError naming them, unless ``drop_unmapped`` (then they are masked out).
        """
        lookup = self.lookup
        idx = np.array([lookup.get(normalise_label(x), -1) for x in labels], dtype=np.int64)
        keep = idx >= 0
        if not keep.all() and not drop_unmapped:
            missing = sorted({normalise_label(x) for x, k in zip(labels, keep, strict=True) if not k})
            raise DataError(
                f"labels not in grouping {self.name!r}: {', '.join(missing)} "
                f"(map them in a grouping file, or pass --drop-unmapped to leave them out)"
            )
        return idx[keep], keep

    def to_dict(self) -> dict:
        return {"name": self.name, "classes": list(self.classes), "members": [list(m) for m in self.members]}

    @classmethod
    def from_dict(cls, d: Mapping) -> LabelGrouping:
        return cls(str(d["name"]), tuple(d["classes"]), tuple(tuple(m) for m in d["members"]))


def load_mapping_file(path: str | Path) -> LabelGrouping:
    """Read a user grouping: YAML or JSON ``{coarse class: [fine labels]}``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"grouping file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot parse grouping file ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: a grouping file maps each coarse class to a list of fine labels")
    return LabelGrouping.from_mapping(path.stem, data, source=str(path))


def get_grouping(spec: str | Path, labels: Iterable[str] | None = None) -> LabelGrouping:
    """A built-in grouping by name (fer7, fer6, valence3, identity, auto) or a mapping file path."""
    s = str(spec)
    if s == AUTO:
        if labels is None:
            raise DataError("the auto grouping needs the dataset's labels")
        labels = list(labels)
        fer7 = {normalise_label(x) for x in labels} == set(FER2013_LABELS)
        return get_grouping("fer7" if fer7 else IDENTITY, labels)
    if s in BUILTIN_GROUPINGS:
        return LabelGrouping.from_mapping(s, BUILTIN_GROUPINGS[s])
    if s == IDENTITY:
        if labels is None:
            raise DataError("the identity grouping needs the dataset's labels")
        return LabelGrouping.identity(labels)
    if Path(s).suffix.lower() in (".yaml", ".yml", ".json") or Path(s).exists():
        return load_mapping_file(s)
    known = ", ".join([*BUILTIN_GROUPINGS, IDENTITY, AUTO])
    raise DataError(f"unknown grouping {s!r}: use one of {known}, or a YAML/JSON mapping file")
