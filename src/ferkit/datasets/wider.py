"""WIDER FACE: the official ground-truth text format, and conversion to an ultralytics YOLO dataset."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml

from ferkit.datasets.wider_split import (
    DEFAULT_VAL_EVENTS,
    DEFAULT_VAL_FRACTION,
    SPLIT_KEY,
    SPLITS,
    WiderSplit,
    choose_val_events,
)
from ferkit.errors import DataError
from ferkit.imaging.images import image_size, read_image

GT_RELATIVE = Path("wider_face_split") / "wider_face_train_bbx_gt.txt"
IMAGES_RELATIVE = Path("WIDER_train") / "images"
ATTRIBUTES = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")


@dataclass(frozen=True)
class WiderImage:
    """One image of a WIDER FACE ground-truth file.

    ``boxes`` is an (N, 4) float array of ``x1, y1, w, h`` in image pixels, ``attributes`` an (N, 6) int
    array in the order of :data:`ATTRIBUTES`.
    """

    path: str
    boxes: np.ndarray = field(repr=False)
    attributes: np.ndarray = field(repr=False)

    @property
    def invalid(self) -> np.ndarray:
        return self.attributes[:, ATTRIBUTES.index("invalid")].astype(bool)


def parse_wider_gt(gt_file: str | Path) -> list[WiderImage]:
    """Parse a ``wider_face_*_bbx_gt.txt`` file; any inconsistency is a DataError naming file and line."""
    gt_file = Path(gt_file)
    if not gt_file.is_file():
        raise DataError(f"WIDER FACE ground truth not found: {gt_file}")
    lines = gt_file.read_text(encoding="utf-8", errors="replace").splitlines()
    images: list[WiderImage] = []
    i = 0
    while i < len(lines):
        name = lines[i].strip()
        if not name:
            i += 1
            continue
        where = f"{gt_file}:{i + 1}"
        if not name.lower().endswith((".jpg", ".jpeg", ".png")):
            raise DataError(f"{where}: expected an image path, got {name!r}")
        if i + 1 >= len(lines):
            raise DataError(f"{where}: image {name!r} has no face-count line")
        try:
            count = int(lines[i + 1].strip())
        except ValueError:
            raise DataError(
                f"{gt_file}:{i + 2}: expected a face count, got {lines[i + 1].strip()!r}"
            ) from None
        if count < 0:
            raise DataError(f"{gt_file}:{i + 2}: negative face count {count}")
        n_rows = count
        if count == 0 and i + 2 < len(lines) and _is_placeholder(lines[i + 2]):
            n_rows = 1  # the official files follow a count of 0 with one all-zero placeholder line
        rows = lines[i + 2 : i + 2 + n_rows]
        if len(rows) < n_rows:
            raise DataError(f"{where}: {name!r} says {count} faces but the file ends after {len(rows)} lines")
        values = []
        for j, row in enumerate(rows[:count]):
            parts = row.split()
            lineno = i + 3 + j
            if len(parts) < 4 or (len(parts) > 4 and len(parts) != 10):
                raise DataError(
                    f"{gt_file}:{lineno}: expected 'x1 y1 w h blur expression illumination invalid occlusion "
                    f"pose' for face {j + 1} of {count} of {name!r}, got {row.strip()!r} "
                    "(does the face count match the lines?)"
                )
            try:
                nums = [float(p) for p in parts]
            except ValueError:
                raise DataError(f"{gt_file}:{lineno}: non-numeric value in {row.strip()!r}") from None
            values.append(nums + [0.0] * (10 - len(nums)))
        arr = np.asarray(values, dtype=np.float64).reshape(-1, 10)
        images.append(WiderImage(name, arr[:, :4].astype(np.float32), arr[:, 4:].astype(np.int64)))
        i += 2 + n_rows
    if not images:
        raise DataError(f"{gt_file}: no images found")
    return images


def _is_placeholder(line: str) -> bool:
    parts = line.split()
    return bool(parts) and all(p.lstrip("-").replace(".", "", 1).isdigit() for p in parts)


def find_wider_layout(root: str | Path) -> tuple[Path, Path]:
    """Return (images dir, gt file) of a WIDER FACE root in the official layout."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"WIDER FACE root not found: {root}")
    images, gt = root / IMAGES_RELATIVE, root / GT_RELATIVE
    if not images.is_dir():
        raise DataError(f"{root} is not a WIDER FACE root: missing folder {IMAGES_RELATIVE}")
    if not gt.is_file():
        raise DataError(f"{root} is not a WIDER FACE root: missing {GT_RELATIVE}")
    return images, gt


def is_wider_root(path: str | Path) -> bool:
    path = Path(path)
    return (path / IMAGES_RELATIVE).is_dir() and (path / GT_RELATIVE).is_file()


@dataclass
class ConversionReport:
    """Counts of a WIDER FACE -> YOLO conversion."""

    images: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    faces: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    val_events: list[str] = field(default_factory=list)
    dropped_invalid: int = 0
    dropped_degenerate: int = 0
    dropped_small: int = 0
    masked_small: int = 0
    skipped_images: list[str] = field(default_factory=list)
    data_yaml: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def wider_to_yolo(
    wider_root: str | Path,
    out: str | Path,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    min_size: float = 8.0,
    skip_bad: bool = False,
    progress: Callable | None = None,
    mask_small: bool = False,
    val_events: str = DEFAULT_VAL_EVENTS,
) -> ConversionReport:
    """Convert WIDER FACE (official layout) to an ultralytics YOLO dataset under ``out``.

    Invalid faces, boxes of zero/negative size and faces whose shorter side is below ``min_size`` pixels
    are dropped (and counted); boxes are clipped to the image. Photos of the events that ``val_events``
    names ('auto', 'none' or a comma list; see :func:`choose_val_events`) go to ``val_events``, the others
    to train or val by the per-photo hash split. A corrupt image is an error, or is skipped and counted
    when ``skip_bad``.

    With ``mask_small`` the dropped small faces are also painted over with the image's mean colour, so
    that the detector is not taught that they are background (YOLO labels have no "ignore" region).
    """
    images_dir, gt_file = find_wider_layout(wider_root)
    entries = parse_wider_gt(gt_file)
    rule = WiderSplit(val_fraction, choose_val_events(val_events, (e.path for e in entries)))
    out = Path(out)
    for split in SPLITS if rule.val_events else SPLITS[:2]:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    report = ConversionReport(val_events=list(rule.val_events))
    iterator = progress(entries) if progress else entries
    for entry in iterator:
        src = images_dir / entry.path
        try:
            width, height = image_size(src)
        except DataError:
            if not skip_bad:
                raise
            report.skipped_images.append(str(src))
            continue
        split = rule.of(entry.path)
        lines, small = [], []
        for (x, y, w, h), invalid in zip(entry.boxes, entry.invalid, strict=True):
            if invalid:
                report.dropped_invalid += 1
                continue
            x1, y1 = max(float(x), 0.0), max(float(y), 0.0)
            x2, y2 = min(float(x + w), width), min(float(y + h), height)
            if x2 <= x1 or y2 <= y1:
                report.dropped_degenerate += 1
                continue
            if min(x2 - x1, y2 - y1) < min_size:
                report.dropped_small += 1
                small.append((x1, y1, x2, y2))
                continue
            cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
            lines.append(f"0 {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")
        # WIDER file names are unique across event folders, so the YOLO folders can be flat.
        name = Path(entry.path).name
        if mask_small and small:
            _write_masked(src, out / "images" / split / name, small)
            report.masked_small += len(small)
        else:
            shutil.copyfile(src, out / "images" / split / name)
        (out / "labels" / split / f"{Path(name).stem}.txt").write_text(
            "\n".join(lines) + ("\n" if lines else "")
        )
        report.images[split] += 1
        report.faces[split] += len(lines)
    data_yaml = out / "data.yaml"
    data_yaml.write_text(
        f"# WIDER FACE converted by ferkit ({rule.describe()}, min_size={min_size}, "
        f"mask_small={mask_small})\n"
        f"path: {out.resolve()}\ntrain: images/train\nval: images/val\n"
        + ("val_events: images/val_events\n" if rule.val_events else "")
        + "names:\n  0: face\n"
        # how the photos were split, so that weights trained on this data can say which photos they never saw
        + yaml.safe_dump({SPLIT_KEY: rule.to_dict()}, sort_keys=False)
    )
    report.data_yaml = str(data_yaml)
    return report


def _write_masked(src: Path, dst: Path, boxes: list[tuple[float, float, float, float]]) -> None:
    """Copy an image with each box (x1, y1, x2, y2 pixels) filled with the image's mean colour."""
    image = read_image(src)
    fill = image.reshape(-1, image.shape[-1]).mean(axis=0).astype(image.dtype)
    for x1, y1, x2, y2 in boxes:
        image[int(y1) : int(np.ceil(y2)), int(x1) : int(np.ceil(x2))] = fill
    if not cv2.imwrite(str(dst), image, [cv2.IMWRITE_JPEG_QUALITY, 95]):
        raise DataError(f"{dst}: cannot write the masked image")
