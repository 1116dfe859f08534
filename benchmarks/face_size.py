"""How the classifier's accuracy falls with face size and blur: the curve behind the readable-size threshold.

Val faces of FER2013 and ExpW (48x48 crops) are shrunk to a side of 8-96 px and pasted at random places
into blurred WIDER FACE photos, as ``benchmarks.crop_margin`` pastes them. The shipped detector runs on each
canvas (conf 0.05, so that pairs exist at every size); for the detection that overlaps the pasted face (or,
where it misses it, the box as the detector frames such faces) the classifier reads the crop cut the
pipeline's way. Accuracy is binned by the detector box's shorter side (what the pipeline knows
at run time), and by the crop's sharpness (Laplacian variance, ``ferkit.imaging.sharpness``).

The readable size is the smallest bin from which accuracy (mean over the datasets) stays at ``--ratio`` (90 %)
or more of the accuracy on faces of 32 px and more: below it, accuracy falls steeply toward chance.

    python -m benchmarks.face_size [--n 150] [--sizes 8 10 12 14 16 20 24 32 48 64]
"""

from __future__ import annotations

import argparse
import itertools
import random

import cv2
import numpy as np

from benchmarks.common import SHARED, environment, write_result
from ferkit.boxes import detection_arrays, iou_matrix
from ferkit.classifier.predictor import EmotionClassifier
from ferkit.detector.face_detector import FaceDetector
from ferkit.imaging.crop import crop_face
from ferkit.imaging.sharpness import laplacian_var
from ferkit.types import Box

DETECTOR_MARGIN = 0.036  # mean of crop_margin.json's median margins (FER2013 0.028, ExpW 0.044)

SIZES = (8, 10, 12, 14, 16, 18, 20, 24, 28, 32, 40, 48, 64, 96)
REFERENCE_SIDE = 32  # faces this big read as well as the classifier's own 48 px inputs
MIN_BIN = 20  # bins with fewer faces are too noisy to set the threshold
BINS = (0, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 10_000)  # detector box shorter side, pixels


def canvases(dataset: str, sizes: tuple[int, ...], n: int, seed: int = 0):
    """Yield (canvas, pasted square (x, y, side), class name): ``n`` val faces per size."""
    rng = random.Random(seed)
    faces = sorted((SHARED / dataset / "val").glob("*/*.jpg"))
    photos = sorted((SHARED / "wider_face" / "WIDER_train" / "images").glob("*/*.jpg"))
    for size in sizes:
        for _ in range(n):
            path = rng.choice(faces)
            face = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            bg = cv2.GaussianBlur(cv2.resize(cv2.imread(str(rng.choice(photos))), (640, 480)), (0, 0), 8)
            x, y = rng.randint(0, 640 - size), rng.randint(0, 480 - size)
            small = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
            bg[y : y + size, x : x + size] = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
            yield bg, (x, y, size), path.parent.name


def framed_box(x: int, y: int, s: int) -> Box:
    """The box the detector gives a pasted square of side ``s``, by its framing measured on pasted faces it
    finds (``crop_margin.json``: the square is the box grown by about 3.6 % a side)."""
    side = s / (1 + 2 * DETECTOR_MARGIN)
    cx, cy = x + s / 2, y + s / 2
    return Box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def measure(dataset: str, det: FaceDetector, clf: EmotionClassifier, sizes, n: int) -> dict:
    """Per pasted face: the box's shorter side, the crop's sharpness, whether the class was right, and
    whether the detector found it (else the box is :func:`framed_box`: small pasted faces on a blurred
    photo are seldom found, while real faces of that size are)."""
    side, sharp, right, found = [], [], [], []
    found_by_size = dict.fromkeys(sizes, 0)
    for canvas, (x, y, s), label in canvases(dataset, sizes, n):
        box, hit = framed_box(x, y, s), False
        dets = det.detect(canvas)
        if dets:
            ious = iou_matrix(detection_arrays(dets)[0], np.array([[x, y, x + s, y + s]]))[:, 0]
            best = int(np.argmax(ious))
            if ious[best] >= 0.3:
                box, hit = dets[best].box, True
                found_by_size[s] += 1
        crop = crop_face(canvas, box, clf.crop)
        side.append(min(box.width, box.height))
        sharp.append(float(laplacian_var(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)[None])[0]))
        right.append(clf.class_names[int(clf.predict_proba([crop])[0].argmax())] == label)
        found.append(hit)
    return {
        "found_by_pasted_size": {str(s): round(found_by_size[s] / n, 3) for s in sizes},
        "side": side,
        "sharpness": sharp,
        "right": right,
        "found": found,
    }


def binned(side: np.ndarray, right: np.ndarray) -> dict[str, dict]:
    """Accuracy and count per box-side bin."""
    out = {}
    for lo, hi in itertools.pairwise(BINS):
        m = (side >= lo) & (side < hi)
        key = f"{lo}-{hi}" if hi < 10_000 else f"{lo}+"
        out[key] = {"faces": int(m.sum()), "accuracy": round(float(right[m].mean()), 4) if m.any() else None}
    return out


def readable_size(curves: dict[str, dict], reference: float, ratio: float) -> int:
    """The smallest bin start from which every bin's mean accuracy (over datasets) reaches ``ratio`` of
    ``reference`` (the mean accuracy on faces of ``REFERENCE_SIDE`` px and more)."""
    keys = list(next(iter(curves.values())).keys())
    mean = {}
    for k in keys:
        accs = [c[k]["accuracy"] for c in curves.values() if c[k]["faces"] >= MIN_BIN]
        if accs:
            mean[k] = float(np.mean(accs))
    ref = reference
    start = keys[-1]
    for k in reversed(list(mean)):
        if mean[k] < ratio * ref:
            break
        start = k
    return int(start.split("-")[0].rstrip("+"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--faces", nargs="+", default=["fer2013", "expw"])
    ap.add_argument("--n", type=int, default=150, help="pasted faces per size and dataset")
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--ratio", type=float, default=0.9)
    args = ap.parse_args()
    det = FaceDetector("default", conf=0.05, device="cpu")  # low: pairs at every size
    clf = EmotionClassifier.from_pretrained("default", det.device)
    result: dict = {
        "what": "classifier accuracy by detector box size (shorter side) and crop sharpness, on val faces "
        "shrunk and pasted into blurred WIDER photos, framed by the shipped detector (or as it frames "
        "them, where it misses the pasted face)",
        "n_per_size": args.n,
        "by_dataset": {},
    }
    curves, refs = {}, []
    for dataset in args.faces:
        r = measure(dataset, det, clf, tuple(args.sizes), args.n)
        side, right, sharp = np.array(r["side"]), np.array(r["right"]), np.array(r["sharpness"])
        curves[dataset] = binned(side, right)
        hit = np.array(r["found"], dtype=bool)
        refs.append(float(right[side >= REFERENCE_SIDE].mean()))
        q = np.percentile(sharp, [25, 50, 75]) if len(sharp) else [0, 0, 0]
        by_sharp = {}
        big = side >= 24  # sharpness only among faces big enough to read, so size does not confound it
        for name, m in (
            ("low", sharp < q[0]),
            ("mid", (sharp >= q[0]) & (sharp < q[2])),
            ("high", sharp >= q[2]),
        ):
            m = m & big
            by_sharp[name] = {
                "faces": int(m.sum()),
                "accuracy": round(float(right[m].mean()), 4) if m.any() else None,
            }
        result["by_dataset"][dataset] = {
            "raw": {"side": [round(v, 1) for v in r["side"]], "right": [int(v) for v in r["right"]]},
            "found_by_pasted_size": r["found_by_pasted_size"],
            "accuracy_by_box_side": curves[dataset],
            f"accuracy_{REFERENCE_SIDE}px_up": round(refs[-1], 4),
            "accuracy_by_box_side_detector_found_only": binned(side[hit], right[hit]),
            "sharpness_quartiles": [round(float(v), 1) for v in q],
            "accuracy_by_sharpness_faces_24px_up": by_sharp,
        }
        print(dataset, curves[dataset], by_sharp, flush=True)
    result["ratio"] = args.ratio
    result["readable_size"] = readable_size(curves, float(np.mean(refs)), args.ratio)
    print("readable size:", result["readable_size"])
    result["environment"] = environment(det.device)
    write_result("face_size", result)
    plot(result)


def plot(result: dict) -> None:
    """docs/face_size.png: accuracy against box side, one line per dataset, the threshold marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.common import DOCS

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, r in result["by_dataset"].items():
        curve = r["accuracy_by_box_side"]
        keys = [k for k in curve if curve[k]["accuracy"] is not None and curve[k]["faces"] >= 10]
        ax.plot(range(len(keys)), [curve[k]["accuracy"] for k in keys], marker="o", label=name)
        ax.set_xticks(range(len(keys)), keys)
    starts = [int(k.split("-")[0].rstrip("+")) for k in keys]
    ax.axvline(
        next((i for i, s in enumerate(starts) if s >= result["readable_size"]), len(starts)) - 0.5,
        color="grey",
        linestyle="--",
        label=f"readable size {result['readable_size']} px",
    )
    ax.set_xlabel("detector box, shorter side (px)")
    ax.set_ylabel("classifier accuracy")
    ax.set_title("Accuracy by face size (val faces pasted into photos)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(DOCS.parent / "face_size.png", dpi=110)


if __name__ == "__main__":
    main()
