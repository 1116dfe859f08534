"""``fer eval-classifier``: accuracy, per-class recall, macro F1, confusion matrix, one-vs-rest ROC AUC."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ferkit.classifier.ensemble import load_classifier
from ferkit.classifier.splits import load_split
from ferkit.config import DEFAULT_BACKEND, DEFAULT_PRECISION, DEFAULT_PRIOR
from ferkit.plots import plot_confusion


@dataclass
class ClassifierReport:
    """Evaluation of a classifier on one split."""

    data: str
    split: str
    weights: str
    tta: bool
    n: int
    accuracy: float
    macro_f1: float
    per_class_accuracy: dict[str, float]
    roc_auc: dict[str, float | None]
    confusion: list[list[int]]
    class_names: list[str]
    dropped_unmapped: int = 0
    skipped: int = 0
    backend: str = "torch"
    precision: str = DEFAULT_PRECISION
    prior: str = DEFAULT_PRIOR

    @property
    def true_share(self) -> dict[str, float]:
        """Fraction of the images whose true class is each class."""
        cm = np.asarray(self.confusion)
        return {c: float(v) for c, v in zip(self.class_names, cm.sum(1) / max(cm.sum(), 1), strict=True)}

    @property
    def predicted_share(self) -> dict[str, float]:
        """Fraction of the images predicted as each class (compare with :attr:`true_share`)."""
        cm = np.asarray(self.confusion)
        return {c: float(v) for c, v in zip(self.class_names, cm.sum(0) / max(cm.sum(), 1), strict=True)}

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "true_share": self.true_share, "predicted_share": self.predicted_share}

    def table(self) -> str:
        """Human-readable summary, one row per class."""
        cm = np.asarray(self.confusion)
        lines = [
            f"{self.weights} on {self.data} [{self.split}]  n={self.n}  TTA={'on' if self.tta else 'off'}"
            f"  backend={self.backend} {self.precision}  prior={self.prior}",
            f"accuracy {self.accuracy:.4f}   macro F1 {self.macro_f1:.4f}",
            f"{'class':<12}{'n':>6}{'recall':>10}{'ROC AUC':>10}{'true %':>9}{'predicted %':>13}",
        ]
        true, pred = self.true_share, self.predicted_share
        for i, c in enumerate(self.class_names):
            auc = self.roc_auc.get(c)
            auc_text = f"{auc:.4f}" if auc is not None else "n/a"
            lines.append(
                f"{c:<12}{int(cm[i].sum()):>6}{self.per_class_accuracy[c]:>10.4f}{auc_text:>10}"
                f"{100 * true[c]:>9.1f}{100 * pred[c]:>13.1f}"
            )
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        lines += ["", "confusion matrix, % of each true class (rows: true, columns: predicted)"]
        w = max(8, *(len(c) + 1 for c in self.class_names))  # whole class names as column heads
        lines.append(f"{'':<12}" + "".join(f"{c:>{w}}" for c in self.class_names))
        for i, c in enumerate(self.class_names):
            lines.append(f"{c:<12}" + "".join(f"{100 * v:>{w}.1f}" for v in norm[i]))
        return "\n".join(lines)


def confusion_matrix(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """(K, K) counts: rows the true class, columns the predicted one."""
    return np.bincount(np.asarray(y) * k + np.asarray(pred), minlength=k * k).reshape(k, k)


def macro_f1(cm: np.ndarray) -> float:
    """Mean over classes of F1 from a confusion matrix (a class never true nor predicted scores 0)."""
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(0) + cm.sum(1)
    return float(np.mean(np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)))


def roc_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for a boolean ``positive`` (both classes present): the
    probability that a positive outranks a negative, ties counting half (the Mann-Whitney statistic)."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)  # 1-based average rank of each tie
    n_pos = int(positive.sum())
    n_neg = len(scores) - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_metrics(
    y: np.ndarray, probs: np.ndarray, class_names: tuple[str, ...], with_auc: bool = True
) -> dict[str, Any]:
    """Accuracy, macro F1, per-class accuracy (recall), confusion matrix and one-vs-rest ROC AUC."""
    k = len(class_names)
    pred = probs.argmax(1)
    cm = confusion_matrix(y, pred, k)
    per_class = {c: float(cm[i, i] / cm[i].sum()) if cm[i].sum() else 0.0 for i, c in enumerate(class_names)}
    auc: dict[str, float | None] = {}
    for i, c in enumerate(class_names):
        pos = y == i
        auc[c] = roc_auc(pos, probs[:, i]) if with_auc and 0 < pos.sum() < len(y) else None
    return {
        "accuracy": float((pred == y).mean()) if len(y) else 0.0,
        "macro_f1": macro_f1(cm),
        "per_class_accuracy": per_class,
        "roc_auc": auc,
        "confusion": cm.tolist(),
    }


def split_probabilities(
    clf, data: str, split: str = "val", tta: bool = False, drop_unmapped: bool = False, skip_bad: bool = False
):
    """A split read as the loaded classifier ``clf`` expects it, and the classifier's (or its ensemble's
    mean) probabilities: ``(split data, (N, K) array)``. Each member reads the images at its own input size
    and preprocesses them as its checkpoint says."""
    grouping = clf.meta.grouping
    sizes = sorted(clf.input_sizes)
    by_size = {s: load_split(data, split, grouping, s, drop_unmapped, skip_bad) for s in sizes}
    probs = clf.predict_images({s: d.images for s, d in by_size.items()}, tta=tta)
    return next(iter(by_size.values())), probs


def evaluate_classifier(
    weights: str | Sequence[str],
    data: str,
    split: str = "val",
    tta: bool = False,
    device: str = "auto",
    out_dir: str | Path | None = None,
    drop_unmapped: bool = False,
    skip_bad: bool = False,
    classifier=None,
) -> ClassifierReport:
    """Evaluate ``weights`` (one checkpoint, or several as an ensemble) on a split of ``data``, grouping
    labels as the checkpoint was trained. ``classifier`` reuses an already loaded model.

    With ``out_dir``, writes ``metrics.json`` and ``confusion_matrix.png`` there.
    """
    clf = classifier or load_classifier(weights, device)
    split_data, probs = split_probabilities(clf, data, split, tta, drop_unmapped, skip_bad)
    m = classification_metrics(split_data.targets, probs, clf.class_names)
    names = [weights] if isinstance(weights, (str, Path)) else list(weights)
    report = ClassifierReport(
        data=str(data),
        split=split,
        weights=" + ".join(str(w) for w in names),
        tta=tta,
        n=len(split_data.targets),
        class_names=list(clf.class_names),
        dropped_unmapped=split_data.dropped_unmapped,
        skipped=split_data.skipped,
        backend=clf.backend,
        precision=clf.precision,
        prior=clf.prior,
        **m,
    )
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(report.to_dict(), indent=2))
        plot_confusion(
            np.asarray(report.confusion),
            report.class_names,
            out / "confusion_matrix.png",
            title=f"{split} accuracy {report.accuracy:.3f}",
        )
    return report


@dataclass(frozen=True)
class PairedDifference:
    """Accuracy of B minus accuracy of A on the same images, with a bootstrap confidence interval."""

    accuracy_a: float
    accuracy_b: float
    difference: float
    low: float
    high: float
    only_a_right: int
    only_b_right: int

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero."""
        return self.low > 0 or self.high < 0


def paired_bootstrap(
    correct_a: np.ndarray, correct_b: np.ndarray, resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> PairedDifference:
    """Compare two models scored on the same images (boolean arrays: was each image right?) by resampling
    the images with replacement; the interval is the percentile interval of the accuracy difference."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError(f"need two equally long, non-empty 1-D arrays, got {a.shape} and {b.shape}")
    diff = b.astype(np.float64) - a
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), (resamples, len(diff)))].mean(1)
    low, high = (float(v) for v in np.percentile(means, [50 * (1 - level), 50 * (1 + level)]))
    only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
    return PairedDifference(float(a.mean()), float(b.mean()), float(diff.mean()), low, high, only_a, only_b)


def evaluate_many(
    weights: str | Sequence[str],
    datas: Sequence[str],
    split: str = "val",
    tta: bool = False,
    device: str = "auto",
    out_dir: str | Path | None = None,
    drop_unmapped: bool = False,
    skip_bad: bool = False,
    backend: str = DEFAULT_BACKEND,
    precision: str = DEFAULT_PRECISION,
    prior: str = DEFAULT_PRIOR,
) -> list[ClassifierReport]:
    """One report per dataset, the model loaded once (on ``backend`` at ``precision``); with ``out_dir``
    and several datasets, each report goes to ``out_dir/<dataset name>/``."""
    from ferkit.classifier.train_data import dataset_names

    clf = load_classifier(weights, device, backend, precision, prior)
    names = dataset_names(list(datas))
    reports = []
    for name, data in zip(names, datas, strict=True):
        out = None if out_dir is None else (Path(out_dir) / name if len(datas) > 1 else Path(out_dir))
        reports.append(
            evaluate_classifier(
                weights, data, split, tta, device, out, drop_unmapped, skip_bad, classifier=clf
            )
        )
    return reports
