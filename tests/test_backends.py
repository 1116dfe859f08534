"""The exported backends match PyTorch on the shipped weights; backend and export errors are clear."""

import importlib.util

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ferkit.backends import CPU_PREFERENCE, resolve_backend
from ferkit.boxes import detection_arrays, iou_matrix
from ferkit.classifier.predictor import EmotionClassifier
from ferkit.cli import app
from ferkit.detector.face_detector import FaceDetector
from ferkit.errors import ConfigError, WeightsError
from ferkit.export import export
from ferkit.pipeline import Pipeline
from ferkit.weights import packaged_weights, read_metadata, resolve, shipped_export, weights_sha256

EXPORTED = ("onnx", "openvino")
CPU = torch.device("cpu")
runner = CliRunner()


@pytest.fixture(scope="module")
def photos(real_photo):
    example = cv2.imread("docs/example.jpg")
    portrait = cv2.imread(str(real_photo))
    noise = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    return [example, portrait, noise, cv2.resize(example, (393, 210))]


def same_faces(a, b):
    assert len(a) == len(b)
    if a:
        (ba, sa), (bb, sb) = detection_arrays(a), detection_arrays(b)
        assert iou_matrix(ba, bb).max(axis=1).min() >= 0.98
        assert np.abs(sa - sb).max() < 1e-3


@pytest.mark.parametrize("backend", EXPORTED)
def test_exported_detector_finds_the_same_faces(backend, photos):
    ref = FaceDetector(device="cpu", backend="torch")
    got = FaceDetector(device="cpu", backend=backend, precision="fp32")  # the equivalence promise: fp32
    assert got.weights == shipped_export("detector")  # the shipped export, not one made at load
    for a, b in zip(ref.detect(photos), got.detect(photos), strict=True):  # a batch of mixed sizes
        same_faces(a, b)
    for im in photos:  # and one by one
        same_faces(ref.detect(im), got.detect(im))
    assert len(got.detect(photos[0])) == 2 and got.detect(photos[2]) == []


@pytest.mark.parametrize("backend", EXPORTED)
@pytest.mark.parametrize("tta", [False, True])
def test_exported_classifier_gives_the_same_probabilities(backend, tta):
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 255, (s, s, 3), dtype=np.uint8) for s in (30, 48, 64, 120)]
    ref = EmotionClassifier.from_pretrained(device="cpu", backend="torch").predict_proba(crops, tta=tta)
    got = EmotionClassifier.from_pretrained(device="cpu", backend=backend, precision="fp32")
    got = got.predict_proba(crops, tta=tta)
    assert np.abs(ref - got).max() < 1e-3


@pytest.mark.parametrize("backend", EXPORTED)
def test_pipeline_results_match_torch(backend):
    ref = Pipeline.from_pretrained(device="cpu", backend="torch").run("docs/example.jpg")
    got = Pipeline.from_pretrained(device="cpu", backend=backend, precision="fp32").run("docs/example.jpg")
    assert [f.emotion for f in got.faces] == [f.emotion for f in ref.faces]
    for a, b in zip(ref.faces, got.faces, strict=True):
        assert max(abs(a.emotion_probs[k] - b.emotion_probs[k]) for k in a.emotion_probs) < 1e-3


@pytest.mark.parametrize("kind", ["classifier", "detector"])
def test_shipped_exports_are_made_from_the_shipped_checkpoints(kind):
    meta = read_metadata(shipped_export(kind))
    assert meta["kind"] == kind and meta["source_sha256"] == weights_sha256(packaged_weights(kind))


def test_auto_picks_the_fastest_installed_backend_on_cpu(monkeypatch):
    assert resolve_backend("auto", CPU) == CPU_PREFERENCE[0]
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "openvino" else real(n, *a))
    assert resolve_backend("auto", CPU) == "onnx"


@pytest.mark.parametrize(
    ("name", "device", "missing", "message"),
    [
        ("tensorrt", CPU, None, "unknown backend 'tensorrt'"),
        ("openvino", CPU, "openvino", "pip install openvino"),
        ("onnx", CPU, "onnxruntime", r"needs onnxruntime, not installed here: pip install 'ferkit\[onnx\]'"),
        ("torch", CPU, "ultralytics", r"needs ultralytics, not installed here: pip install 'ferkit\[torch\]"),
        ("torch", CPU, "torch", r"'torch' needs torch, not installed here: pip install 'ferkit\[torch\]'"),
        ("openvino", torch.device("cuda"), None, "runs on the CPU"),
    ],
)
def test_backend_errors(monkeypatch, name, device, missing, message):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == missing else real(n, *a))
    with pytest.raises(ConfigError, match=message):
        resolve_backend(name, device)


@pytest.mark.parametrize(("kind", "runs"), [("classifier", True), ("detector", False)])
def test_the_torch_backend_needs_ultralytics_for_the_detector_only(monkeypatch, kind, runs):
    real = importlib.util.find_spec
    hide = "ultralytics"
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == hide else real(n, *a))
    ref = resolve(kind, str(packaged_weights(kind)))  # a checkpoint of one's own: auto picks torch
    for name in ("torch", "auto"):
        if runs:
            assert resolve_backend(name, CPU, ref) == "torch"
        else:
            with pytest.raises(ConfigError, match="needs ultralytics"):
                resolve_backend(name, CPU, ref)


def test_export_a_classifier_to_onnx_and_openvino(tiny_classifier, tmp_path):
    onnx_file = export(tiny_classifier, "onnx", tmp_path / "c.onnx")
    ir = export(tiny_classifier, "openvino", tmp_path / "c_ov")
    assert read_metadata(onnx_file)["meta"]["class_names"] == list(
        EmotionClassifier.from_pretrained(tiny_classifier, "cpu").class_names
    )
    crops = [np.random.default_rng(2).integers(0, 255, (50, 50, 3), dtype=np.uint8)]
    ref = EmotionClassifier.from_pretrained(tiny_classifier, "cpu").predict_proba(crops)
    for weights, backend in ((onnx_file, "onnx"), (onnx_file, "openvino"), (ir, "openvino")):
        # fp32 pinned: the default (auto) is bf16 on CPUs with AMX or AVX512-BF16, which is not bit-faithful
        clf = EmotionClassifier.from_pretrained(weights, "cpu", backend=backend, precision="fp32")
        assert np.abs(clf.predict_proba(crops) - ref).max() < 1e-3
    with pytest.raises(WeightsError, match="runs with backend openvino"):
        EmotionClassifier.from_pretrained(ir, "cpu", backend="onnx")
    with pytest.raises(WeightsError, match="exported model: use backend onnx or openvino"):
        EmotionClassifier.from_pretrained(onnx_file, "cpu", backend="torch")
    with pytest.raises(WeightsError, match="not a detector"):
        FaceDetector(onnx_file, device="cpu", backend="onnx")


def test_export_cli_and_a_detector_export(photos, tmp_path):
    out = tmp_path / "d.onnx"
    r = runner.invoke(app, ["export", "--weights", str(packaged_weights("detector")), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert read_metadata(out)["kind"] == "detector"
    ref, got = FaceDetector(device="cpu", backend="torch"), FaceDetector(out, device="cpu", backend="onnx")
    for a, b in zip(ref.detect(photos), got.detect(photos), strict=True):  # the export finds what torch does
        same_faces(a, b)
    assert len(got.detect(photos[0])) == 2


def test_onnx_without_ferkit_metadata_is_refused(tmp_path, tiny_classifier):
    import onnx

    proto = onnx.load(str(export(tiny_classifier, "onnx", tmp_path / "c.onnx")))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "bare.onnx"))
    with pytest.raises(WeightsError, match="no ferkit metadata"):
        EmotionClassifier.from_pretrained(tmp_path / "bare.onnx", "cpu", backend="onnx")


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["detect-and-classify", "docs/example.jpg", "--backend", "nope"], "unknown backend 'nope'", 2),
        (["export", "--weights", "{cls}", "--format", "tflite"], "unknown export format 'tflite'", 1),
        (["export", "--weights", "/no/such.pt"], "weights not found", 1),
        (["serve", "--backend", "nope"], "unknown backend 'nope'", 2),
    ],
)
def test_cli_errors(args, message, code, tiny_classifier):
    """Library errors are one red line (exit 1); an unknown option value is a usage error (exit 2)."""
    r = runner.invoke(app, [a.format(cls=tiny_classifier) for a in args])
    assert r.exit_code == code and message in r.stderr
    assert r.stderr.count("error:") == 1 if code == 1 else "Invalid value for '--backend'" in r.stderr


def test_export_without_its_runtime_is_one_clear_error(monkeypatch, tiny_classifier, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "openvino" else real(n, *a))
    r = runner.invoke(app, ["export", "--weights", str(tiny_classifier), "--format", "openvino"])
    assert r.exit_code == 1 and "pip install openvino" in r.stderr


def test_auto_keeps_your_own_checkpoints_on_torch(tiny_classifier, tmp_path):
    """Exporting a .pt at every start would cost more than it saves: auto runs it with torch."""
    assert resolve_backend("auto", CPU, resolve("classifier", tiny_classifier)) == "torch"
    exported = resolve("classifier", export(tiny_classifier, "onnx", tmp_path / "c.onnx"))
    assert resolve_backend("auto", CPU, exported) == CPU_PREFERENCE[0]
    pipe = Pipeline.from_pretrained(classifier_weights=tiny_classifier, device="cpu")
    assert pipe.settings()["classifier_backend"] == "torch"
    assert pipe.settings()["detector_backend"] == CPU_PREFERENCE[0]


@pytest.mark.parametrize(
    ("backend", "precision", "message"),
    [
        ("onnx", "bf16", "runs with the openvino backend"),
        ("torch", "bf16", "openvino"),
        ("openvino", "fp8", "unknown"),
    ],
)
def test_precision_errors(backend, precision, message):
    with pytest.raises(ConfigError, match=message):
        FaceDetector(device="cpu", backend=backend, precision=precision)


def test_bf16_finds_the_same_faces_with_close_probabilities():
    """Not bit-exact (hence not the default), but the same faces and emotions on the README photo."""
    ref = Pipeline.from_pretrained(device="cpu", backend="openvino").run("docs/example.jpg")
    got = Pipeline.from_pretrained(device="cpu", backend="openvino", precision="bf16").run("docs/example.jpg")
    assert [f.emotion for f in got.faces] == [f.emotion for f in ref.faces]
    boxes_ref = np.array([f.box_xyxy.as_list() for f in ref.faces])
    boxes_got = np.array([f.box_xyxy.as_list() for f in got.faces])
    assert iou_matrix(boxes_ref, boxes_got).max(axis=1).min() >= 0.9
    for a, b in zip(ref.faces, got.faces, strict=True):
        assert max(abs(a.emotion_probs[k] - b.emotion_probs[k]) for k in a.emotion_probs) < 0.05


def test_cli_refuses_bf16_without_openvino_before_loading():
    r = runner.invoke(
        app, ["detect-and-classify", "docs/example.jpg", "--backend", "onnx", "--precision", "bf16"]
    )
    assert r.exit_code == 1 and "precision bf16 runs with the openvino backend" in r.stderr


def test_int8_export_of_a_classifier(tiny_classifier, fer_folder, tmp_path):
    out = tmp_path / "int8"
    calibrate = ["--calibration", str(fer_folder / "train"), "--calibration", str(fer_folder / "val")]
    args = ["export", "--weights", str(tiny_classifier), "--format", "openvino", "--out", str(out), "--int8"]
    r = runner.invoke(app, [*args, *calibrate])
    assert r.exit_code == 0, r.output
    meta = read_metadata(out)
    assert meta["precision"] == "int8" and meta["calibration"]["folders"][1].endswith("val")
    crops = [np.random.default_rng(4).integers(0, 255, (48, 48, 3), dtype=np.uint8) for _ in range(8)]
    ref = EmotionClassifier.from_pretrained(tiny_classifier, "cpu", backend="torch").predict_proba(crops)
    got = EmotionClassifier.from_pretrained(out, "cpu", backend="openvino").predict_proba(crops)
    assert got.shape == ref.shape and np.allclose(got.sum(axis=1), 1, atol=1e-4)
    assert np.abs(got - ref).max() < 0.2  # quantized: close, not exact


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--int8"], "--int8 and --calibration go together"),
        (["--int8", "--calibration", "{folder}"], "--format must be openvino for int8"),
        (["--format", "openvino", "--int8", "--calibration", "{empty}"], "empty holds no images"),
    ],
)
def test_int8_export_errors(tiny_classifier, fer_folder, tmp_path, extra, message):
    (tmp_path / "empty").mkdir()
    args = [a.format(folder=fer_folder, empty=tmp_path / "empty") for a in extra]
    r = runner.invoke(app, ["export", "--weights", str(tiny_classifier), "--out", str(tmp_path / "o"), *args])
    assert r.exit_code == 1 and message in r.stderr


def test_shipped_int8_classifier_is_made_from_the_shipped_checkpoint_and_agrees():
    folder = packaged_weights("classifier").parent / "classifier_default_int8"
    meta = read_metadata(folder)
    assert meta["precision"] == "int8" and meta["source_sha256"] == weights_sha256(
        packaged_weights("classifier")
    )
    ref = Pipeline.from_pretrained(device="cpu").run("docs/example.jpg")
    got = Pipeline.from_pretrained(device="cpu", classifier_weights="default-int8").run("docs/example.jpg")
    assert [f.emotion for f in got.faces] == [f.emotion for f in ref.faces]
    for a, b in zip(ref.faces, got.faces, strict=True):
        assert max(abs(a.emotion_probs[k] - b.emotion_probs[k]) for k in a.emotion_probs) < 0.05
    with pytest.raises(WeightsError, match="runs with backend openvino"):
        EmotionClassifier.from_pretrained("default-int8", "cpu", backend="onnx")


def test_a_run_folder_records_an_openvino_folder_by_content(tmp_path):
    r = runner.invoke(
        app,
        [
            "detect-and-classify",
            "docs/example.jpg",
            "--classifier-weights",
            "default-int8",
            "--out",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    import json

    settings = json.loads((tmp_path / "run.json").read_text())
    assert settings["classifier_weights"][0]["path"].endswith("classifier_default_int8")
    assert len(settings["classifier_weights"][0]["sha256"]) == 64


@pytest.mark.parametrize(
    ("native", "backend", "want"),
    [
        (True, "openvino", "auto"),  # measured on the loaded model (tests/test_precision.py)
        (False, "openvino", "fp32"),
        (True, "onnx", "fp32"),
        (True, "torch", "fp32"),
    ],
)
def test_precision_auto_is_measured_only_with_openvino_on_native_bf16(monkeypatch, native, backend, want):
    import ferkit.backends as backends

    monkeypatch.setattr(backends, "native_bf16", lambda: native)
    assert backends.check_precision("auto", backend) == want
    assert backends.check_precision("fp32", backend) == "fp32"  # fp32 stays one option away


def test_openvino_keeps_compiled_models_in_ferkits_cache_folder(tmp_path, monkeypatch):
    """A later start loads the compiled model instead of compiling it again; an unwritable cache folder
    only means compiling as usual."""
    from ferkit.backends import ExportedModel
    from ferkit.weights import shipped_export

    monkeypatch.setenv("FERKIT_CACHE_DIR", str(tmp_path / "cache"))
    ExportedModel(shipped_export("classifier"), "openvino", torch.device("cpu"), "fp32")
    assert list((tmp_path / "cache" / "openvino").glob("*.blob"))
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("FERKIT_CACHE_DIR", str(tmp_path / "file"))
    model = ExportedModel(shipped_export("classifier"), "openvino", torch.device("cpu"), "fp32")
    assert model(np.zeros((1, 1, 48, 48), np.float32))[0].shape[0] == 1
