"""Measure the crop margin that fits a classifier, on faces framed by ferkit's detector.

Val faces of a dataset (FER2013 or ExpW: 48x48 crops) are scaled up and pasted at random places into
blurred WIDER FACE photos. The detector runs on each canvas; for the detection that overlaps the pasted
face we record

- the geometric margin that grows the detector's (squared) box back to the pasted square, and its centre
  offset (how the detector frames a face compared with the dataset's crops), and
- the classifier's accuracy on the detector crop cut with each candidate margin.

The margin with the best mean accuracy over the datasets (ties: the one nearest the geometric margin) is the
one to store in the classifier checkpoint (``fer train-classifier --crop-margin``, or
``export_checkpoint(crop=...)``).

    python -m benchmarks.crop_margin [--faces fer2013 expw] [--n 600] [--classifier default]
"""

from __future__ import annotations

import argparse
import random
import statistics
from dataclasses import replace

import cv2
import numpy as np

from benchmarks.common import SHARED, environment, write_result
from ferkit.boxes import detection_arrays, iou_matrix
from ferkit.classifier.predictor import EmotionClassifier
from ferkit.detector.face_detector import FaceDetector
from ferkit.imaging.crop import crop_face

MARGINS = (-0.1, -0.05, 0.0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3)


def canvases(dataset: str, n: int, seed: int = 0):
    """Yield (canvas BGR, pasted square x1, y1, size, class name) with a val face in a blurred WIDER photo."""
    rng = random.Random(seed)
    faces = sorted((SHARED / dataset / "val").glob("*/*.jpg"))
    photos = sorted((SHARED / "wider_face" / "WIDER_train" / "images").glob("*/*.jpg"))
    for _ in range(n):
        path = rng.choice(faces)
        face = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        bg = cv2.imread(str(rng.choice(photos)))
        bg = cv2.GaussianBlur(cv2.resize(bg, (640, 480)), (0, 0), 8)
        size = rng.randint(64, 200)
        x, y = rng.randint(0, 640 - size), rng.randint(0, 480 - size)
        bg[y : y + size, x : x + size] = cv2.cvtColor(cv2.resize(face, (size, size)), cv2.COLOR_GRAY2BGR)
        yield bg, (x, y, size), path.parent.name


def measure(dataset: str, det: FaceDetector, clf: EmotionClassifier, n: int) -> dict:
    margins, dx, dy = [], [], []
    crops: dict[float, list[np.ndarray]] = {m: [] for m in MARGINS}
    labels: list[str] = []
    for canvas, (x, y, s), label in canvases(dataset, n):
        dets = det.detect(canvas)
        if not dets:
            continue
        ious = iou_matrix(detection_arrays(dets)[0], np.array([[x, y, x + s, y + s]]))[:, 0]
        best = int(np.argmax(ious))
        if ious[best] < 0.3:
            continue
        b = dets[best].box
        side = max(b.width, b.height)
        margins.append((s / side - 1) / 2)
        dx.append(((b.x1 + b.x2) / 2 - (x + s / 2)) / s)
        dy.append(((b.y1 + b.y2) / 2 - (y + s / 2)) / s)
        labels.append(label)
        for m in MARGINS:
            crops[m].append(crop_face(canvas, b, replace(clf.crop, margin=m)))
    y_true = np.array([clf.class_names.index(c) for c in labels])
    acc = {
        m: float((clf.predict_proba(crops[m]).argmax(1) == y_true).mean()) if labels else 0.0 for m in MARGINS
    }
    geometric = statistics.median(margins) if margins else 0.0
    best_margin = max(MARGINS, key=lambda m: (round(acc[m], 3), -abs(m - geometric)))
    return {
        "faces": dataset,
        "canvases": n,
        "faces_found": len(labels),
        "median_margin": round(geometric, 3),
        "margin_quartiles": [round(float(q), 3) for q in np.percentile(margins, [25, 75])]
        if margins
        else None,
        "median_centre_offset_x": round(statistics.median(dx), 3) if dx else None,
        "median_centre_offset_y": round(statistics.median(dy), 3) if dy else None,
        "accuracy_by_margin": {str(m): round(a, 4) for m, a in acc.items()},
        "best_margin": best_margin,
    }


def recommend(by_dataset: dict) -> float:
    """The margin with the best mean accuracy over the datasets (to 0.01: differences below that are noise
    at a few hundred faces), ties going to the one nearest the mean geometric margin."""
    geometric = float(np.mean([r["median_margin"] for r in by_dataset.values()]))
    mean_acc = {m: np.mean([r["accuracy_by_margin"][str(m)] for r in by_dataset.values()]) for m in MARGINS}
    return max(MARGINS, key=lambda m: (round(float(mean_acc[m]), 2), -abs(m - geometric)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument(
        "--faces", nargs="+", default=["fer2013", "expw"], help="datasets under the shared folder"
    )
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--weights", default="default", help="detector weights")
    ap.add_argument("--classifier", default="default", help="classifier weights")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    det = FaceDetector(args.weights, conf=0.05, device=args.device)
    clf = EmotionClassifier.from_pretrained(args.classifier, det.device)
    result = {
        "what": "crop margin around detector boxes: geometric fit to the dataset's crops, and classifier "
        "accuracy by margin",
        "detector": str(det.weights),
        "classifier": args.classifier,
        "stored_margin": clf.crop.margin,
        "by_dataset": {},
    }
    for dataset in args.faces:
        r = measure(dataset, det, clf, args.n)
        result["by_dataset"][dataset] = r
        print(dataset, {k: v for k, v in r.items() if k != "faces"})
    result["recommended_margin"] = recommend(result["by_dataset"])
    print("recommended margin (best mean accuracy over the datasets):", result["recommended_margin"])
    result["environment"] = environment(det.device)
    write_result("crop_margin", result)


if __name__ == "__main__":
    main()
