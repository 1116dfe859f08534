"""Close-ups: the share of frame-filling faces the detector finds.

Each FER2013 val and ExpW val face (48x48 grey) is upscaled to 192 px and padded on every side by a random
0-20 % of that size (seeded; the border is the face's median grey), so the face fills most of the photo,
as in portraits. ``--cover S``: a dark, noisy band (hair, a hand, a scarf) also covers up to S of the face
from a random side (top, left, right or bottom), as in the frame-filling, partly covered faces users meet.
A face counts as found when the detector returns, at its operating confidence, a box whose
centre lies on the 192 px face and whose shorter side is at least a quarter of it. Photos with more than
one box are counted too: each has one face, so the others are false faces.

    python -m benchmarks.closeups [--weights default] [--limit 0] [--rescue/--no-rescue]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import SHARED, environment, write_result
from ferkit.detector.defaults import DEFAULT_CONF, DEFAULT_CONTAINED, DEFAULT_IMGSZ
from ferkit.detector.face_detector import FaceDetector
from ferkit.imaging.images import is_image_file

SIDE = 192
MAX_BORDER = 0.2


def closeup(
    face: np.ndarray, rng: np.random.Generator, cover: float = 0.0
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The face upscaled and padded, as a BGR photo, and the face's box (x1, y1, x2, y2) in it."""
    big = cv2.resize(face, (SIDE, SIDE), interpolation=cv2.INTER_CUBIC)
    if cover > 0:
        band = max(1, round(rng.uniform(0.5, 1.0) * cover * SIDE))
        dark = rng.integers(10, 50, (SIDE, SIDE)).astype(np.uint8)
        edge, rest = slice(0, band), slice(None)
        far = slice(SIDE - band, None)
        region = [(edge, rest), (rest, edge), (rest, far), (far, rest)][rng.integers(4)]  # a side
        big[region] = dark[region]
    b = round(rng.uniform(0.0, MAX_BORDER) * SIDE)
    fill = int(np.median(face))
    photo = cv2.copyMakeBorder(big, b, b, b, b, cv2.BORDER_CONSTANT, value=fill)
    return cv2.cvtColor(photo, cv2.COLOR_GRAY2BGR), (b, b, b + SIDE, b + SIDE)


def found(dets, box: tuple[int, int, int, int]) -> bool:
    x1, y1, x2, y2 = box
    for d in dets:
        cx, cy = (d.box.x1 + d.box.x2) / 2, (d.box.y1 + d.box.y2) / 2
        side = min(d.box.x2 - d.box.x1, d.box.y2 - d.box.y1)
        if x1 <= cx <= x2 and y1 <= cy <= y2 and side >= (x2 - x1) / 4:
            return True
    return False


def score(det: FaceDetector, root: Path, limit: int, seed: int, batch: int = 16, cover: float = 0.0) -> dict:
    files = sorted(p for p in root.rglob("*") if is_image_file(p))
    if limit:
        files = [files[i] for i in np.random.default_rng(seed).permutation(len(files))[:limit]]
    rng = np.random.default_rng(seed)
    hits, extra, per_class = 0, 0, {}
    t0 = time.perf_counter()
    for i in range(0, len(files), batch):
        chunk = files[i : i + batch]
        made = [closeup(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), rng, cover) for p in chunk]
        for p, (_, box), dets in zip(chunk, made, det.detect([m[0] for m in made]), strict=True):
            ok = found(dets, box)
            hits += ok
            extra += len(dets) > 1  # one face per photo: more boxes are false faces
            c = per_class.setdefault(p.parent.name, [0, 0])
            c[0] += ok
            c[1] += 1
    return {
        "faces": len(files),
        "found": hits,
        "share_found": hits / max(len(files), 1),
        "photos_with_extra_boxes": extra,
        "per_class": {k: round(v[0] / v[1], 4) for k, v in sorted(per_class.items())},
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--weights", default="default")
    ap.add_argument("--imgsz", default=DEFAULT_IMGSZ, help="pixels, or auto")
    ap.add_argument("--conf", type=float, default=DEFAULT_CONF)
    ap.add_argument("--limit", type=int, default=0, help="faces per dataset (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--contained", type=float, default=DEFAULT_CONTAINED, help="as FaceDetector's (2: off)")
    ap.add_argument("--name", default="closeups")
    ap.add_argument("--cover", type=float, default=0.0, help="cover up to this share of each face (0: none)")
    args = ap.parse_args()
    det = FaceDetector(
        args.weights, conf=args.conf, imgsz=args.imgsz, device=args.device, contained=args.contained
    )
    result = {
        "weights": args.weights,
        "imgsz": args.imgsz,
        "conf": args.conf,
        "side": SIDE,
        "max_border": MAX_BORDER,
        "contained": args.contained,
        "cover": args.cover,
        "environment": environment(det.device),
    }
    for name in ("fer2013", "expw"):
        result[name] = score(det, SHARED / name / "val", args.limit, args.seed, cover=args.cover)
        r = result[name]
        print(
            f"{name} val: {r['found']} of {r['faces']} found ({r['share_found']:.4f}), "
            f"{r['photos_with_extra_boxes']} with extra boxes  {r['per_class']}"
        )
    write_result(args.name, result)


if __name__ == "__main__":
    main()
