"""Face-crop datasets: the FER2013 Kaggle CSV, image folders ``ROOT/<split>/<class>/*.jpg`` or just
``ROOT/<class>/*.jpg`` (no split: all of it is train, and val is held out of it), and CSV files of
``path,label`` rows (an optional ``split`` column)."""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ferkit.datasets.grouping import FER2013_LABELS
from ferkit.errors import DataError, SplitNotFoundError
from ferkit.imaging.crop import resize_square
from ferkit.imaging.images import is_image_file, read_gray

CSV_SPLITS = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}


@dataclass
class FaceSet:
    """Grayscale face crops with their fine labels. ``images`` is (N, H, W) uint8."""

    images: np.ndarray
    labels: list[str]
    sources: list[str]
    skipped: list[str] = field(default_factory=list)  # "source: reason" of bad items skipped on request

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, keep: np.ndarray) -> FaceSet:
        idx = np.flatnonzero(keep)
        return FaceSet(
            self.images[idx],
            [self.labels[i] for i in idx],
            [self.sources[i] for i in idx],
            list(self.skipped),
        )

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.labels).items()))


def _resize_square(pixels: np.ndarray, size: int | None) -> np.ndarray:
    return pixels if size is None else resize_square(pixels, size)


def read_fer_csv(
    path: str | Path, split: str | None, size: int | None = 48, skip_bad: bool = False
) -> FaceSet:
    """Read the Kaggle FER2013 CSV (``emotion,pixels,Usage``); ``split`` is train/val/test or a Usage value.

    A malformed row or a pixel string that is not a square image is an error naming the row, or is skipped
    and counted when ``skip_bad``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CSV not found: {path}")
    usage = CSV_SPLITS.get(split, split) if split else None
    images, labels, sources, skipped = [], [], [], []
    side = None
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: empty CSV")
        cols = [h.strip().lower() for h in header]
        if "emotion" not in cols or "pixels" not in cols:
            raise DataError(f"{path}: expected a header with 'emotion' and 'pixels' columns, got {header}")
        ie, ip = cols.index("emotion"), cols.index("pixels")
        iu = cols.index("usage") if "usage" in cols else None
        if usage and iu is None:
            raise DataError(f"{path}: no 'Usage' column, so split {split!r} cannot be selected")
        for rowno, row in enumerate(reader, start=2):
            where = f"{path}:{rowno}"
            try:
                if len(row) != len(cols):
                    raise ValueError(f"expected {len(cols)} fields, got {len(row)}")
                if usage and row[iu].strip() != usage:
                    continue
                emotion = int(row[ie])
                if not 0 <= emotion < len(FER2013_LABELS):
                    raise ValueError(f"emotion {emotion} outside 0..{len(FER2013_LABELS) - 1}")
                values = np.array(row[ip].split(), dtype=np.int64)
                n = values.size
                s = math.isqrt(n)
                if n == 0 or s * s != n:
                    raise ValueError(f"pixel string has {n} values, not a square image (48x48 = 2304)")
                if side is None:
                    side = s
                elif s != side:
                    raise ValueError(f"pixel string has {n} values, but earlier rows have {side * side}")
                if values.min() < 0 or values.max() > 255:
                    raise ValueError("pixel values must be 0..255")
            except ValueError as exc:
                if not skip_bad:
                    raise DataError(f"{where}: malformed row: {exc}") from None
                skipped.append(f"{where}: {exc}")
                continue
            images.append(_resize_square(values.astype(np.uint8).reshape(s, s), size))
            labels.append(FER2013_LABELS[emotion])
            sources.append(where)
    if not images:
        if usage:
            raise SplitNotFoundError(f"{path}: no rows with Usage {usage!r}")
        raise DataError(f"{path}: no rows")
    return FaceSet(np.stack(images), labels, sources, skipped)


def read_image_folder(root: str | Path, split: str | None, size: int = 48, skip_bad: bool = False) -> FaceSet:
    """Read ``root/<split>/<class>/*`` (or ``root/<class>/*`` when ``split`` is None) as grayscale crops.

    Class names are the folder names (fine labels). Unreadable files and empty class folders are errors
    naming them, or are skipped and counted when ``skip_bad``.
    """
    root = Path(root)
    base = root / split if split else root
    if not base.is_dir():
        avail = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        hint = f" (found: {', '.join(avail)})" if avail else ""
        if not root.is_dir():
            raise DataError(f"dataset not found: {root}")
        raise SplitNotFoundError(f"split folder not found: {base}{hint}")
    class_dirs = sorted(p for p in base.iterdir() if p.is_dir())
    if not class_dirs:
        raise DataError(f"{base}: no class folders (expected {base}/<class>/*.jpg)")
    images, labels, sources, skipped = [], [], [], []
    for cdir in class_dirs:
        files = sorted(p for p in cdir.iterdir() if p.is_file() and not p.name.startswith("."))
        n_before = len(images)
        for f in files:
            try:
                if not is_image_file(f):
                    raise DataError(f"{f}: not an image file (expected .jpg/.png/...)")
                images.append(read_gray(f, size))
            except DataError as exc:
                if not skip_bad:
                    raise
                skipped.append(str(exc))
                continue
            labels.append(cdir.name)
            sources.append(str(f))
        if len(images) == n_before:
            msg = f"{cdir}: empty class folder (no readable images)"
            if not skip_bad:
                raise DataError(msg)
            skipped.append(msg)
    if not images:
        raise DataError(f"{base}: no readable images")
    return FaceSet(np.stack(images), labels, sources, skipped)


TRAIN_SPLIT = "train"  # the split a dataset without splits gives all of its faces to


def load_faces(data: str | Path, split: str | None, size: int = 48, skip_bad: bool = False) -> FaceSet:
    """Read a split of a CSV file or an image-folder dataset, whichever ``data`` is."""
    data = Path(data)
    if data.suffix.lower() == ".csv":
        if _csv_columns(data) >= {"path", "label"}:
            return read_labelled_csv(data, split, size, skip_bad)
        return read_fer_csv(data, split, size, skip_bad)
    if data.is_dir():
        if split and is_flat_folder(data):
            if split != TRAIN_SPLIT:
                raise SplitNotFoundError(f"{data}: class folders without splits (no {split!r} folder)")
            return read_image_folder(data, None, size, skip_bad)
        return read_image_folder(data, split, size, skip_bad)
    raise DataError(
        f"dataset not found: {data} (expected a folder ROOT/<class>/ or ROOT/<split>/<class>/, a FER2013 "
        ".csv, or a .csv of path,label rows)"
    )


def is_flat_folder(root: Path) -> bool:
    """Whether ``root`` holds class folders of images directly (``root/<class>/*.jpg``), not splits."""
    subs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if not subs or any((root / s).is_dir() for s in (TRAIN_SPLIT, "val", "test")):
        return False
    return any(is_image_file(f) for d in subs for f in d.iterdir() if f.is_file())


def _csv_columns(path: Path) -> set[str]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return {h.strip().lower() for h in next(csv.reader(fh), [])}
    except (OSError, UnicodeDecodeError):
        return set()


def read_labelled_csv(path: Path, split: str | None, size: int = 48, skip_bad: bool = False) -> FaceSet:
    """Read a CSV of ``path,label`` rows (paths relative to the CSV's folder); with a ``split`` column, the
    rows of ``split``; without one, every row is train. A path that is not an image is an error naming its
    row, or is skipped and counted when ``skip_bad``."""
    images, labels, sources, skipped = [], [], [], []
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for rowno, row in enumerate(rows, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        if "split" in row and split and row["split"] != split:
            continue
        if "split" not in row and split and split != TRAIN_SPLIT:
            raise SplitNotFoundError(f"{path}: no 'split' column (every row is {TRAIN_SPLIT})")
        file = path.parent / row["path"]
        try:
            if not row["label"]:
                raise DataError(f"{path}:{rowno}: empty label")
            images.append(read_gray(file, size))
        except DataError as exc:
            if not skip_bad:
                raise DataError(f"{path}:{rowno}: {exc}") from None
            skipped.append(f"{path}:{rowno}: {exc}")
            continue
        labels.append(row["label"])
        sources.append(str(file))
    if not images:
        if split and split != TRAIN_SPLIT:
            raise SplitNotFoundError(f"{path}: no rows of split {split!r}")
        raise DataError(f"{path}: no readable rows")
    return FaceSet(np.stack(images), labels, sources, skipped)


def near_constant_mask(images: np.ndarray, max_fraction: float = 0.3) -> np.ndarray:
    """True for images whose most common gray level covers more than ``max_fraction`` of the pixels.

    This max-of-histogram test flags blank, all-black or near-uniform crops.
    """
    flat = images.reshape(len(images), -1)
    peak = np.array([np.bincount(row, minlength=256).max() for row in flat], dtype=np.int64)
    return peak > max_fraction * flat.shape[1]
