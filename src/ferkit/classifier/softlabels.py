"""Soft labels: a label distribution per image from a crowd-vote file (FER+ style).

The file has a ``file`` column (image path relative to the vote file's folder, or absolute) and one count
column per label. Labels are mapped onto the model's classes through its grouping; FER+'s own names
(happiness, sadness, anger) are read as FER2013's (happy, sad, angry). Labels the grouping lacks
(``contempt``, ``unknown``, ``not_face``) are handled by an explicit rule each:

- ``ignore``: their votes are left out and the rest renormalised;
- ``drop``: images where they have the most votes are left out of training; otherwise ignored;
- ``map:<class>``: their votes count for that class.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferkit.datasets.grouping import LabelGrouping, normalise_label
from ferkit.errors import DataError

ALIASES = {
    "happiness": "happy",
    "sadness": "sad",
    "anger": "angry",
    "notface": "not_face",
    "not-face": "not_face",
}


@dataclass(frozen=True)
class SoftLabels:
    """Per image (resolved absolute path): a distribution over the model's classes, None to drop the image,
    or an empty array when none of its votes can be used (it keeps its own label)."""

    targets: dict[str, np.ndarray | None]
    source: str
    dropped: dict[str, int]  # label -> images dropped because that label had the most votes


def _rule_column(label: str, rule: str, grouping: LabelGrouping) -> int | None:
    """The class a ``map:`` rule sends ``label``'s votes to (None for ignore/drop)."""
    if not rule.startswith("map:"):
        return None
    target = normalise_label(rule[4:])
    lookup = grouping.lookup
    if target not in lookup:
        raise DataError(f"map:{target} for {label!r} names no class of grouping {grouping.name!r}")
    return lookup[target]


def read_votes(path: str | Path, grouping: LabelGrouping, rules: dict[str, str]) -> SoftLabels:
    """Read a vote file; ``rules`` says what to do with each label the grouping cannot map.

    A label without a rule that the grouping does not map is an error naming it; so is a malformed row.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"soft-label file not found: {path}")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header or normalise_label(header[0]) != "file" or len(header) < 3:
            raise DataError(f"{path}: expected a header 'file,<label>,<label>,...' (a FER+ vote file)")
        labels = [ALIASES.get(normalise_label(h), normalise_label(h)) for h in header[1:]]
        lookup = grouping.lookup
        columns: list[int | None] = []  # class index per vote column, None: ignored / drop-checked
        drop_cols: list[int] = []
        for j, lab in enumerate(labels):
            if lab in lookup:
                columns.append(lookup[lab])
                continue
            rule = rules.get(lab)
            if rule is None:
                raise DataError(
                    f"{path}: label {lab!r} is not in grouping {grouping.name!r} and has no rule "
                    f"(map it in the grouping, or use a grouping that has it)"
                )
            columns.append(_rule_column(lab, rule, grouping))
            if rule == "drop":
                drop_cols.append(j)
        k = len(grouping.classes)
        targets: dict[str, np.ndarray | None] = {}
        dropped = {labels[j]: 0 for j in drop_cols}
        for rowno, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                if len(row) != len(header):
                    raise ValueError(f"expected {len(header)} fields, got {len(row)}")
                votes = np.array([float(v) for v in row[1:]])
                if (votes < 0).any() or not np.isfinite(votes).all():
                    raise ValueError("vote counts must be finite and >= 0")
            except ValueError as exc:
                raise DataError(f"{path}:{rowno}: malformed row: {exc}") from None
            name = row[0].strip()
            p = Path(name)
            key = str((p if p.is_absolute() else path.parent / p).resolve())
            top = int(np.argmax(votes)) if votes.sum() > 0 else -1
            if top in drop_cols:
                dropped[labels[top]] += 1
                targets[key] = None
                continue
            dist = np.zeros(k, np.float32)
            for j, c in enumerate(columns):
                if c is not None:
                    dist[c] += votes[j]
            targets[key] = dist / dist.sum() if dist.sum() > 0 else np.zeros(0, np.float32)  # no usable votes
    if not targets:
        raise DataError(f"{path}: no rows")
    return SoftLabels(targets, str(path), dropped)


def apply_soft_labels(
    sources: list[str], onehot: np.ndarray, soft: SoftLabels, mix: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Targets mixing each image's own label with its vote distribution, a keep mask, and how many matched.

    Images without votes keep their own label; images the rules drop are masked out.
    """
    out = onehot.astype(np.float32).copy()
    keep = np.ones(len(sources), bool)
    matched = 0
    for i, src in enumerate(sources):
        key = str(Path(src).resolve())
        if key not in soft.targets:
            continue
        matched += 1
        dist = soft.targets[key]
        if dist is None:
            keep[i] = False
            continue
        if dist.size:
            out[i] = (1 - mix) * out[i] + mix * dist
    return out, keep, matched
