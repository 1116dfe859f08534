"""One path from a weights spec to a running model: resolve(kind, spec) -> WeightsRef -> runtime -> model."""

from __future__ import annotations

import shutil

import pytest
import torch

from ferkit.backends import resolve_runtime
from ferkit.classifier.predictor import EmotionClassifier
from ferkit.errors import ConfigError, WeightsError
from ferkit.export import export
from ferkit.weights import DEFAULT_INT8, packaged_weights, resolve, resolve_weights, shipped_export

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def layouts(tmp_path_factory, tiny_classifier):
    """Every place weights can be: a run folder (weights/best.pt, both models), a classifier run made before
    that layout (best.pt at the top), an .onnx, an OpenVINO folder."""
    root = tmp_path_factory.mktemp("layouts")
    (root / "legacy").mkdir()
    shutil.copy(tiny_classifier, root / "legacy" / "best.pt")
    (root / "run" / "weights").mkdir(parents=True)
    shutil.copy(tiny_classifier, root / "run" / "weights" / "best.pt")
    export(tiny_classifier, "onnx", root / "c.onnx")
    export(tiny_classifier, "openvino", root / "c_ov")
    return root


@pytest.mark.parametrize(
    ("spec", "fmt", "file"),
    [("run", "checkpoint", "run/weights/best.pt"), ("legacy", "checkpoint", "legacy/best.pt"),
     ("c.onnx", "onnx", "c.onnx"), ("c_ov", "openvino", "c_ov"),
     ("run/weights/best.pt", "checkpoint", "run/weights/best.pt")],
)  # fmt: skip
def test_every_layout_resolves_to_one_ref(layouts, spec, fmt, file):
    ref = resolve("classifier", layouts / spec)
    assert (ref.format, ref.path, ref.exported) == (fmt, layouts / file, fmt != "checkpoint")
    if ref.exported:
        assert ref.meta["kind"] == "classifier" and ref.meta["meta"]["class_names"]


def test_shipped_specs():
    assert resolve("detector", "default").path == packaged_weights("detector")
    assert resolve("classifier", None).format == "checkpoint"
    int8 = resolve("classifier", DEFAULT_INT8)
    assert int8.format == "openvino" and int8.shipped and int8.meta["precision"] == "int8"


@pytest.mark.parametrize(
    ("kind", "spec", "message"),
    [("classifier", "nowhere.pt", "not found"), ("detector", DEFAULT_INT8, "not a detector"),
     ("detector", "SHIPPED_ONNX", "not a detector"), ("classifier", "EMPTY_DIR", "tried")],
)  # fmt: skip
def test_bad_specs_are_one_weights_error(tmp_path, kind, spec, message):
    spec = {"SHIPPED_ONNX": shipped_export("classifier"), "EMPTY_DIR": tmp_path}.get(spec, spec)
    with pytest.raises(WeightsError, match=message):
        resolve(kind, spec)


def test_training_refuses_an_export_where_a_checkpoint_is_needed(layouts):
    with pytest.raises(WeightsError, match="give a checkpoint"):
        resolve_weights("classifier", layouts / "c.onnx")


def test_the_cli_check_and_the_model_pick_the_same_runtime(layouts):
    """Finding 2 of the review: a .pt of your own with bf16 passed the CLI's check and failed at load."""
    own = resolve("classifier", layouts / "run")
    with pytest.raises(ConfigError, match="bf16"):
        resolve_runtime(own, "auto", "bf16", CPU)
    with pytest.raises(ConfigError, match="bf16"):
        EmotionClassifier.from_pretrained(layouts / "run", CPU, precision="bf16")
    ov = resolve("classifier", layouts / "c_ov")
    assert resolve_runtime(ov, "auto", "bf16", CPU).backend == "openvino"
    assert EmotionClassifier.from_pretrained(layouts / "c_ov", CPU, precision="bf16").backend == "openvino"


def test_onnx_metadata_is_read_without_the_onnx_package_as_onnx_reads_it(tmp_path):
    import json

    import onnx

    from ferkit.weights import META_KEY, onnx_metadata, with_metadata

    for kind in ("classifier", "detector"):
        data = shipped_export(kind).read_bytes()
        want = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
        assert onnx_metadata(data) == want and json.loads(want[META_KEY])["kind"] == kind
    data = with_metadata(shipped_export("classifier").read_bytes(), {"kind": "classifier", "note": "é ü"})
    assert onnx_metadata(data)[META_KEY] == json.dumps({"kind": "classifier", "note": "é ü"})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x08", "not an ONNX model"),  # a varint cut short
        (b"\x0f\x01", "not an ONNX model"),  # wire type 7 does not exist
        (b"\x3a\xff\xff\x03", "not an ONNX model"),  # a field longer than the file
        (b"\x08\x07", "carries no ferkit metadata"),  # a valid ModelProto (ir_version 7) without ours
    ],
)
def test_a_malformed_onnx_file_is_one_weights_error(tmp_path, content, message):
    path = tmp_path / "m.onnx"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=message):
        resolve("classifier", path)
