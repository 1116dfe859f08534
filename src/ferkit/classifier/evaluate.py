"""``fer eval-classifier``: accuracy, per-class accuracy, macro F1, confusion matrix, one-vs-rest ROC AUC."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score

from ferkit.classifier.data import load_split, preprocess
from ferkit.classifier.predictor import EmotionClassifier
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

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def table(self) -> str:
        """Human-readable summary, one row per class."""
        cm = np.asarray(self.confusion)
        lines = [
            f"{self.weights} on {self.data} [{self.split}]  n={self.n}  TTA={'on' if self.tta else 'off'}",
            f"accuracy {self.accuracy:.4f}   macro F1 {self.macro_f1:.4f}",
            f"{'class':<12}{'n':>6}{'accuracy':>10}{'ROC AUC':>10}",
        ]
        for i, c in enumerate(self.class_names):
            auc = self.roc_auc.get(c)
            lines.append(
                f"{c:<12}{int(cm[i].sum()):>6}{self.per_class_accuracy[c]:>10.4f}"
                f"{(f'{auc:.4f}' if auc is not None else 'n/a'):>10}"
            )
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        lines += ["", "confusion matrix, % of each true class (rows: true, columns: predicted)"]
        lines.append(f"{'':<12}" + "".join(f"{c[:7]:>8}" for c in self.class_names))
        for i, c in enumerate(self.class_names):
            lines.append(f"{c:<12}" + "".join(f"{100 * v:>8.1f}" for v in norm[i]))
        return "\n".join(lines)


def classification_metrics(y: np.ndarray, probs: np.ndarray, class_names: tuple[str, ...]) -> dict[str, Any]:
    """Accuracy, macro F1, per-class accuracy, confusion matrix and one-vs-rest ROC AUC from probabilities."""
    k = len(class_names)
    pred = probs.argmax(1)
    cm = confusion_matrix(y, pred, labels=list(range(k)))
    per_class = {c: float(cm[i, i] / cm[i].sum()) if cm[i].sum() else 0.0 for i, c in enumerate(class_names)}
    auc: dict[str, float | None] = {}
    for i, c in enumerate(class_names):
        pos = y == i
        auc[c] = float(roc_auc_score(pos, probs[:, i])) if 0 < pos.sum() < len(y) else None
    return {
        "accuracy": float((pred == y).mean()) if len(y) else 0.0,
        "macro_f1": float(f1_score(y, pred, labels=list(range(k)), average="macro", zero_division=0)),
        "per_class_accuracy": per_class,
        "roc_auc": auc,
        "confusion": cm.tolist(),
    }


def evaluate_classifier(
    weights: str,
    data: str,
    split: str = "val",
    tta: bool = False,
    device: str = "auto",
    out_dir: str | Path | None = None,
    drop_unmapped: bool = False,
    skip_bad: bool = False,
) -> ClassifierReport:
    """Evaluate ``weights`` on a split of ``data``, grouping labels as the checkpoint was trained.

    With ``out_dir``, writes ``metrics.json`` and ``confusion_matrix.png`` there.
    """
    clf = EmotionClassifier.from_pretrained(weights, device)
    split_data = load_split(data, split, clf.meta.grouping, clf.meta.input_size, drop_unmapped, skip_bad)
    x = preprocess(split_data.images, clf.meta)
    probs = clf.predict_tensor(x, tta=tta)
    m = classification_metrics(split_data.targets, probs, clf.class_names)
    report = ClassifierReport(
        data=str(data),
        split=split,
        weights=str(weights),
        tta=tta,
        n=len(x),
        class_names=list(clf.class_names),
        dropped_unmapped=split_data.dropped_unmapped,
        skipped=split_data.skipped,
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
