"""Measure the crop margin that makes detector crops look like FER2013 training crops.

FER2013 val faces (tight 48x48 crops) are scaled up and pasted at random places into blurred WIDER FACE
photos. The detector runs on each canvas; for the detection that overlaps the pasted face, we compute the
margin that grows the detector's (squared) box back to the pasted square, and its centre offset. The median
margin is the default the pipeline should use.

    python benchmarks/crop_margin.py [--n 600] [--weights default]
"""

from __future__ import annotations

import argparse
import random
import statistics

import cv2
import numpy as np

from benchmarks.common import SHARED, environment, write_result
from ferkit.detector.face_detector import FaceDetector
from ferkit.detector.metrics import iou_matrix


def canvases(n: int, seed: int = 0):
    """Yield (canvas BGR, pasted square x1, y1, size) with a FER val face in a blurred WIDER photo."""
    rng = random.Random(seed)
    faces = sorted((SHARED / "fer2013" / "val").glob("*/*.jpg"))
    photos = sorted((SHARED / "wider_face" / "WIDER_train" / "images").glob("*/*.jpg"))
    for _ in range(n):
        face = cv2.imread(str(rng.choice(faces)), cv2.IMREAD_GRAYSCALE)
        bg = cv2.imread(str(rng.choice(photos)))
        bg = cv2.GaussianBlur(cv2.resize(bg, (640, 480)), (0, 0), 8)
        size = rng.randint(64, 200)
        x, y = rng.randint(0, 640 - size), rng.randint(0, 480 - size)
        bg[y : y + size, x : x + size] = cv2.cvtColor(cv2.resize(face, (size, size)), cv2.COLOR_GRAY2BGR)
        yield bg, (x, y, size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--weights", default="default")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    det = FaceDetector(args.weights, conf=0.05, device=args.device)
    margins, dx, dy, found = [], [], [], 0
    for canvas, (x, y, s) in canvases(args.n):
        dets = det.detect(canvas)
        if not dets:
            continue
        boxes = np.array([[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in dets])
        ious = iou_matrix(boxes, np.array([[x, y, x + s, y + s]]))[:, 0]
        best = int(np.argmax(ious))
        if ious[best] < 0.3:
            continue
        found += 1
        b = dets[best].box
        side = max(b.width, b.height)
        margins.append((s / side - 1) / 2)
        dx.append(((b.x1 + b.x2) / 2 - (x + s / 2)) / s)
        dy.append(((b.y1 + b.y2) / 2 - (y + s / 2)) / s)
    result = {
        "what": "margin that turns a detector box (squared) into a FER2013-like crop",
        "weights": str(det.weights),
        "canvases": args.n,
        "faces_found": found,
        "median_margin": round(statistics.median(margins), 3) if margins else None,
        "margin_quartiles": [round(float(q), 3) for q in np.percentile(margins, [25, 75])]
        if margins
        else None,
        "median_centre_offset_x": round(statistics.median(dx), 3) if dx else None,
        "median_centre_offset_y": round(statistics.median(dy), 3) if dy else None,
        "environment": environment(det.device),
    }
    for k, v in result.items():
        print(f"{k}: {v}")
    write_result("crop_margin", result)


if __name__ == "__main__":
    main()
