"""Accuracy and speed of a classifier (or an ensemble) on FER2013 val (PublicTest) and ExpW val: with and
without TTA, and crops/s.

python -m benchmarks.classifier_accuracy [--weights default [more.pt ...]] [--device cpu] [--name classifier]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import SHARED, environment, write_result
from ferkit.classifier.ensemble import load_classifier
from ferkit.classifier.evaluate import evaluate_many
from ferkit.classifier.predictor import EmotionClassifier


def crops_per_second(clf: EmotionClassifier, batch: int, repeats: int = 5) -> float:
    """Throughput of preprocess + forward on 48x48 gray crops (the pipeline's classify stage)."""
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (96, 96, 3)).astype(np.uint8) for _ in range(batch)]
    clf.predict_proba(crops)  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        clf.predict_proba(crops)
    return batch * repeats / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--weights", nargs="+", default=["default"], help="one checkpoint, or several (ensemble)")
    ap.add_argument("--data", nargs="+", default=[str(SHARED / "fer2013"), str(SHARED / "expw")])
    ap.add_argument("--split", default="val")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--no-tta", action="store_true", help="skip the TTA pass")
    ap.add_argument("--name", default="classifier", help="result file docs/benchmarks/<name>.json")
    args = ap.parse_args()
    weights = args.weights if len(args.weights) > 1 else args.weights[0]
    result: dict = {"weights": args.weights, "split": args.split, "by_dataset": {}}
    for tta in (False,) if args.no_tta else (False, True):
        reports = evaluate_many(
            weights,
            args.data,
            args.split,
            tta=tta,
            device=args.device,
            backend=args.backend,
            precision=args.precision,
        )
        result["backend"], result["precision"] = reports[0].backend, reports[0].precision  # as resolved
        for report in reports:
            print(report.table())
            result["by_dataset"].setdefault(report.data, {})["tta" if tta else "plain"] = {
                "accuracy": round(report.accuracy, 4),
                "macro_f1": round(report.macro_f1, 4),
                "per_class_accuracy": {k: round(v, 4) for k, v in report.per_class_accuracy.items()},
                "roc_auc": {k: (round(v, 4) if v is not None else None) for k, v in report.roc_auc.items()},
                "confusion": report.confusion,
                "n": report.n,
            }
    clf = load_classifier(weights, args.device, args.backend, args.precision)
    first = clf.members[0] if hasattr(clf, "members") else clf
    result["crops_per_s"] = {str(b): round(crops_per_second(clf, b), 0) for b in (1, 8, 64)}
    result["checkpoint"] = {
        "arch": first.meta.arch,
        "crop": first.meta.crop.to_dict(),
        "metrics": first.meta.metrics,
        "train_config": first.meta.train_config,
    }
    result["environment"] = environment(first.device)
    print("crops/s by batch size:", result["crops_per_s"])
    write_result(args.name, result)


if __name__ == "__main__":
    main()
