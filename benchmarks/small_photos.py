"""Small photos: detect at the photo's own size (rounded up to the stride), or enlarged toward ``imgsz``?

Two sets, each run at several ``min_side`` (a photo is enlarged only until its long side reaches it; 0:
its own size; 512: always to imgsz), with the same weights and backend:

- WIDER FACE photos of the events the shipped detector never trained on, shrunk to 350 px on their long
  side (ground truth scaled with them); faces of 12 px and up count; P/R/F1 at IoU 0.5;
- close-up portraits (FER2013 val faces at 192 px with a 0-20 % border, as ``benchmarks/closeups.py``).

Speed is images/s one photo at a time (as a user with a folder of portraits, batch 1) and in batches of 8.

    python -m benchmarks.small_photos [--side 350] [--limit-closeups 1000]
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from benchmarks.closeups import closeup, found
from benchmarks.common import SHARED, environment, write_result
from ferkit.boxes import detection_arrays
from ferkit.datasets.wider import find_wider_layout, parse_wider_gt
from ferkit.datasets.wider_split import event_of
from ferkit.detector.face_detector import FaceDetector
from ferkit.detector.metrics import FP, TP, match_image
from ferkit.imaging.images import is_image_file


def wider_small(det: FaceDetector, side: int) -> tuple[list[np.ndarray], list]:
    images, gt = find_wider_layout(SHARED / "wider_face")
    held_out = set((det.recorded_split or {}).get("val_events") or [])
    photos, truth = [], []
    for im in parse_wider_gt(gt):
        if event_of(im.path) not in held_out:
            continue
        img = cv2.imread(str(images / im.path))
        s = side / max(img.shape[:2])
        photos.append(cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA))
        b = im.boxes.astype(np.float64) * s
        truth.append((np.c_[b[:, :2], b[:, :2] + b[:, 2:]], im.invalid))
    return photos, truth


def prf(det: FaceDetector, photos, truth, min_size: float) -> dict:
    tp = fp = n = 0
    for dets, (gt, invalid) in zip(det.detect(photos), truth, strict=True):
        status, faces = match_image(*detection_arrays(dets), gt, invalid, 0.5, min_size)
        tp += int((status == TP).sum())
        fp += int((status == FP).sum())
        n += faces
    p, r = tp / max(tp + fp, 1), tp / max(n, 1)
    return {
        "faces": n,
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(2 * p * r / max(p + r, 1e-9), 4),
    }


def speed(det: FaceDetector, photos, batch: int) -> float:
    det.detect(photos[:batch])
    t0 = time.perf_counter()
    for i in range(0, len(photos), batch):
        det.detect(photos[i : i + batch])
    return round(len(photos) / (time.perf_counter() - t0), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side", type=int, default=350)
    ap.add_argument("--limit-closeups", type=int, default=1000)
    ap.add_argument("--min-size", type=float, default=12.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--min-sides", type=int, nargs="+", default=[512, 0, 256, 320, 384])
    args = ap.parse_args()
    result: dict = {"side": args.side, "min_size": args.min_size}
    base = FaceDetector(device=args.device, backend=args.backend)
    photos, truth = wider_small(base, args.side)
    files = sorted(p for p in (SHARED / "fer2013" / "val").rglob("*") if is_image_file(p))
    files = [files[i] for i in np.random.default_rng(0).permutation(len(files))[: args.limit_closeups]]
    rng = np.random.default_rng(0)
    portraits = [closeup(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), rng) for p in files]
    for min_side in args.min_sides:
        det = FaceDetector(device=args.device, min_side=min_side, backend=args.backend)
        key = f"min_side_{min_side}"
        hits = sum(
            found(d, box)
            for d, (_, box) in zip(det.detect([p for p, _ in portraits]), portraits, strict=True)
        )
        result[key] = {
            "wider_small": prf(det, photos, truth, args.min_size),
            "wider_small_images_per_s": {
                "batch1": speed(det, photos[:200], 1),
                "batch8": speed(det, photos, 8),
            },
            "closeups_found": round(hits / len(portraits), 4),
            "closeups_images_per_s_batch1": speed(det, [p for p, _ in portraits[:300]], 1),
        }
        print(key, result[key], flush=True)
    result["photos"] = {"wider_small": len(photos), "closeups": len(portraits)}
    result["backend"] = base.backend
    result["environment"] = environment(base.device)
    write_result("small_photos", result)


if __name__ == "__main__":
    main()
