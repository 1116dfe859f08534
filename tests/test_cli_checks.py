"""The CLI's early option checks resolve the backend for the weights that will load, as the models do."""

from __future__ import annotations

import pytest

from tests.helpers import fer


@pytest.fixture
def no_loading(monkeypatch):
    """Fail the test if a command gets as far as loading models."""
    from ferkit.pipeline import Pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("the models were loaded before the options were checked")

    monkeypatch.setattr(Pipeline, "from_config", refuse)  # the one loader (from_pretrained calls it)


def test_own_checkpoint_with_bf16_is_refused_before_loading(no_loading, tiny_classifier, real_photo):
    # auto runs a checkpoint of your own on PyTorch, which has no bf16: the early check must see that
    r = fer("detect-and-classify", real_photo, "--classifier-weights", tiny_classifier, "--precision", "bf16",
            "--device", "cpu")  # fmt: skip
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert "bf16 runs with the openvino backend" in r.stderr and str(tiny_classifier) in r.stderr


def test_own_detector_with_bf16_is_refused_before_loading(no_loading, tiny_detector_run, real_photo):
    weights = tiny_detector_run / "weights" / "best.pt"
    r = fer("detect-and-classify", real_photo, "--detector-weights", weights, "--precision", "bf16",
            "--device", "cpu")  # fmt: skip
    assert r.exit_code == 1 and str(weights) in r.stderr


def test_shipped_models_with_bf16_pass_the_check(no_loading, real_photo):
    r = fer("detect-and-classify", real_photo, "--precision", "bf16", "--device", "cpu")
    assert "the models were loaded" in repr(r.exception)  # got past the check, to loading


@pytest.mark.parametrize("option", [["--device", "gpu"], ["--backend", "tensorrt"], ["--precision", "fp16"]])
def test_an_unknown_option_value_is_a_usage_error_whatever_the_option(option):
    r = fer("detect-and-classify", "docs/example.jpg", *option)
    assert r.exit_code == 2 and f"Invalid value for '{option[0]}'" in r.output
