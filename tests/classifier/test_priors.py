"""Class priors: the stored correction, --prior natural|balanced, and fitting it on val."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ferkit.classifier.checkpoint import read_checkpoint
from ferkit.classifier.predictor import EmotionClassifier
from ferkit.classifier.priors import PriorCorrection, apply_prior, balanced_accuracy, class_prior, fit_prior
from ferkit.cli import app
from ferkit.config import PipelineConfig
from ferkit.errors import ConfigError, WeightsError

FACE = np.random.default_rng(0).integers(0, 255, (48, 48)).astype(np.uint8)


def test_natural_leaves_probabilities_alone_and_balanced_lifts_rare_classes():
    probs = np.array([[0.5, 0.1, 0.4], [0.2, 0.3, 0.5]], np.float32)
    assert apply_prior(probs, None) is probs
    assert apply_prior(probs, PriorCorrection((0.5, 0.1, 0.4), 0.0)) is probs
    out = apply_prior(probs, PriorCorrection((0.5, 0.1, 0.4), 1.0))
    assert np.allclose(out.sum(1), 1) and out.dtype == probs.dtype
    assert (out[:, 1] > probs[:, 1]).all() and (out[:, 0] < probs[:, 0]).all()
    expected = probs[0] / np.array([0.5, 0.1, 0.4])
    assert np.allclose(out[0], expected / expected.sum(), atol=1e-6)


def test_class_prior_follows_the_sampling_weights():
    targets = np.array([0, 0, 0, 1])
    assert class_prior(targets, None, 3) == pytest.approx((0.75, 0.25, 0.0))
    assert class_prior(targets, np.array([1, 1, 1, 3.0]), 3) == pytest.approx((0.5, 0.5, 0.0))


def test_fit_picks_the_strength_with_the_best_balanced_accuracy():
    rng = np.random.default_rng(0)
    # a model that learned a 90/10 prior: the rare class's evidence is there but too weak to win
    y = np.array([0] * 500 + [1] * 500)
    evidence = np.where(y == 1, 0.7, 0.3) + rng.normal(0, 0.15, len(y))
    odds = np.exp(3 * (evidence - 0.5)) * (0.1 / 0.9)
    probs = np.stack([1 / (1 + odds), odds / (1 + odds)], 1)
    natural = balanced_accuracy(y, probs.argmax(1), 2)
    corr, table = fit_prior({"val": (probs, y)}, (0.9, 0.1))
    assert corr.tau > 0.5 and corr.fitted_on == ("val",)
    assert max(r["score"] for r in table) == pytest.approx(table[round(corr.tau * 10)]["score"])
    assert table[round(corr.tau * 10)]["score"] > natural + 0.1


def test_balanced_needs_a_stored_correction(tiny_classifier, tmp_path):
    ckpt = read_checkpoint(tiny_classifier)
    ckpt["prior"] = None
    bare = tmp_path / "bare.pt"
    torch.save(ckpt, bare)
    with pytest.raises(WeightsError, match=r"no prior correction.*calibrate-classifier"):
        EmotionClassifier.from_pretrained(bare, "cpu", backend="torch", prior="balanced")
    with pytest.raises(ConfigError, match="unknown prior"):
        EmotionClassifier.from_pretrained(bare, "cpu", backend="torch", prior="uniform")
    with pytest.raises(ConfigError, match="unknown prior"):
        PipelineConfig(prior="uniform")


def test_training_stores_a_correction_that_balanced_applies(tiny_classifier):
    stored = PriorCorrection.from_dict(read_checkpoint(tiny_classifier)["prior"])
    assert stored is not None and len(stored.train_prior) == 7 and stored.fitted_on == ("fer_folder0",)
    natural = EmotionClassifier.from_pretrained(tiny_classifier, "cpu", backend="torch")
    balanced = EmotionClassifier.from_pretrained(tiny_classifier, "cpu", backend="torch", prior="balanced")
    p, q = natural.predict_proba([FACE]), balanced.predict_proba([FACE])
    assert np.allclose(q, apply_prior(p, stored), atol=1e-6)


def test_calibrate_command_stores_it_and_eval_reports_the_mix(tiny_classifier, fer_folder, tmp_path):
    out = tmp_path / "calibrated.pt"
    runner = CliRunner()
    args = ["calibrate-classifier", "--weights", str(tiny_classifier), "--data", str(fer_folder)]
    res = runner.invoke(app, [*args, "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "<- stored" in res.output and read_checkpoint(out)["prior"]["fitted_on"] == ["fer_folder0"]
    evaluated = runner.invoke(
        app,
        ["eval-classifier", "--weights", str(out), "--data", str(fer_folder), "--prior", "balanced",
         "--backend", "torch", "--device", "cpu", "--json"],
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.output)
    assert report["prior"] == "balanced"
    assert sum(report["predicted_share"].values()) == pytest.approx(1)
    assert report["true_share"]["happy"] == pytest.approx(1 / 7)


def test_the_shipped_weights_are_not_calibrated_in_place(fer_folder):
    res = CliRunner().invoke(app, ["calibrate-classifier", "--weights", "default", "--data", str(fer_folder)])
    assert res.exit_code == 1 and "--out is needed: the shipped weights are not changed" in res.output
