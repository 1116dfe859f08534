"""Result types validate themselves; one function picks the device; the package's entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ferkit.device import check_device_name, select_device
from ferkit.errors import ConfigError, DataError
from ferkit.types import Box, Face


@pytest.mark.parametrize(
    "corners",
    [(10, 10, 5, 5), (10, 10, 20, 5), (0, 0, float("nan"), 4), (0, 0, float("inf"), 4)],
)
def test_impossible_boxes_are_refused(corners):
    with pytest.raises(DataError, match="box corners"):
        Box(*corners)


def test_a_degenerate_box_is_allowed():
    assert Box(5, 5, 5, 5).width == 0


def test_a_face_label_must_be_one_of_its_classes():
    with pytest.raises(DataError, match="'joy' is not one of the classes"):
        Face(Box(0, 0, 1, 1), 0.9, "joy", {"happy": 1.0})
    assert Face(Box(0, 0, 1, 1), 0.9, "happy", {"happy": 0.7, "sad": 0.3}).emotion_score == 0.7


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("auto", "auto"),
        (" CPU ", "cpu"),
        ("cuda", "cuda"),
        ("cuda:1", "cuda:1"),
        ("mps", "mps"),
        (None, "auto"),
    ],
)
def test_device_names(name, expected):
    assert check_device_name(name) == expected


@pytest.mark.parametrize("name", ["gpu", "cuda:", "cuda:x", "tpu"])
def test_unknown_device_names(name):
    with pytest.raises(ConfigError, match="unknown device"):
        check_device_name(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_absent_cuda_is_a_clear_error(name):
    with pytest.raises(ConfigError, match="no CUDA GPU is available"):
        select_device(name)


def test_auto_and_cpu():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_top_level_names_are_the_real_classes():
    import ferkit
    from ferkit.classifier.predictor import EmotionClassifier
    from ferkit.detector.face_detector import FaceDetector
    from ferkit.imaging.draw import annotate
    from ferkit.pipeline import Pipeline

    assert (ferkit.FaceDetector, ferkit.EmotionClassifier) == (FaceDetector, EmotionClassifier)
    assert (ferkit.Pipeline, ferkit.annotate) == (Pipeline, annotate)
    assert set(ferkit.__all__) <= set(dir(ferkit)) | {"Pipeline", "FaceDetector", "EmotionClassifier",
                                                      "EnsembleClassifier", "annotate"}  # fmt: skip
    with pytest.raises(AttributeError):
        ferkit.Nope  # noqa: B018


@pytest.mark.parametrize("argv", [["-m", "ferkit", "--version"], ["-m", "ferkit.cli", "--version"]])
def test_python_dash_m_and_version(argv):
    import ferkit

    out = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == f"ferkit {ferkit.__version__}"


@pytest.mark.parametrize(
    ("device", "expected"),
    [("cpu", "cpu"), ("mps", "mps"), ("cuda", "0"), ("cuda:1", "1")],
)
def test_devices_reach_ultralytics_in_its_spelling(device, expected):
    from ferkit.detector.yolo import ultralytics_device

    assert ultralytics_device(torch.device(device)) == expected


def test_ultralytics_import_leaves_the_users_config_folder_alone(tmp_path):
    settings, written = _ultralytics_settings(tmp_path, None)
    assert written == "True"  # ultralytics wrote its settings, but into ferkit's folder for this process
    assert not (tmp_path / "config" / "Ultralytics").exists()
    assert not Path(settings).parent.exists()  # removed when the process ended


def test_ultralytics_settings_follow_yolo_config_dir_when_set(tmp_path):
    settings, written = _ultralytics_settings(tmp_path, tmp_path / "mine")
    assert written == "True" and Path(settings) == tmp_path / "mine" / "Ultralytics" / "settings.json"
    assert not (tmp_path / "config" / "Ultralytics").exists()


def _ultralytics_settings(home: Path, config_dir: Path | None) -> tuple[str, str]:
    """(ultralytics' settings file, whether it was written) in a fresh process that imports it via ferkit."""
    env = {k: v for k, v in os.environ.items() if k != "YOLO_CONFIG_DIR"}
    env |= {"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config")}
    if config_dir is not None:
        env["YOLO_CONFIG_DIR"] = str(config_dir)
    code = (
        "from ferkit.detector import yolo; yolo.ultralytics_module(); import ultralytics.utils as u; "
        "print(u.SETTINGS_FILE, u.SETTINGS_FILE.is_file())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    settings, written = out.stdout.splitlines()[-1].rsplit(" ", 1)
    return settings, written


def test_running_exported_models_on_the_cpu_never_imports_torch():
    """PyTorch is 1.6 s of a cold start: the default pipeline on the CPU does not need it, even installed."""
    code = (
        "import sys\nfrom ferkit.pipeline import Pipeline\n"
        "faces = Pipeline.from_pretrained(device='cpu').run('docs/example.jpg').faces\n"
        "print(len(faces), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["2", "False"], out.stderr[-2000:]
