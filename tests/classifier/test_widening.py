"""Widening a trained classifier into a wider architecture (``fer widen-classifier``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ferkit.classifier.checkpoint import load_checkpoint
from ferkit.classifier.models import create_model
from ferkit.classifier.predictor import EmotionClassifier
from ferkit.classifier.widening import widen_checkpoint, widen_model
from ferkit.errors import ConfigError, WeightsError
from tests.helpers import fer


def _trained_looking(arch: str = "alexnet_s", seed: int = 0) -> torch.nn.Module:
    """A model with random batch-norm statistics and affine terms, as training leaves them."""
    torch.manual_seed(seed)
    model = create_model(arch, 7)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.normal_(0, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
    return model.eval()


def test_the_wider_model_answers_exactly_as_the_narrow_one():
    src = _trained_looking()
    wide = widen_model(src, create_model("alexnet_m", 7), seed=3).eval()
    x = torch.rand(16, 1, 48, 48)
    with torch.no_grad():
        a, b = src(x), wide(x)
    assert a.abs().max() > 0.1  # not a trivially zero output
    torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)
    assert sum(p.numel() for p in wide.parameters()) > 3 * sum(p.numel() for p in src.parameters())


def test_copied_units_get_different_gradients_so_they_can_diverge():
    wide = widen_model(_trained_looking(), create_model("alexnet_m", 7), seed=0).eval()
    first = wide.features[0].weight  # 64 units, copies of the narrow model's 32
    assert torch.equal(first[:32], first[32:])
    loss = torch.nn.functional.cross_entropy(wide(torch.rand(8, 1, 48, 48)), torch.arange(8) % 7)
    loss.backward()
    g = first.grad
    assert not torch.allclose(g[:32], g[32:]), "equal shares would keep the copies identical forever"


@pytest.mark.parametrize(
    ("narrow", "wide"),
    [("alexnet_m", "alexnet_s"),  # narrower
     ("alexnet_s", "alexnet_l")],  # deeper: other layers
)  # fmt: skip
def test_an_architecture_that_is_not_a_widening_is_refused(narrow, wide):
    with pytest.raises(ConfigError, match="not a widening"):
        widen_model(create_model(narrow, 7), create_model(wide, 7))


def test_a_widened_checkpoint_keeps_what_reproduces_its_inputs(tmp_path, tiny_classifier, fer_folder):
    out = widen_checkpoint(tiny_classifier, "alexnet_m", tmp_path / "wide.pt")
    (_, meta), (_, wide_meta) = load_checkpoint(tiny_classifier), load_checkpoint(out)
    assert wide_meta.arch == "alexnet_m" and meta.arch == "alexnet_s"
    for field in ("class_names", "grouping", "input_size", "mean", "std", "crop", "prior", "blur_sigma"):
        assert getattr(wide_meta, field) == getattr(meta, field), field
    assert wide_meta.metrics == {"widened_from": str(tiny_classifier), "from_arch": "alexnet_s", "seed": 0}
    faces = [np.random.default_rng(1).integers(0, 255, (48, 48), np.uint8) for _ in range(4)]
    probs = [
        EmotionClassifier.from_pretrained(p, "cpu", backend="torch").predict_proba(faces)
        for p in (tiny_classifier, out)
    ]
    np.testing.assert_allclose(probs[1], probs[0], atol=1e-4)


def test_the_command_writes_a_model_training_can_start_from(tmp_path, tiny_classifier, fer_folder):
    from ferkit.classifier.train import ClassifierTrainConfig, fit

    out = tmp_path / "wide.pt"
    res = fer("widen-classifier", "--weights", tiny_classifier, "--arch", "alexnet_m", "--out", out)
    assert res.exit_code == 0, res.output
    assert "widened into alexnet_m" in res.output and out.is_file()
    cfg = ClassifierTrainConfig(
        data=str(fer_folder), init=str(out), epochs=1, batch_size=8, device="cpu",
        project=str(tmp_path / "runs"), name="ft",
    )  # fmt: skip
    best = fit(cfg, log=lambda *_: None) / "weights" / "best.pt"
    assert load_checkpoint(best)[1].arch == "alexnet_m"


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--arch", "alexnet_l"], "not a widening"),
     (["--arch", "vgg99"], "unknown classifier architecture"),
     (["--weights", "missing.pt"], "not found")],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_1(tmp_path, tiny_classifier, args, message):
    base = {"--weights": str(tiny_classifier), "--arch": "alexnet_m", "--out": str(tmp_path / "w.pt")}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    res = fer("widen-classifier", *[x for kv in base.items() for x in kv])
    assert res.exit_code == 1 and message in res.output, res.output
    assert "Traceback" not in res.output and not (tmp_path / "w.pt").exists()


def test_an_export_is_refused(tmp_path, tiny_classifier):
    from ferkit.export import export

    onnx = export(tiny_classifier, "onnx", tmp_path / "m.onnx")  # a real export, readable metadata
    with pytest.raises(WeightsError, match="exported onnx model: give a checkpoint"):
        widen_checkpoint(onnx, "alexnet_m", tmp_path / "w.pt")
