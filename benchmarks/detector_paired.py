"""Is detector B better than A, or within noise? Both run on the same held-out WIDER photos (the split A's
weights record); F1 at the default confidence and AP at IoU 0.5 (faces >= 24 px), B - A with a bootstrap
interval over photos, for each val split. Both run on the torch backend in float32, so that only the
weights differ. With ``--side 1024`` both splits are first upscaled so that each photo's long side is 1024 px,
as most held-back WIDER FACE val photos are (faces >= 24 px counted in the upscaled pixels).

python -m benchmarks.detector_paired --b CANDIDATE.pt [--a default] [--imgsz 512] [--side 1024] [--name NAME]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from benchmarks.common import SHARED, environment, write_result
from benchmarks.imgsz_auto import upscaled_val_root
from ferkit.datasets.wider_split import DEFAULT_VAL_FRACTION
from ferkit.detector.defaults import DEFAULT_CONF, DEFAULT_IMGSZ
from ferkit.detector.eval_samples import load_eval_splits
from ferkit.detector.evaluate import CURVE_FLOOR, match_photos
from ferkit.detector.face_detector import FaceDetector
from ferkit.detector.metrics import paired_photo_bootstrap


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a", default="default", help="the reference (usually the shipped weights)")
    ap.add_argument("--b", required=True, help="the candidate")
    ap.add_argument("--wider", default=str(SHARED / "wider_face"))
    ap.add_argument("--imgsz", default=DEFAULT_IMGSZ, help="pixels, or auto")
    ap.add_argument("--conf", type=float, default=DEFAULT_CONF)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--side", type=int, default=0, help="upscale the val photos to this long side first")
    ap.add_argument("--name", default=None, help="also write docs/benchmarks/<name>.json")
    args = ap.parse_args()
    common = {"conf": CURVE_FLOOR, "imgsz": args.imgsz, "device": args.device, "max_det": 1000}
    dets = [FaceDetector(w, backend="torch", precision="fp32", **common) for w in (args.a, args.b)]
    recorded = dets[0].recorded_split or {}
    events = ",".join(recorded.get("val_events", [])) or "none"
    with tempfile.TemporaryDirectory() as tmp:
        wider = args.wider
        if args.side:
            wider = upscaled_val_root(Path(args.wider), args.side, Path(tmp), dets[0])
        fraction = float(recorded.get("val_fraction", DEFAULT_VAL_FRACTION))
        splits = load_eval_splits(wider, fraction, events)
        result = compare(dets, splits, args)
    if args.name:
        result["environment"] = environment(torch.device(args.device))
        write_result(args.name, result)


def compare(dets: list[FaceDetector], splits: dict, args: argparse.Namespace) -> dict:
    """The paired figures of each split, printed as they come."""
    result: dict = {"a": args.a, "b": args.b, "imgsz": args.imgsz, "side": args.side or None}
    result |= {"conf": args.conf, "splits": {}}
    for name, samples in splits.items():
        a, b = (match_photos(d, samples) for d in dets)
        figures = paired_photo_bootstrap(a, b, args.conf, args.resamples)
        result["splits"][name] = {"photos": len(samples), **{k: f.__dict__ for k, f in figures.items()}}
        for k, f in figures.items():
            verdict = "B better" if f.low > 0 else "B worse" if f.high < 0 else "within noise"
            print(
                f"{name} ({len(samples)} photos) {k}: A {f.a:.4f}  B {f.b:.4f}  B-A {f.difference:+.4f}  "
                f"95% CI [{f.low:+.4f}, {f.high:+.4f}]: {verdict}"
            )
    return result


if __name__ == "__main__":
    main()
