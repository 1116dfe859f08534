"""``--precision auto`` by measurement: bf16 only where it is measured faster here; fp32 elsewhere; the
choice cached per machine and model, and recorded as what ran."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import ferkit.backends as backends
import ferkit.precision as precision
from ferkit.backends import ExportedModel, check_precision

ONNX = Path(__file__).resolve().parents[1] / "src" / "ferkit" / "weights" / "classifier_default.onnx"


@pytest.fixture
def bf16_cpu(monkeypatch, tmp_path):
    """A CPU that reports native bfloat16, a cache folder of the test's own, and timings set by the test."""
    monkeypatch.setattr(backends, "native_bf16", lambda: True)
    monkeypatch.setenv("FERKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(precision, "_memo", {})
    timed = []

    def set_timings(fp32: float, bf16: float):
        def time_both(a, b, x):
            timed.append(x.shape)
            return fp32, bf16

        monkeypatch.setattr(precision, "time_both", time_both)
        return timed

    return set_timings


def test_auto_is_fp32_without_native_bf16(monkeypatch):
    monkeypatch.setattr(backends, "native_bf16", lambda: False)
    assert check_precision("auto", "openvino") == "fp32"
    assert check_precision("auto", "onnx") == check_precision("auto", "torch") == "fp32"


@pytest.mark.parametrize(
    ("fp32", "bf16", "chosen"), [(1.0, 0.7, "bf16"), (1.0, 0.95, "fp32"), (1.0, 1.3, "fp32")]
)
def test_auto_takes_bf16_only_where_it_is_measured_faster(bf16_cpu, tmp_path, fp32, bf16, chosen):
    timed = bf16_cpu(fp32, bf16)
    model = ExportedModel(ONNX, "openvino", torch.device("cpu"), "auto", probe_shape=(4, 1, 48, 48))
    assert model.precision == chosen and timed == [(4, 1, 48, 48)]  # timed on the model's own input
    cache = json.loads((tmp_path / "cache" / "precision.json").read_text())
    assert chosen in cache.values()
    precision._memo.clear()  # a new process: the cache file answers, nothing is timed again
    again = ExportedModel(ONNX, "openvino", torch.device("cpu"), "auto", probe_shape=(4, 1, 48, 48))
    assert again.precision == chosen and len(timed) == 1


def test_an_explicit_precision_is_never_measured(bf16_cpu):
    timed = bf16_cpu(1.0, 0.5)
    assert ExportedModel(ONNX, "openvino", torch.device("cpu"), "fp32").precision == "fp32"
    assert timed == []


def test_the_pipeline_records_what_ran(bf16_cpu):
    from ferkit.pipeline import Pipeline

    bf16_cpu(1.0, 0.5)
    pipe = Pipeline.from_pretrained(device="cpu", backend="openvino", precision="auto")
    assert pipe.settings()["precision"] == "bf16" and pipe.classifier.precision == "bf16"
