"""Close-up training photos for the detector: faces that fill 30-100 % of the frame.

WIDER FACE has few frame-filling faces, so a detector trained on it misses portraits. This adds two kinds
of photos to a YOLO data set's train split:

- *zoom-ins*: square windows cut around an annotated train face so that it fills ``fill`` of the window,
  resized to 192-640 px; every face mostly inside the window keeps its label;
- *pasted faces*: face crops (FER2013 / ExpW style, ROOT/train/**) scaled up onto a heavily blurred
  train photo or a plain background, blended at the edges; the label is the crop less a small inset.

``cover_share`` of the photos also get their largest face partly covered (a dark, noisy band over 20-40 %
of it from a random side: hair, a hand, a scarf), its label still the whole face: the detector's weakest
case (``benchmarks/closeups.py --cover``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml

from ferkit.boxes import box_area
from ferkit.datasets.wider_split import SPLIT_KEY
from ferkit.datasets.yolo import load_data_yaml, read_labels, read_split, splits_in
from ferkit.detector.defaults import CLOSEUPS_N
from ferkit.errors import DataError
from ferkit.imaging.images import is_image_file, read_image

FILL = (0.3, 1.0)  # face side / frame side
SIDE = (192, 640)  # longer side of a written photo, pixels
INSET = 0.04  # a face crop's label: the crop less this share of its side on every side
MIN_FACE = 40  # zoom-ins start from faces at least this large (shorter side, pixels)
DEFAULT_N = CLOSEUPS_N  # close-up photos written by default
KEEP_VISIBLE = 0.6  # a face cut by a zoom-in window keeps its label when this share of it is inside
COVER = (0.2, 0.4)  # share of a covered face's side under the band


def cover_face(photo: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``photo`` with a dark, noisy band over ``COVER`` of the face ``box`` (x1, y1, x2, y2) from a random
    side, as hair or a hand covers a face; a copy."""
    out = photo.copy()
    h, w = out.shape[:2]
    x1, y1, x2, y2 = (int(v + 0.5) for v in np.clip(box, 0, [w, h, w, h]))
    side = int(rng.integers(4))  # top, left, right, bottom
    depth = rng.uniform(*COVER) * ((y2 - y1) if side in (0, 3) else (x2 - x1))
    d = max(1, int(depth))
    region = [(slice(y1, y1 + d), slice(x1, x2)), (slice(y1, y2), slice(x1, x1 + d)),
              (slice(y1, y2), slice(x2 - d, x2)), (slice(y2 - d, y2), slice(x1, x2))][side]  # fmt: skip
    patch = out[region]
    out[region] = rng.integers(10, 50, patch.shape[:2])[..., None].astype(np.uint8)
    return out


@dataclass
class CloseupReport:
    zoom_ins: int = 0
    pasted: int = 0
    covered: int = 0
    faces: int = 0
    data_yaml: str = ""
    sources: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _face_files(roots: Sequence[str | Path]) -> list[Path]:
    files: list[Path] = []
    for root in map(Path, roots):
        base = root / "train" if (root / "train").is_dir() else root
        if not base.is_dir():
            raise DataError(f"face folder not found: {root}")
        found = sorted(p for p in base.rglob("*") if is_image_file(p))
        if not found:
            raise DataError(f"{base}: no face images")
        files += found
    return files


def _yolo_line(box: np.ndarray, w: int, h: int) -> str:
    x1, y1, x2, y2 = box
    return f"0 {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"


def zoom_in(image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator):
    """A window around one of ``boxes`` (x1, y1, x2, y2) that it fills ``FILL`` of: (photo, boxes) or None."""
    h, w = image.shape[:2]
    sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    big = np.flatnonzero(sides >= MIN_FACE)
    if not len(big):
        return None
    x1, y1, x2, y2 = boxes[rng.choice(big)]
    face = max(x2 - x1, y2 - y1)
    win = min(face / rng.uniform(*FILL), w, h)
    cx = (x1 + x2) / 2 + rng.uniform(-0.5, 0.5) * max(win - (x2 - x1), 0)
    cy = (y1 + y2) / 2 + rng.uniform(-0.5, 0.5) * max(win - (y2 - y1), 0)
    wx = float(np.clip(cx - win / 2, 0, w - win))
    wy = float(np.clip(cy - win / 2, 0, h - win))
    crop = image[int(wy) : int(wy + win), int(wx) : int(wx + win)]
    clipped = np.c_[
        np.maximum(boxes[:, 0], wx), np.maximum(boxes[:, 1], wy),
        np.minimum(boxes[:, 2], wx + win), np.minimum(boxes[:, 3], wy + win),
    ]  # fmt: skip
    keep = box_area(clipped) >= KEEP_VISIBLE * np.maximum(box_area(boxes), 1e-9)
    side = int(rng.integers(SIDE[0], SIDE[1] + 1))
    scale = side / crop.shape[0]
    photo = cv2.resize(crop, (side, side), interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
    out = (clipped[keep] - [wx, wy, wx, wy]) * scale
    return photo, out


def paste_face(face: np.ndarray, background: np.ndarray | None, rng: np.random.Generator):
    """A grey face crop, scaled to fill ``FILL`` of a new grey photo: (photo, boxes)."""
    long_side = int(rng.integers(SIDE[0], SIDE[1] + 1))
    aspect = rng.uniform(0.75, 1.33)
    w, h = (long_side, int(long_side / aspect)) if aspect >= 1 else (int(long_side * aspect), long_side)
    s = max(int(rng.uniform(*FILL) * min(w, h)), 16)
    if background is not None:
        bg = cv2.cvtColor(cv2.resize(background, (w, h), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        bg = cv2.GaussianBlur(bg, (0, 0), sigmaX=max(w, h) / 25)
    else:
        noise = rng.normal(0, 6, (h, w))
        bg = (rng.integers(20, 236) + noise).clip(0, 255).astype(np.uint8)
    x, y = int(rng.integers(0, w - s + 1)), int(rng.integers(0, h - s + 1))
    big = cv2.resize(face, (s, s), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    ramp = np.minimum(np.arange(s), np.arange(s)[::-1]) / max(s * 0.08, 1.0)
    alpha = np.clip(np.minimum.outer(ramp, ramp), 0, 1)  # feathered edges
    region = bg[y : y + s, x : x + s].astype(np.float32)
    bg[y : y + s, x : x + s] = (alpha * big + (1 - alpha) * region).round().clip(0, 255).astype(np.uint8)
    i = INSET * s
    return cv2.cvtColor(bg, cv2.COLOR_GRAY2BGR), np.array([[x + i, y + i, x + s - i, y + s - i]])


def make_closeups(
    data_yaml: str | Path,
    out: str | Path,
    face_roots: Sequence[str | Path] = (),
    n: int = DEFAULT_N,
    seed: int = 0,
    grey_share: float = 0.3,
    progress: Callable | None = None,
    cover_share: float = 0.0,
) -> CloseupReport:
    """Write ``n`` close-up photos (half pasted faces when ``face_roots`` are given) to ``out`` and a
    ``data.yaml`` whose train split is the source's train split plus these; val splits are the source's."""
    if n < 1:
        raise DataError(f"must be >= 1, got {n}", option="n")
    if not 0.0 <= cover_share <= 1.0:
        raise DataError(f"must be in [0, 1], got {cover_share}", option="cover_share")
    data_yaml = Path(data_yaml)
    train = read_split(data_yaml, "train")
    faces = _face_files(face_roots)
    out = Path(out)
    (out / "images" / "train").mkdir(parents=True, exist_ok=True)
    (out / "labels" / "train").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cover_rng = np.random.default_rng([seed, 1])  # its own stream: the same photos with or without covers
    report = CloseupReport(sources={"train_photos": len(train.images), "face_crops": len(faces)})
    n_paste = n // 2 if faces else 0
    steps = range(n)
    for k in progress(steps) if progress else steps:
        j = int(rng.integers(len(train.images)))
        photo_path = train.images[j]
        if k < n_paste:
            face_path = faces[int(rng.integers(len(faces)))]
            face = cv2.imread(str(face_path), cv2.IMREAD_GRAYSCALE)
            if face is None:
                raise DataError(f"{face_path}: not an image")
            bg = read_image(photo_path) if rng.random() < 0.6 else None
            photo, boxes = paste_face(face, bg, rng)
            report.pasted += 1
        else:
            made = None
            for _ in range(50):  # photos without a large enough face are passed over
                image = read_image(photo_path)
                made = zoom_in(image, read_labels(train.labels[j], image.shape[1], image.shape[0]), rng)
                if made is not None:
                    break
                j = int(rng.integers(len(train.images)))
                photo_path = train.images[j]
            if made is None:
                raise DataError(f"{data_yaml}: no train faces of {MIN_FACE} px or more to zoom in on")
            photo, boxes = made
            if rng.random() < grey_share:
                photo = cv2.cvtColor(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
            report.zoom_ins += 1
        if cover_share and cover_rng.random() < cover_share:
            photo = cover_face(photo, boxes[int(np.argmax(box_area(np.asarray(boxes, float))))], cover_rng)
            report.covered += 1
        name = f"closeup_{k:06d}"
        cv2.imwrite(str(out / "images" / "train" / f"{name}.jpg"), photo, [cv2.IMWRITE_JPEG_QUALITY, 90])
        h, w = photo.shape[:2]
        lines = [_yolo_line(np.clip(b, 0, [w, h, w, h]), w, h) for b in boxes]
        (out / "labels" / "train" / f"{name}.txt").write_text("".join(line + "\n" for line in lines))
        report.faces += len(lines)
    report.data_yaml = str(_write_yaml(data_yaml, out))
    return report


def _write_yaml(source: Path, out: Path) -> Path:
    cfg = load_data_yaml(source)
    splits = {s: read_split(source, s) for s in splits_in(source)}
    dirs = {s: sorted({str(p.parent) for p in v.images}) for s, v in splits.items()}
    dirs["train"].append(str((out / "images" / "train").resolve()))
    d = {"path": str(out.resolve()), **{s: v if len(v) > 1 else v[0] for s, v in dirs.items()}}
    d["names"] = cfg.get("names", {0: "face"})
    if SPLIT_KEY in cfg:
        d[SPLIT_KEY] = cfg[SPLIT_KEY]
    path = out / "data.yaml"
    path.write_text(f"# {source} plus close-ups made by ferkit\n" + yaml.safe_dump(d, sort_keys=False))
    return path
