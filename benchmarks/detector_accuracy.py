"""Quality and speed of a face detector on the WIDER FACE val split used for model selection.

Scores P/R/F1 at IoU >= 0.5 on faces >= 24 px (smaller and invalid faces ignored) at the default and the
F1-best confidence, ultralytics' mAP50 on the converted YOLO val split, and images/s of the bare detector
at the default image size.

    python -m benchmarks.detector_accuracy [--weights default] [--yolo-data data/wider_yolo/data.yaml]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.common import SHARED, environment, write_result
from ferkit.datasets.wider import is_val
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
        "--yolo-data",
        default="data/wider_yolo/data.yaml",
        help="converted WIDER (fer datasets wider-to-yolo) for ultralytics' mAP50; skipped if missing",
    )
    ap.add_argument("--imgsz", type=int, default=DEFAULT_IMGSZ)
    ap.add_argument("--conf", type=float, default=DEFAULT_CONF)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default="docs/benchmarks/detector")
    args = ap.parse_args()
    report = evaluate_detector(
        args.weights,
        args.wider,
        conf=args.conf,
        imgsz=args.imgsz,
        device=args.device,
        out_dir=args.out,
        with_map=False,
    )
    print(report.table())
    result = report.to_dict()
    if Path(args.yolo_data).is_file():
        det = FaceDetector(args.weights, imgsz=args.imgsz, device=args.device)
        result["ultralytics"] = det.ultralytics_map(args.yolo_data)
        print("ultralytics:", result["ultralytics"])
    det = FaceDetector(args.weights, imgsz=args.imgsz, device=args.device)
    images = sorted((Path(args.wider) / "WIDER_train" / "images").glob("*/*.jpg"))
    val = [p for p in images if is_val(f"{p.parent.name}/{p.name}", 0.1)][:120]
    result["images_per_s"] = {str(b): round(images_per_second(det, val, b), 2) for b in (1, 8)}
    result["environment"] = environment(det.device)
    print("bare detector images/s by batch size:", result["images_per_s"])
    write_result("detector", result)


if __name__ == "__main__":
    main()
