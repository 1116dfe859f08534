"""The backends side by side, in one run on one machine: end-to-end images/s on 640 px multi-face WIDER
FACE photos (as ``fer detect-and-classify --out`` runs them), and classifier crops/s batched.

    python -m benchmarks.backends [--n 300] [--backends torch,onnx,openvino] [--device cpu]

Each backend is measured after a warm-up; the ratio to the torch backend is reported. The fastest one on
the CPU is what ``--backend auto`` picks (``ferkit.backends.CPU_PREFERENCE``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import environment, write_result
from benchmarks.pipeline_speed import measure
from ferkit.backends import backend_installed
from ferkit.classifier.predictor import EmotionClassifier
from ferkit.device import select_device


def crops_per_s(
    backend: str, device, precision: str = "fp32", weights: str = "default", n: int = 4096, batch: int = 256
) -> float:
    """Classifier throughput on random 64x64 colour crops (preprocessing included), batches of ``batch``."""
    clf = EmotionClassifier.from_pretrained(weights, device=device, backend=backend, precision=precision)
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(batch)]
    clf.predict_proba(crops)
    t0 = time.perf_counter()
    for _ in range(n // batch):
        clf.predict_proba(crops)
    return n // batch * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument(
        "--backends",
        default="torch,onnx,openvino,openvino:bf16,openvino:fp32:default-int8,openvino:bf16:default-int8",
        help="BACKEND[:PRECISION[:CLASSIFIER_WEIGHTS]],...",
    )
    ap.add_argument("--name", default="", help="result file docs/benchmarks/NAME.json [backends_DEVICE]")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()
    device = select_device(args.device)
    results = {}
    for name in args.backends.split(","):
        backend, _, rest = name.partition(":")
        precision, _, weights = rest.partition(":")  # BACKEND[:PRECISION[:CLASSIFIER_WEIGHTS]]
        precision, weights = precision or "fp32", weights or "default"
        if not backend_installed(backend):
            continue
        run = measure(device, args.n, args.batch_size, True, backend, precision, weights)
        results[name] = {
            "images_per_s": run["images_per_s"],
            "faces_per_s": run["faces_per_s"],
            "faces": run["faces"],
            "stage_ms_per_image": run["stage_ms_per_image"],
            "classifier_crops_per_s_batch256": round(crops_per_s(backend, device, precision, weights), 0),
        }
        print(name, results[name], flush=True)
    base = results.get("torch", {}).get("images_per_s")
    for r in results.values():
        r["ratio_to_torch"] = round(r["images_per_s"] / base, 2) if base else None
    out = {
        "photos": args.n,
        "batch_size": args.batch_size,
        "backends": results,
        "environment": environment(device),
    }
    write_result(args.name or f"backends_{device.type}", out)


if __name__ == "__main__":
    main()
