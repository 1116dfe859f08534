"""How much the classifier's answer moves when the face box moves by a few pixels (prediction stability).

Faces found by the shipped detector on WIDER FACE photos of the events it never trained on (boxes of 32 px
and up) are classified from their own box and from ``--trials`` jittered copies of it: each side moved by
up to ``--px`` pixels or ``--share`` of the box side, whichever is larger (uniform, seeded). Reported per
jitter size: the share of jittered boxes whose top class stays the same (agreement), the mean total
variation distance between the probability vectors (half the L1 distance: 0 same, 1 disjoint), and the mean
change of the original top class's probability. A detector's boxes on the same face move by about this
much between two frames or two photos, so lower is better for users, next to accuracy.

    python -m benchmarks.box_jitter [--photos 150] [--trials 8] [--weights default ...]
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.common import SHARED, environment, held_out_entries, write_result
from ferkit.classifier.predictor import EmotionClassifier
from ferkit.detector.face_detector import FaceDetector
from ferkit.device import Device
from ferkit.imaging.crop import crop_face
from ferkit.imaging.images import read_image
from ferkit.types import Box

JITTERS = {"2 px / 2 %": (2, 0.02), "4 px / 5 %": (4, 0.05), "8 px / 10 %": (8, 0.10)}


def held_out_photos(n: int) -> list:
    held = [SHARED / "wider_face" / "WIDER_train" / "images" / e.path for e in held_out_entries()]
    return [held[i] for i in sorted(np.random.default_rng(0).choice(len(held), min(n, len(held)), False))]


def jittered(box: Box, px: float, share: float, rng, trials: int, width: int, height: int) -> list[Box]:
    out = []
    for _ in range(trials):
        d = rng.uniform(-1, 1, 4) * np.maximum(px, share * np.array([box.width, box.height] * 2))
        x1, y1 = max(0.0, box.x1 + d[0]), max(0.0, box.y1 + d[1])
        x2, y2 = min(float(width), box.x2 + d[2]), min(float(height), box.y2 + d[3])
        out.append(Box(x1, y1, max(x2, x1 + 2), max(y2, y1 + 2)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=150)
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--weights", nargs="+", default=["default"], help="Classifier weights to compare.")
    args = ap.parse_args()
    detector = FaceDetector("default", device="cpu")
    faces = []  # (image, box)
    for path in held_out_photos(args.photos):
        image = read_image(path)
        faces += [(image, d.box) for d in detector.detect(image) if min(d.box.width, d.box.height) >= 32]
    result = {"environment": environment(Device("cpu")), "photos": args.photos, "faces": len(faces),
              "trials": args.trials, "runs": {}}  # fmt: skip
    for weights in args.weights:
        clf = EmotionClassifier.from_pretrained(weights, device="cpu", precision="fp32")
        base = clf.predict_proba([crop_face(im, box, clf.crop) for im, box in faces])
        top = base.argmax(1)
        rows = {}
        for name, (px, share) in JITTERS.items():
            rng = np.random.default_rng(1)
            crops, owner = [], []
            for i, (im, box) in enumerate(faces):
                for b in jittered(box, px, share, rng, args.trials, im.shape[1], im.shape[0]):
                    crops.append(crop_face(im, b, clf.crop))
                    owner.append(i)
            probs = clf.predict_proba(crops)
            owner = np.array(owner)
            ref, rows_i = base[owner], np.arange(len(owner))
            top_change = np.abs(probs[rows_i, top[owner]] - ref[rows_i, top[owner]])
            rows[name] = {
                "agreement": round(float((probs.argmax(1) == top[owner]).mean()), 4),
                "mean_tv_distance": round(float(0.5 * np.abs(probs - ref).sum(1).mean()), 4),
                "mean_top_prob_change": round(float(top_change.mean()), 4),
            }
        result["runs"][weights] = rows
        print(weights, rows)
    write_result("box_jitter", result)


if __name__ == "__main__":
    main()
