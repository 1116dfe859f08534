"""The quick first pass of small photos (``--quick-size``): what it settles, what it costs in faces found and
emotions read, and what it saves in time.

For each quick size (0: off), on the same inputs, with the same weights and backend:

- portraits: pasted FER2013 val faces on 350 px photos (``benchmarks.portraits``): the share the quick pass
  settles, how much wider and taller its boxes are than the full pass's (median ratio: the
  ``quick_box_bias`` a settled box is shrunk by), the pipeline's emotion accuracy end to end (no face found
  counts as wrong), portraits/s through ``Pipeline.stream`` (decode included, models loaded);
- close-ups: FER2013 val and ExpW val faces filling a 192-270 px photo (``benchmarks.closeups``): share found;
- small group photos: WIDER photos of the held-out events shrunk to 350 px (``benchmarks.small_photos``):
  P/R/F1 at IoU 0.5, faces of 12 px and up.

    python -m benchmarks.quick_pass [--sizes 0 256 320] [--portraits 1000] [--closeups 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.closeups import closeup, found
from benchmarks.common import SHARED, environment, write_result
from benchmarks.portraits import make_portraits
from benchmarks.small_photos import prf, wider_small
from ferkit.config import PipelineConfig
from ferkit.detector.face_detector import FaceDetector
from ferkit.imaging.images import is_image_file
from ferkit.pipeline import Pipeline


def closeup_photos(dataset: str, n: int) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    files = sorted(p for p in (SHARED / dataset / "val").rglob("*") if is_image_file(p))
    files = [files[i] for i in np.random.default_rng(0).permutation(len(files))[:n]]
    rng = np.random.default_rng(0)
    return [closeup(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), rng) for p in files]


def portrait_scores(pipe: Pipeline, paths: list[Path], labels: list[str]) -> dict:
    list(pipe.stream(paths[:8]))  # warm: every shape seen once
    t0 = time.perf_counter()
    results = list(pipe.stream(paths))
    seconds = time.perf_counter() - t0
    right = 0
    for r, label in zip(results, labels, strict=True):
        best = max(r.faces, key=lambda f: f.box_xyxy.width, default=None)
        right += best is not None and best.emotion == label
    return {"accuracy": round(right / len(paths), 4), "portraits_per_s": round(len(paths) / seconds, 1)}


def box_bias(det: FaceDetector, low: FaceDetector, arrays: list[np.ndarray]) -> dict:
    """Share of portraits the quick pass settles, and the median width and height ratio of its raw boxes to
    the full pass's on them."""
    if not det.quick:
        return {"settled": 0.0}
    full = FaceDetector(device="cpu", precision=det.precision, quick=0)
    ratios, settled = [], 0
    for got, raw, ref in zip(det.detect(arrays), low.detect(arrays), full.detect(arrays), strict=True):
        if len(got) == 1 and len(raw) == 1 and got[0].score == raw[0].score:  # settled by the quick pass
            settled += 1
            if ref:
                ratios.append((raw[0].box.width / ref[0].box.width, raw[0].box.height / ref[0].box.height))
    med = np.median(np.array(ratios), axis=0) if ratios else (1.0, 1.0)
    return {"settled": round(settled / len(arrays), 4), "raw_box_ratio_wh": [round(float(m), 4) for m in med]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[0, 256, 320])
    ap.add_argument("--portraits", type=int, default=1000)
    ap.add_argument("--closeups", type=int, default=1000)
    ap.add_argument("--precision", default="fp32")
    args = ap.parse_args()
    result: dict = {"environment": environment(FaceDetector(device="cpu").device), "inputs": vars(args)}
    photos, truth = wider_small(FaceDetector(device="cpu"), 350)
    closeups = {d: closeup_photos(d, args.closeups) for d in ("fer2013", "expw")}
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_portraits(Path(tmp), args.portraits, labels := [])
        for size in args.sizes:
            config = PipelineConfig(device="cpu", precision=args.precision, quick_size=size)
            pipe = Pipeline.from_config(config)
            det = pipe.detector
            low = FaceDetector(
                device="cpu", precision=args.precision, quick=0, imgsz=size or 32, min_side=size
            )
            arrays = [cv2.imread(str(p)) for p in paths]
            row = {"portraits": {**portrait_scores(pipe, paths, labels), **box_bias(det, low, arrays)}}
            for d, made in closeups.items():
                hits = sum(
                    found(x, box) for x, (_, box) in zip(det.detect([p for p, _ in made]), made, strict=True)
                )
                row[f"{d}_closeups_found"] = round(hits / len(made), 4)
            row["wider_small"] = prf(det, photos, truth, 12.0)
            result[f"quick_{size}"] = row
            print(size, row, flush=True)
    write_result("quick_pass", result)


if __name__ == "__main__":
    main()
