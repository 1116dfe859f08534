"""Accuracy and speed of a classifier on FER2013 val (PublicTest): with and without TTA, and crops/s.

python benchmarks/classifier_accuracy.py [--weights default] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import SHARED, environment, write_result
from ferkit.classifier.evaluate import evaluate_classifier
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
    ap.add_argument("--weights", default="default")
    ap.add_argument("--data", default=str(SHARED / "fer2013"))
    ap.add_argument("--split", default="val")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    result: dict = {"weights": args.weights, "data": args.data, "split": args.split}
    for tta in (False, True):
        report = evaluate_classifier(args.weights, args.data, args.split, tta=tta, device=args.device)
        print(report.table())
        result["tta" if tta else "plain"] = {
            "accuracy": round(report.accuracy, 4),
            "macro_f1": round(report.macro_f1, 4),
            "per_class_accuracy": {k: round(v, 4) for k, v in report.per_class_accuracy.items()},
            "roc_auc": {k: (round(v, 4) if v is not None else None) for k, v in report.roc_auc.items()},
            "n": report.n,
        }
    clf = EmotionClassifier.from_pretrained(args.weights, args.device)
    result["crops_per_s"] = {str(b): round(crops_per_second(clf, b), 0) for b in (1, 8, 64)}
    result["checkpoint"] = {
        "arch": clf.meta.arch,
        "metrics": clf.meta.metrics,
        "train_config": clf.meta.train_config,
    }
    result["environment"] = environment(clf.device)
    print("crops/s by batch size:", result["crops_per_s"])
    write_result("classifier", result)


if __name__ == "__main__":
    main()
