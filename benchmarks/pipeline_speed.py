"""End-to-end speed of ``fer detect-and-classify`` on real multi-face photos.

Runs the pipeline over WIDER FACE photos (640 px, many faces each) the way the CLI does (batched detector,
one classifier call per batch, threaded decoding and writing of annotated images), after a warm-up, and
reports images/s, faces/s, seconds per stage and peak memory.

    python -m benchmarks.pipeline_speed [--n 300] [--device cpu] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter

import torch

from benchmarks.common import SHARED, environment, peak_rss_mb, write_result
from ferkit.detector.defaults import DEFAULT_CONF, DEFAULT_IMGSZ
from ferkit.device import select_device
from ferkit.pipeline import Pipeline
from ferkit.pipeline.batch import run_items
from ferkit.pipeline.inputs import collect_inputs


def measure(
    device: torch.device,
    n: int,
    batch_size: int,
    write: bool,
    backend: str = "auto",
    precision: str = "fp32",
    classifier_weights: str = "default",
) -> dict:
    folder = SHARED / "wider_face" / "WIDER_train" / "images"
    items = collect_inputs([str(folder)], recursive=True).items[:n]
    pipe = Pipeline.from_pretrained(
        classifier_weights=classifier_weights,
        device=device,
        batch_size=batch_size,
        backend=backend,
        precision=precision,
    )
    warm = collect_inputs([str(folder)], recursive=True).items[-2 * batch_size :]
    run_items(pipe, warm, progress=False)  # warm-up: model load, first inference, allocator
    pipe.timer.seconds.clear()
    emotions: Counter[str] = Counter()

    def count(result) -> None:
        emotions.update(f.emotion for f in result.faces)

    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        summary = run_items(
            pipe, items, out=out if write else None, batch_size=batch_size, progress=True, on_result=count
        )
        wall = time.perf_counter() - t0
    stages = {k: round(v, 2) for k, v in pipe.timer.seconds.items()}
    return {
        "device": str(device),
        "backend": pipe.settings()["detector_backend"],
        "images": summary.processed,
        "faces": summary.faces,
        "seconds": round(wall, 2),
        "images_per_s": round(summary.processed / wall, 2),
        "faces_per_s": round(summary.faces / wall, 1),
        "stage_seconds": stages,
        "stage_ms_per_image": {k: round(1000 * v / max(summary.processed, 1), 1) for k, v in stages.items()},
        "peak_rss_mb": round(peak_rss_mb(), 0),
        "peak_cuda_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 0)
        if device.type == "cuda"
        else None,
        # no emotion labels on WIDER: the share of each predicted emotion shows a model stuck on one class
        "predicted_emotion_share": {
            k: round(v / max(summary.faces, 1), 3) for k, v in emotions.most_common()
        },
        "writes_annotated_images": write,
        "batch_size": batch_size,
        "imgsz": DEFAULT_IMGSZ,
        "conf": DEFAULT_CONF,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--n", type=int, default=300, help="number of photos")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--no-write", action="store_true", help="do not write annotated images")
    args = ap.parse_args()
    device = select_device(args.device)
    result = measure(device, args.n, args.batch_size, write=not args.no_write)
    result["environment"] = environment(device)
    for k, v in result.items():
        print(f"{k}: {v}")
    write_result(f"pipeline_speed_{device.type}", result)


if __name__ == "__main__":
    main()
