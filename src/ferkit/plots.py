"""Small matplotlib helpers (headless) shared by the trainers and evaluators."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_training_curves(history: Sequence[dict], path: str | Path) -> None:
    """Loss, accuracy and learning rate per epoch, from rows with epoch/train_*/val_*/lr keys."""
    plt = _plt()
    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, key, title in ((axes[0], "loss", "loss"), (axes[1], "acc", "accuracy")):
        ax.plot(epochs, [r[f"train_{key}"] for r in history], label="train", marker=".")
        ax.plot(epochs, [r[f"val_{key}"] for r in history], label="val", marker=".")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[2].plot(epochs, [r["lr"] for r in history], marker=".")
    axes[2].set_title("learning rate")
    axes[2].set_xlabel("epoch")
    axes[2].grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(cm: np.ndarray, class_names: Sequence[str], path: str | Path, title: str = "") -> None:
    """Counts and row-normalised confusion matrices side by side."""
    plt = _plt()
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, axes = plt.subplots(1, 2, figsize=(14, 6))
    for ax, mat, fmt, sub in ((axes[0], cm, "d", "counts"), (axes[1], norm, ".2f", "row-normalised")):
        ax.imshow(mat, cmap="Blues")
        ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
        ax.set_yticks(range(len(class_names)), class_names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{title} ({sub})" if title else sub)
        hi = mat.max() / 2 if mat.size else 0
        for i in range(mat.shape[0]):
            for j in range(mat.shape[1]):
                ax.text(
                    j,
                    i,
                    format(mat[i, j], fmt),
                    ha="center",
                    va="center",
                    color="white" if mat[i, j] > hi else "black",
                    fontsize=8,
                )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_pr_curve(
    thresholds: np.ndarray,
    precision: np.ndarray,
    recall: np.ndarray,
    f1: np.ndarray,
    best: float,
    path: str | Path,
    pr_by_size: dict[str, tuple[np.ndarray, np.ndarray, float]] | None = None,
    title: str = "",
) -> None:
    """Left: precision, recall and F1 against detector confidence, the F1-best confidence marked. Right:
    precision against recall, one line per entry of ``pr_by_size`` ({label: (recall, precision, AP)})."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    axes[0].plot(thresholds, precision, label="precision")
    axes[0].plot(thresholds, recall, label="recall")
    axes[0].plot(thresholds, f1, label="F1")
    axes[0].axvline(best, color="gray", ls="--", label=f"best F1 at conf={best:.2f}")
    axes[0].set_xlabel("confidence threshold")
    axes[0].legend()
    axes[0].grid(alpha=0.3)
    for label, (r, p, ap) in (pr_by_size or {"all": (recall, precision, float("nan"))}).items():
        axes[1].plot(r, p, label=label if ap != ap else f"{label}: AP {ap:.3f}")
    axes[1].set_xlabel("recall")
    axes[1].set_ylabel("precision")
    axes[1].set_xlim(0, 1)
    axes[1].set_ylim(0, 1.02)
    axes[1].grid(alpha=0.3)
    axes[1].legend(loc="lower left")
    axes[1].set_title("precision / recall (AP at IoU 0.5)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
