"""Is candidate B better than A, or within noise? Both classifiers scored on the same val faces; the
accuracy difference with a paired bootstrap interval, per val set (the shipping rule's noise check).

python -m benchmarks.classifier_paired --a default --b ~/.cache/ferkit/runs/classifier/NAME/best.pt \
    [--device cpu] [--resamples 2000] [--name NAME]
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.common import SHARED, environment, write_result
from ferkit.classifier.ensemble import load_classifier
from ferkit.classifier.evaluate import paired_bootstrap, split_probabilities


def correct_on(weights: str, data: str, split: str, device: str) -> np.ndarray:
    """Whether each image of the split was classified right (torch backend, float32, natural prior)."""
    clf = load_classifier(weights, device, backend="torch", precision="fp32")
    split_data, probs = split_probabilities(clf, data, split)
    return probs.argmax(1) == np.asarray(split_data.targets)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a", default="default", help="the reference (usually the shipped weights)")
    ap.add_argument("--b", required=True, help="the candidate")
    ap.add_argument("--data", nargs="+", default=[str(SHARED / "fer2013"), str(SHARED / "expw")])
    ap.add_argument("--split", default="val")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--name", default=None, help="also write docs/benchmarks/<name>.json")
    args = ap.parse_args()
    result: dict = {"a": args.a, "b": args.b, "split": args.split, "by_dataset": {}}
    for data in args.data:
        a, b = (correct_on(w, data, args.split, args.device) for w in (args.a, args.b))
        r = paired_bootstrap(a, b, args.resamples)
        verdict = "B better" if r.low > 0 else "B worse" if r.high < 0 else "within noise"
        print(
            f"{data}: A {r.accuracy_a:.4f}  B {r.accuracy_b:.4f}  B-A {r.difference:+.4f}  "
            f"95% CI [{r.low:+.4f}, {r.high:+.4f}]  only A right {r.only_a_right}, only B right "
            f"{r.only_b_right} of {len(a)}: {verdict}"
        )
        result["by_dataset"][data] = {**r.__dict__, "n": len(a), "verdict": verdict}
    if args.name:
        import torch

        result["environment"] = environment(torch.device(args.device))
        write_result(args.name, result)


if __name__ == "__main__":
    main()
