"""Class priors: what the classifier says when the photos' class mix differs from its training data's.

A model trained on a mix where disgust is one face in twenty learns to say disgust rarely. ``natural``
keeps its probabilities as trained (the most accurate choice when photos are mixed like the training data);
``balanced`` applies the checkpoint's stored logit adjustment, ``-tau * log(train class prior)``, with
``tau`` fitted on val to maximise the mean balanced accuracy (mean per-class recall), so that rare classes
are predicted when they are there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TAUS = tuple(round(0.1 * i, 1) for i in range(16))  # 0 .. 1.5


@dataclass(frozen=True)
class PriorCorrection:
    """The stored adjustment: the training class prior, the fitted strength, and the bias it gives."""

    train_prior: tuple[float, ...]
    tau: float
    fitted_on: tuple[str, ...] = ()  # the val sets it was fitted on

    @property
    def bias(self) -> np.ndarray:
        """Added to the log-probabilities under ``--prior balanced``."""
        return -self.tau * np.log(np.clip(np.asarray(self.train_prior, np.float64), 1e-6, None))

    def to_dict(self) -> dict:
        return {"train_prior": list(self.train_prior), "tau": self.tau, "fitted_on": list(self.fitted_on)}

    @classmethod
    def from_dict(cls, d: dict | None) -> PriorCorrection | None:
        if not d:
            return None
        return cls(tuple(float(x) for x in d["train_prior"]), float(d["tau"]), tuple(d.get("fitted_on", ())))


def apply_prior(probs: np.ndarray, correction: PriorCorrection | None) -> np.ndarray:
    """Probabilities (N, K) re-weighted by the correction's bias and renormalised (unchanged if None)."""
    if correction is None or correction.tau == 0 or len(probs) == 0:
        return probs
    logp = np.log(np.clip(probs.astype(np.float64), 1e-12, None)) + correction.bias
    logp -= logp.max(1, keepdims=True)
    p = np.exp(logp)
    return (p / p.sum(1, keepdims=True)).astype(probs.dtype)


def class_prior(targets: np.ndarray, weights: np.ndarray | None, num_classes: int) -> tuple[float, ...]:
    """The class distribution training draws from: per-image sampling weights summed by class."""
    w = np.ones(len(targets)) if weights is None else np.asarray(weights, np.float64)
    counts = np.bincount(targets, weights=w, minlength=num_classes)
    return tuple(float(x) for x in counts / counts.sum())


def balanced_accuracy(y: np.ndarray, pred: np.ndarray, num_classes: int) -> float:
    """Mean recall over the classes present in ``y``."""
    present = [c for c in range(num_classes) if (y == c).any()]
    return float(np.mean([(pred[y == c] == c).mean() for c in present]))


def fit_prior(
    val_probs: dict[str, tuple[np.ndarray, np.ndarray]], train_prior: tuple[float, ...]
) -> tuple[PriorCorrection, list[dict]]:
    """The ``tau`` (of :data:`TAUS`) with the best mean balanced accuracy over the val sets
    (``{name: (probabilities, targets)}``); returns it with the table of every candidate."""
    k = len(train_prior)
    table = []
    for tau in TAUS:
        corr = PriorCorrection(train_prior, tau, tuple(val_probs))
        row: dict = {"tau": tau}
        for name, (probs, y) in val_probs.items():
            pred = apply_prior(probs, corr).argmax(1)
            row[name] = {"accuracy": float((pred == y).mean()), "balanced": balanced_accuracy(y, pred, k)}
        row["score"] = float(np.mean([row[n]["balanced"] for n in val_probs]))
        table.append(row)
    best = max(table, key=lambda r: r["score"])
    return PriorCorrection(train_prior, best["tau"], tuple(val_probs)), table
