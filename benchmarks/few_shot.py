"""The few-shot curve: your own classes from a few faces per class, trained from scratch, as a linear probe
of the shipped classifier, or fine-tuned from it; accuracy on unseen people against faces per class.

Two class sets that differ from the shipped seven, built from ExpW (split by source photo, so the test
faces are other people than the training faces):

- ``valence``: positive (happy, surprise), negative (angry, disgust, fear, sad), neutral: new class names;
- ``renamed``: angry, scared (fear), surprised (surprise): one name the shipped model knows, two it does not.

For each class set, faces per class (5, 10, 20, 50, 200) and method, a folder of class folders is written
(no val split: the plain command holds out 10 % of each class) and ``fit`` runs with the plain documented
options (``fer train-classifier --data DIR [--init default [--freeze backbone]]``). The test set is up to
300 ExpW val faces per class; accuracy and macro recall (mean per-class recall: the classes are unequal)
are reported with the wall time of the run on this CPU. Runs with few faces are repeated with other faces.

    python -m benchmarks.few_shot [--shots 5 10 20 50 200] [--repeats 2]
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import SHARED, environment, write_result
from ferkit.classifier.config import ClassifierTrainConfig
from ferkit.classifier.predictor import EmotionClassifier
from ferkit.classifier.train import fit
from ferkit.device import select_device
from ferkit.imaging.images import read_gray

CLASS_SETS = {
    "valence": {
        "positive": ("happy", "surprise"),
        "negative": ("angry", "disgust", "fear", "sad"),
        "neutral": ("neutral",),
    },
    "renamed": {"angry": ("angry",), "scared": ("fear",), "surprised": ("surprise",)},
}
METHODS = {
    "scratch": {},
    "probe": {"init": "default", "freeze": "backbone"},
    "finetune": {"init": "default"},  # the fine-tune recipe: backbone at 0.1 of the lr
    "finetune_full_lr": {"init": "default", "backbone_lr": 1.0},
}
TEST_PER_CLASS = 300


def pool(split: str, members: tuple[str, ...]) -> list[Path]:
    return sorted(p for m in members for p in (SHARED / "expw" / split / m).glob("*.jpg"))


def write_train(root: Path, class_set: dict, shots: int, seed: int) -> None:
    rng = random.Random(seed)
    for name, members in class_set.items():
        files = pool("train", members)
        rng.shuffle(files)
        (root / name).mkdir(parents=True)
        for f in files[:shots]:
            shutil.copy(f, root / name / f.name)


def test_set(class_set: dict) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    rng = random.Random(1)
    images, labels = [], []
    for i, members in enumerate(class_set.values()):
        files = pool("val", members)
        rng.shuffle(files)
        images += [read_gray(f) for f in files[:TEST_PER_CLASS]]
        labels += [i] * min(len(files), TEST_PER_CLASS)
    return images, np.array(labels), list(class_set)


def score(weights: Path, test, device) -> dict:
    images, y, names = test
    clf = EmotionClassifier.from_pretrained(weights, device)
    assert list(clf.class_names) == sorted(names) or list(clf.class_names) == names
    order = [clf.class_names.index(n) for n in names]
    pred = np.array(order).argsort()[clf.predict_proba(images).argmax(1)]
    recall = [float((pred[y == c] == c).mean()) for c in range(len(names))]
    return {"accuracy": round(float((pred == y).mean()), 4), "macro_recall": round(float(np.mean(recall)), 4)}


def one_run(work: Path, class_set: dict, shots: int, seed: int, method: str, test, device) -> dict:
    data = work / f"data_{shots}_{seed}"
    if not data.exists():
        write_train(data, class_set, shots, seed)
    config = ClassifierTrainConfig(
        data=[str(data)], project=str(work / "runs"), name=f"{method}_{shots}_{seed}", threads=2, seed=seed,
        **METHODS[method],
    )  # fmt: skip
    t0 = time.perf_counter()
    run = fit(config, log=lambda *_: None)
    wall = time.perf_counter() - t0
    return {
        "method": method,
        "shots": shots,
        "seed": seed,
        "seconds": round(wall, 1),
        **score(run / "weights" / "best.pt", test, device),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shots", type=int, nargs="+", default=[5, 10, 20, 50, 200])
    ap.add_argument("--repeats", type=int, default=2, help="runs (other faces) for 20 faces a class or fewer")
    ap.add_argument("--sets", nargs="+", default=list(CLASS_SETS))
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    args = ap.parse_args()
    device = select_device("cpu")
    result: dict = {"what": __doc__.split("\n")[0], "test_per_class": TEST_PER_CLASS, "sets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for set_name in args.sets:
            class_set = CLASS_SETS[set_name]
            test = test_set(class_set)
            rows = []
            for shots in args.shots:
                for seed in range(args.repeats if shots <= 20 else 1):
                    for method in args.methods:
                        r = one_run(Path(tmp) / set_name, class_set, shots, seed, method, test, device)
                        rows.append(r)
                        print(set_name, r, flush=True)
            result["sets"][set_name] = {"classes": {k: list(v) for k, v in class_set.items()}, "runs": rows}
    result["environment"] = environment(device)
    write_result("few_shot", result)
    plot(result)


def mean_curve(rows: list[dict], method: str, key: str) -> tuple[list[int], list[float]]:
    shots = sorted({r["shots"] for r in rows})
    return shots, [
        float(np.mean([r[key] for r in rows if r["method"] == method and r["shots"] == s])) for s in shots
    ]


def plot(result: dict) -> None:
    """docs/few_shot.png: macro recall against faces per class, one panel per class set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.common import DOCS

    sets = result["sets"]
    fig, axes = plt.subplots(1, len(sets), figsize=(5.5 * len(sets), 4), squeeze=False)
    for ax, (name, s) in zip(axes[0], sets.items(), strict=True):
        methods = list(dict.fromkeys(r["method"] for r in s["runs"]))
        for m in methods:
            x, y = mean_curve(s["runs"], m, "macro_recall")
            ax.plot(x, y, marker="o", label=m)
        ax.axhline(1 / len(s["classes"]), color="grey", linestyle=":", label="chance")
        ax.set_xscale("log")
        ax.set_xticks(x, [str(v) for v in x])
        ax.set_xlabel("training faces per class")
        ax.set_ylabel("macro recall, unseen people")
        ax.set_title(f"{name}: {', '.join(s['classes'])}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(DOCS.parent / "few_shot.png", dpi=110)


if __name__ == "__main__":
    main()
