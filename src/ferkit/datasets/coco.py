"""COCO-style JSON (what common annotation tools export) to the YOLO face layout ``fer train-detector``
reads, and a private mirror of a YOLO data set so that training writes nothing into the user's folders.

The YOLO layout::

    DATA/data.yaml              path: DATA, train: images/train, val: images/val, names: {0: face}
    DATA/images/train/a.jpg     the photos
    DATA/labels/train/a.txt     one line per face: 0 x_centre y_centre width height (fractions of the photo)
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ferkit.errors import DataError
from ferkit.imaging.images import image_size


@dataclass
class CocoReport:
    """What a conversion wrote: images and faces per split, and what it left out (and why)."""

    images: dict[str, int] = field(default_factory=dict)
    faces: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    data_yaml: Path | None = None


def _load(json_path: Path) -> dict:
    try:
        coco = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{json_path}: not a readable JSON file ({exc})") from None
    if not isinstance(coco, dict) or not isinstance(coco.get("images"), list) or "annotations" not in coco:
        raise DataError(f"{json_path}: not a COCO file (expected 'images' and 'annotations' lists)")
    return coco


def _category_ids(coco: dict, category: str | None, json_path: Path) -> set[int] | None:
    if category is None:
        return None  # every box is a face
    ids = {c.get("id") for c in coco.get("categories") or [] if c.get("name") == category}
    if not ids:
        names = ", ".join(sorted(str(c.get("name")) for c in coco.get("categories") or []))
        raise DataError(f"{json_path}: no category named {category!r} (it has: {names or 'none'})")
    return ids


def _yolo_lines(anns: list[dict], width: float, height: float, where: str) -> list[str]:
    """The label lines of one photo's boxes (clipped to the photo; empty or broken boxes are an error)."""
    lines = []
    for a in anns:
        bbox = a.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            raise DataError(f"{where}: annotation {a.get('id')} has no [x, y, w, h] bbox")
        x, y, w, h = bbox
        x1, y1 = max(0.0, x), max(0.0, y)
        x2, y2 = min(float(width), x + w), min(float(height), y + h)
        if x2 <= x1 or y2 <= y1:
            continue  # outside the photo after clipping
        cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
        lines.append(f"0 {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")
    return lines


def coco_to_yolo(
    json_path: str | Path,
    images_dir: str | Path,
    out: str | Path,
    val_fraction: float = 0.1,
    category: str | None = None,
    seed: int = 0,
    skip_bad: bool = False,
) -> CocoReport:
    """Write ``out`` in the YOLO layout from a COCO JSON whose ``file_name`` values lie under
    ``images_dir``; photos are split into train and val by a fixed seed. ``category``: only boxes of that
    category are faces (default: every box). A missing photo or a broken box is an error naming it, or is
    skipped and listed when ``skip_bad``. Photos are hard-linked where possible, else copied."""
    json_path, images_dir, out = Path(json_path), Path(images_dir), Path(out)
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"must be in [0, 1), got {val_fraction}", option="val_fraction")
    coco = _load(json_path)
    wanted = _category_ids(coco, category, json_path)
    by_image: dict[object, list[dict]] = {}
    for a in coco["annotations"]:
        if wanted is None or a.get("category_id") in wanted:
            by_image.setdefault(a.get("image_id"), []).append(a)
    photos = sorted(coco["images"], key=lambda im: str(im.get("file_name")))
    random.Random(seed).shuffle(photos)
    n_val = round(len(photos) * val_fraction)
    report = CocoReport()
    for k, im in enumerate(photos):
        split = "val" if k < n_val else "train"
        try:
            faces = _write_photo(im, by_image.get(im.get("id"), []), images_dir, out, split, json_path)
        except DataError as exc:
            if not skip_bad:
                raise
            report.skipped.append(str(exc))
            continue
        report.images[split] = report.images.get(split, 0) + 1
        report.faces[split] = report.faces.get(split, 0) + faces
    if not report.images:
        raise DataError(f"{json_path}: no photo could be converted")
    report.data_yaml = _write_data_yaml(out, val=bool(report.images.get("val")))
    return report


def _write_photo(im: dict, anns: list[dict], images_dir: Path, out: Path, split: str, json_path: Path) -> int:
    name = str(im.get("file_name") or "")
    src = images_dir / name
    if not name or not src.is_file():
        raise DataError(f"{json_path}: image {name!r} not found under {images_dir}")
    width, height = im.get("width") or 0, im.get("height") or 0
    if not width or not height:
        width, height = image_size(src, oriented=True)
    lines = _yolo_lines(anns, width, height, f"{json_path}: {name}")
    dst = out / "images" / split / Path(name).name
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists():
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    label = out / "labels" / split / (Path(name).stem + ".txt")
    label.parent.mkdir(parents=True, exist_ok=True)
    label.write_text("".join(line + "\n" for line in lines))
    return len(lines)


def _write_data_yaml(out: Path, val: bool) -> Path:
    data = {
        "path": str(out.resolve()),
        "train": "images/train",
        "val": "images/val" if val else "images/train",
    }
    data["names"] = {0: "face"}
    path = out / "data.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def mirror_yolo_data(data_yaml: str | Path, into: str | Path) -> Path:
    """A data.yaml in ``into`` whose image and label files are links to the user's (in folders of its
    own: ultralytics resolves linked folders back to the user's): ultralytics then writes its label caches
    (``labels/<split>.cache``) into ``into``, and the user's folder stays as it was. Splits given as lists
    of files (``train.txt``) are passed on as they are."""
    data_yaml, into = Path(data_yaml).resolve(), Path(into)
    cfg = yaml.safe_load(data_yaml.read_text()) or {}
    root = Path(cfg.get("path") or data_yaml.parent)
    root = root if root.is_absolute() else (data_yaml.parent / root).resolve()
    mirrored = dict(cfg, path=str(into.resolve()))
    for split in ("train", "val", "test", "val_events"):
        entry = cfg.get(split)
        if not isinstance(entry, str) or entry.endswith(".txt"):
            continue
        images = Path(entry) if Path(entry).is_absolute() else root / entry
        if not images.is_dir() or "images" not in images.parts:
            continue
        labels = Path(*[("labels" if p == "images" else p) for p in images.parts])
        _link_files(images, into / "images" / split)
        if labels.is_dir():
            _link_files(labels, into / "labels" / split)
        mirrored[split] = f"images/{split}"
    into.mkdir(parents=True, exist_ok=True)
    path = into / "data.yaml"
    path.write_text(yaml.safe_dump(mirrored, sort_keys=False))
    return path


def _link_files(src: Path, dst: Path) -> None:
    """``dst`` mirrors the tree of ``src``: real folders, each file a link to the original."""
    for dirpath, _dirs, files in os.walk(src, followlinks=True):
        here = dst / Path(dirpath).relative_to(src)
        here.mkdir(parents=True, exist_ok=True)
        for f in files:
            link = here / f
            if not link.is_symlink():
                link.symlink_to(Path(dirpath) / f)
