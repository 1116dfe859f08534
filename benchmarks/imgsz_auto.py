"""Detector input size on large photos: fixed 512 / 640 / 800 / 960 against ``auto``.

The val photos are stored at 640 px, so they cannot show what a fixed 512 costs on a 1024 px photo. This
benchmark upscales both val splits (held-out events and held-out photos, as the shipped detector records
them) so that the long side is ``--side`` px (ground truth scaled with them), then scores each setting on
them (P/R/F1 at the default confidence and AP at IoU 0.5, faces of 24 px and up in the upscaled pixels)
and times it: the bare detector on decoded photos, and the whole pipeline (decode, detect, classify) on
JPEG files, one batch of 8 at a time, settings interleaved round by round so that a busy machine slows
them alike. It also runs the 640 px originals at 512 and ``auto`` (which must be identical there).

    python -m benchmarks.imgsz_auto [--side 1024] [--sizes 512,640,800,960,auto] [--timing-photos 96]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import DOCS, SHARED, environment, write_result
from ferkit.datasets.wider import ATTRIBUTES, GT_RELATIVE, IMAGES_RELATIVE, find_wider_layout, parse_wider_gt
from ferkit.datasets.wider_split import WiderSplit, choose_val_events
from ferkit.detector.evaluate import evaluate_detector
from ferkit.detector.face_detector import FaceDetector
from ferkit.imaging.images import read_image
from ferkit.pipeline import Pipeline


def upscaled_val_root(wider: Path, side: int, out: Path, det: FaceDetector) -> Path:
    """A WIDER FACE root holding only the val photos of ``det``'s recorded split, long side ``side``."""
    images, gt = find_wider_layout(wider)
    entries = parse_wider_gt(gt)
    rec = det.recorded_split or {}
    events = ",".join(rec.get("val_events") or []) or "none"
    held_out = choose_val_events(events, (e.path for e in entries))
    rule = WiderSplit(float(rec.get("val_fraction", 0.1)), held_out)
    lines = []
    for e in entries:
        if rule.of(e.path) == "train":
            continue
        img = cv2.imread(str(images / e.path))
        s = side / max(img.shape[:2])
        dst = out / IMAGES_RELATIVE / e.path
        dst.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(dst), cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])  # fmt: skip
        lines += [e.path, str(len(e.boxes))]
        for box, attr in zip(e.boxes.astype(np.float64) * s, e.attributes, strict=True):
            lines.append(" ".join([*(f"{v:.1f}" for v in box), *(str(int(a)) for a in attr)]))
    assert len(ATTRIBUTES) == 6
    (out / GT_RELATIVE).parent.mkdir(parents=True, exist_ok=True)
    (out / GT_RELATIVE).write_text("\n".join(lines) + "\n")
    return out


def scores(report) -> dict:
    out = {}
    for name, r in report.splits.items():
        out[name] = {
            "images": r.images, "faces": r.faces, **{k: round(v, 4) for k, v in r.at_conf.items()},
            "ap": round(r.ap, 4), "ap_small": round(r.ap_by_size.get("small", float("nan")), 4),
        }  # fmt: skip
    return out


def timing(sizes: list[str], files: list[Path], rounds: int, weights: str) -> dict:
    """Seconds per photo of the bare detector and of the pipeline, per size, interleaved over ``rounds``."""
    arrays = [read_image(f) for f in files]
    dets = {s: FaceDetector(weights, imgsz=s) for s in sizes}
    pipes = {s: Pipeline.from_pretrained(detector_weights=weights, imgsz=s) for s in sizes}
    det_t = {s: [] for s in sizes}
    pipe_t = {s: [] for s in sizes}
    for s in sizes:  # warm-up: every letterbox shape compiled once
        dets[s].detect(arrays[:8])
        pipes[s].run_batch([str(f) for f in files[:8]])
    for _ in range(rounds):
        for s in sizes:
            t0 = time.perf_counter()
            dets[s].detect(arrays)
            det_t[s].append((time.perf_counter() - t0) / len(arrays))
            t0 = time.perf_counter()
            for i in range(0, len(files), 8):
                pipes[s].run_batch([str(f) for f in files[i : i + 8]])
            pipe_t[s].append((time.perf_counter() - t0) / len(files))
    return {
        s: {"detector_ms_per_photo": round(1000 * min(det_t[s]), 1),
            "pipeline_ms_per_photo": round(1000 * min(pipe_t[s]), 1)}
        for s in sizes
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", default="default")
    ap.add_argument("--wider", default=str(SHARED / "wider_face"))
    ap.add_argument("--side", type=int, default=1024)
    ap.add_argument("--sizes", default="512,640,800,960,auto")
    ap.add_argument("--timing-photos", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--name", default="imgsz_auto")
    ap.add_argument(
        "--timing-only", action="store_true", help="remeasure the times only, keeping the file's accuracy"
    )
    args = ap.parse_args()
    sizes = args.sizes.split(",")
    det = FaceDetector(args.weights)
    result: dict = {"side": args.side, "sizes": sizes, "accuracy": {}, "original_640": {}}
    if args.timing_only:
        result = json.loads((DOCS / f"{args.name}.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        root = upscaled_val_root(Path(args.wider), args.side, Path(tmp), det)
        for s in [] if args.timing_only else sizes:
            rep = evaluate_detector(args.weights, root, imgsz=s, progress=False)
            result["accuracy"][s] = scores(rep)
            print(s, result["accuracy"][s], flush=True)
        for s in () if args.timing_only else ("512", "auto"):
            rep = evaluate_detector(args.weights, args.wider, imgsz=s, progress=False)
            result["original_640"][s] = scores(rep)
            print("640 px originals", s, result["original_640"][s], flush=True)
        files = sorted((root / IMAGES_RELATIVE).glob("*/*.jpg"))
        files = [files[i] for i in np.random.default_rng(0).permutation(len(files))[: args.timing_photos]]
        result["timing"] = timing(sizes, files, args.rounds, args.weights)
    print(result["timing"])
    f1 = {s: np.mean([v["f1"] for v in result["accuracy"][s].values()]) for s in sizes}
    if {"512", "960", "auto"} <= set(sizes):
        gap = f1["960"] - f1["512"]
        recovered = (f1["auto"] - f1["512"]) / gap if gap else float("nan")
        result["auto_recovers_of_512_to_960_f1_gap"] = round(recovered, 3)
        t = result["timing"]
        for k in ("detector_ms_per_photo", "pipeline_ms_per_photo"):
            result[f"auto_time_over_512_{k.split('_')[0]}"] = round(t["auto"][k] / t["512"][k], 2)
    result["environment"] = environment(det.device)
    write_result(args.name, result)


if __name__ == "__main__":
    main()
