"""Exported models whose metadata does not match their network are refused at load, in one line."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from ferkit.classifier.predictor import EmotionClassifier
from ferkit.detector.face_detector import FaceDetector
from ferkit.errors import WeightsError
from ferkit.weights import META_KEY, read_metadata, shipped_export
from tests.helpers import fer


def tampered(kind: str, dst: Path, change) -> Path:
    """The shipped ONNX export of ``kind`` with its ferkit metadata passed through ``change``."""
    src = shipped_export(kind)
    meta = change(read_metadata(src))
    proto = onnx.load(str(src))
    for prop in proto.metadata_props:
        if prop.key == META_KEY:
            prop.value = json.dumps(meta)
    onnx.save(proto, str(dst))
    return dst


def _classes(meta):
    meta["meta"]["class_names"] = meta["meta"]["class_names"][:-1]
    return meta


def _size(meta):
    meta["meta"]["input_size"] = 64
    return meta


def _no_mean(meta):
    del meta["meta"]["mean"]
    return meta


@pytest.mark.parametrize(
    ("change", "message"),
    [(_classes, "names 6 classes but the network gives 7"), (_size, "64x64"), (_no_mean, "'mean'")],
    ids=["class-count", "input-size", "missing-mean"],
)
@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_classifier_metadata_is_checked_at_load(tmp_path, change, message, backend):
    path = tampered("classifier", tmp_path / "bad.onnx", change)
    with pytest.raises(WeightsError, match=message):
        EmotionClassifier.from_pretrained(path, device="cpu", backend=backend)


def _det_classes(meta):
    meta["names"] = {"0": "face", "1": "hand"}
    return meta


def _det_no_names(meta):
    meta["names"] = {}
    return meta


@pytest.mark.parametrize(
    ("change", "message"),
    [(_det_classes, "names 2 class"), (_det_no_names, "names no classes")],
    ids=["class-count", "no-names"],
)
def test_detector_metadata_is_checked_at_load(tmp_path, change, message):
    path = tampered("detector", tmp_path / "bad.onnx", change)
    with pytest.raises(WeightsError, match=message):
        FaceDetector(path, device="cpu", backend="onnx")


def test_cli_refuses_before_the_batch(tmp_path, real_photo):
    path = tampered("classifier", tmp_path / "bad.onnx", _classes)
    opts = ["--classifier-weights", path, "--backend", "onnx", "--device", "cpu"]
    r = fer("detect-and-classify", real_photo, *opts)
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert [x for x in r.stderr.splitlines() if x.startswith("error:")] and "names 6 classes" in r.stderr
