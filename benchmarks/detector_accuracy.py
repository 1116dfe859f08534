"""Quality and speed of a face detector on both WIDER FACE val splits: held-out events and held-out photos.

Scores P/R/F1 at IoU >= 0.5 on faces >= 24 px (smaller and invalid faces ignored) at the default and the
F1-best confidence, AP at IoU 0.5 overall and by face size, and images/s of the bare detector at the
default image size.

    python -m benchmarks.detector_accuracy [--weights default] [--val-events auto] [--name detector]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.common import SHARED, environment, write_result
from ferkit.datasets.wider_split import is_val
from ferkit.detector.defaults import DEFAULT_CONF, DEFAULT_IMGSZ
from ferkit.detector.evaluate import evaluate_detector
from ferkit.detector.face_detector import FaceDetector
from ferkit.imaging.images import read_image


def images_per_second(det: FaceDetector, paths: list[Path], batch: int) -> float:
    """Bare detector throughput on decoded images (decode time excluded), after a warm-up batch."""
    arrays = [read_image(p) for p in paths]
    det.batch_size = batch
    det.detect(arrays[:batch])
    t0 = time.perf_counter()
    det.detect(arrays)
    return len(arrays) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--weights", default="default")
    ap.add_argument("--wider", default=str(SHARED / "wider_face"))
    ap.add_argument(
        "--val-events", default=None, help="as in fer eval-detector (default: the split the weights record)"
    )
    ap.add_argument("--name", default="detector", help="result file docs/benchmarks/NAME.json")
    ap.add_argument("--imgsz", default=DEFAULT_IMGSZ, help="pixels, or auto")
    ap.add_argument("--conf", type=float, default=DEFAULT_CONF)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--out", default="", help="plots folder (default docs/benchmarks/NAME)")
    ap.add_argument("--no-speed", action="store_true", help="skip the images/s measurement")
    args = ap.parse_args()
    report = evaluate_detector(
        args.weights,
        args.wider,
        conf=args.conf,
        imgsz=args.imgsz,
        device=args.device,
        val_events=args.val_events,
        out_dir=args.out or f"docs/benchmarks/{args.name}",
    )
    print(report.table())
    result = report.to_dict()
    det = FaceDetector(
        args.weights, imgsz=args.imgsz, device=args.device, backend=args.backend, precision=args.precision
    )
    images = sorted((Path(args.wider) / "WIDER_train" / "images").glob("*/*.jpg"))
    val = [p for p in images if is_val(f"{p.parent.name}/{p.name}", 0.1)][:120]
    if not args.no_speed:
        result["images_per_s"] = {str(b): round(images_per_second(det, val, b), 2) for b in (1, 8)}
        print("bare detector images/s by batch size:", result["images_per_s"])
    result["environment"] = environment(det.device)
    write_result(args.name, result)


if __name__ == "__main__":
    main()
