"""What ``--tile`` buys on large photos with small faces, and what it costs.

Large photos are made from WIDER FACE photos of the events the shipped detector never trained on: 2 x 2
mosaics of four photos, each enlarged ``--zoom`` times (so a 640 px photo becomes a 2560 px mosaic side at
zoom 2, and the detector's ``auto`` ceiling of 960 px shrinks it 2.7 times). They are written in the
official WIDER FACE val layout and scored by ``fer eval-detector``'s code, with and without ``--tile``:
F1 at the default confidence, AP at IoU 0.5 (faces of 24 px and up) and the kit's AP over all valid faces,
and photos/s of detection alone (decode included).

    python -m benchmarks.tiling [--mosaics 40] [--zoom 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import SHARED, environment, held_out_entries, write_result
from ferkit.detector.evaluate import evaluate_detector
from ferkit.detector.face_detector import FaceDetector
from ferkit.device import Device


def make_mosaics(out: Path, n: int, zoom: float) -> list[Path]:
    """``n`` 2 x 2 mosaics of held-out photos (each ``zoom`` x), with a wider_face_val_bbx_gt.txt."""
    root = SHARED / "wider_face"
    held = held_out_entries()
    order = np.random.default_rng(0).permutation(len(held))
    lines, paths = [], []
    for m in range(n):
        quad = [held[i] for i in order[4 * m : 4 * m + 4]]
        photos = [cv2.imread(str(root / "WIDER_train" / "images" / e.path)) for e in quad]
        cell_w = int(max(p.shape[1] for p in photos) * zoom)
        cell_h = int(max(p.shape[0] for p in photos) * zoom)
        mosaic = np.full((2 * cell_h, 2 * cell_w, 3), 127, np.uint8)
        boxes = []
        for k, (e, photo) in enumerate(zip(quad, photos, strict=True)):
            x0, y0 = (k % 2) * cell_w, (k // 2) * cell_h
            big = cv2.resize(photo, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_LINEAR)
            mosaic[y0 : y0 + big.shape[0], x0 : x0 + big.shape[1]] = big
            for (x, y, w, h), attrs in zip(e.boxes, e.attributes, strict=True):
                boxes.append((x * zoom + x0, y * zoom + y0, w * zoom, h * zoom, *attrs))
        name = f"0--Mosaic/mosaic_{m:03d}.jpg"
        path = out / "WIDER_val" / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), mosaic, [cv2.IMWRITE_JPEG_QUALITY, 92])
        paths.append(path)
        lines += [name, str(len(boxes))] + [" ".join(f"{v:g}" for v in b) for b in boxes]
    gt = out / "wider_face_split" / "wider_face_val_bbx_gt.txt"
    gt.parent.mkdir(parents=True, exist_ok=True)
    gt.write_text("\n".join(lines) + "\n")
    return paths


def speed(paths: list[Path], tile: bool) -> float:
    from ferkit.imaging.images import read_image

    det = FaceDetector("default", device="cpu", tile=tile)
    det.detect(read_image(paths[0]))  # warm-up
    t0 = time.perf_counter()
    for p in paths:
        det.detect(read_image(p))
    return round(len(paths) / (time.perf_counter() - t0), 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mosaics", type=int, default=40)
    ap.add_argument("--zoom", type=float, default=2.0)
    args = ap.parse_args()
    result = {"environment": environment(Device("cpu")), "mosaics": args.mosaics, "zoom": args.zoom}
    result["runs"] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_mosaics(Path(tmp), args.mosaics, args.zoom)
        h, w = cv2.imread(str(paths[0])).shape[:2]
        result["first_mosaic_px"] = [w, h]
        for tile in (False, True):
            report = evaluate_detector("default", tmp, device="cpu", tile=tile, progress=False)
            split = report.splits["wider_val"]
            result["runs"]["tile" if tile else "auto"] = {
                "f1": round(split.at_conf["f1"], 4),
                "recall": round(split.at_conf["recall"], 4),
                "precision": round(split.at_conf["precision"], 4),
                "ap": round(split.ap, 4),
                "ap_by_size": {k: round(v, 4) for k, v in split.ap_by_size.items()},
                "kit_ap_all_valid_faces": round(split.official_ap["all"], 4),
                "faces": split.faces,
                "photos_per_s": speed(paths, tile),
            }
            print("tile" if tile else "auto", result["runs"]["tile" if tile else "auto"])
    write_result("tiling" if args.zoom == 2 else f"tiling_zoom{args.zoom:g}", result)


if __name__ == "__main__":
    main()
