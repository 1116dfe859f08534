"""No weights file runs code: crafted pickles through every command that takes detector weights."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from ferkit.detector.safe_load import check_detector_checkpoint
from ferkit.detector.yolo import ultralytics_module
from ferkit.errors import UnsafeWeightsError, WeightsError
from tests.helpers import fer


class _System:
    """Pickles as a call of os.system that creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _CallsDetectionModel:
    """Pickles as a *call* of an allowed class: DetectionModel(cfg) evaluates strings of its config."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        from ultralytics.nn.tasks import DetectionModel

        code = f"__import__('os').system('touch {self.marker}')"
        return (DetectionModel, ({"activation": code, "nc": 1, "backbone": [], "head": []},))


@pytest.fixture
def payload(tmp_path) -> tuple[Path, Path]:
    """A .pt that, unpickled by ultralytics, runs a shell command creating a marker file."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": _System(marker), "epoch": -1}, path)
    return path, marker


@pytest.mark.skipif(sys.platform == "win32", reason="the payload uses a POSIX shell command")
def test_payload_really_runs_code_when_unpickled(payload):
    """The fixture is a real exploit: a plain unpickle creates the marker (so the tests below can fail)."""
    path, marker = payload
    torch.load(path, weights_only=False)
    assert marker.exists()


class _CallsNamespace:
    """Pickles as a call *with arguments* of the one allowed container (a run's training arguments)."""

    def __reduce__(self):
        from ultralytics.utils import IterableSimpleNamespace

        return (IterableSimpleNamespace, ("positional",))


def test_the_training_arguments_of_an_unfinished_run_pass_but_not_a_call_of_them(tmp_path):
    from ultralytics.utils import IterableSimpleNamespace

    ultralytics_module()
    kept = tmp_path / "unfinished_last.pt"  # what a run's last.pt holds until ultralytics strips it
    torch.save({"train_args": IterableSimpleNamespace(epochs=3, imgsz=64), "epoch": 0}, kept)
    check_detector_checkpoint(kept)
    crafted = tmp_path / "crafted.pt"
    torch.save({"train_args": _CallsNamespace()}, crafted)
    with pytest.raises(UnsafeWeightsError, match=r"calls ultralytics\.utils\.IterableSimpleNamespace"):
        check_detector_checkpoint(crafted)


def test_checker_refuses_a_call_of_an_allowed_class(tmp_path):
    ultralytics_module()
    path = tmp_path / "calls.pt"
    torch.save({"model": _CallsDetectionModel(tmp_path / "pwned")}, path)
    with pytest.raises(UnsafeWeightsError, match=r"calls ultralytics\.nn\.tasks\.DetectionModel"):
        check_detector_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (b"hello, not weights\n", "not a PyTorch checkpoint")],
)
def test_checker_names_files_that_are_no_checkpoints(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=message):
        check_detector_checkpoint(path)


def test_checker_passes_real_detector_checkpoints(tiny_detector_run):
    ultralytics_module()
    for name in ("best.pt", "last.pt"):  # last.pt also holds the optimizer and training arguments
        check_detector_checkpoint(tiny_detector_run / "weights" / name)
    from ferkit.weights import resolve_weights

    check_detector_checkpoint(resolve_weights("detector", "default"))


def _commands(evil: Path, tmp: Path, tiny_yolo: Path, real_photo: Path) -> dict[str, list]:
    run = tmp / "runs" / "hostile"  # a run folder whose last.pt is the payload
    (run / "weights").mkdir(parents=True)
    (run / "weights" / "last.pt").write_bytes(evil.read_bytes())
    return {
        "detect-and-classify": [
            "detect-and-classify", real_photo, "--detector-weights", evil, "--device", "cpu",
        ],
        "serve": ["serve", "--detector-weights", evil, "--port", "0", "--device", "cpu"],
        "export": ["export", "--weights", evil, "--out", tmp / "x.onnx"],
        "eval-detector": ["eval-detector", "--data", tiny_yolo, "--weights", evil, "--device", "cpu"],
        "train-detector": [
            "train-detector", "--data", tiny_yolo, "--model", evil, "--epochs", "1", "--imgsz", "64",
            "--device", "cpu", "--project", tmp / "runs",
        ],
        "train-detector --resume": ["train-detector", "--resume", run, "--device", "cpu"],
    }  # fmt: skip


COMMANDS = [
    "detect-and-classify", "serve", "export", "eval-detector", "train-detector", "train-detector --resume",
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_runs_code_from_detector_weights(command, payload, tmp_path, tiny_yolo, real_photo):
    evil, marker = payload
    r = fer(*_commands(evil, tmp_path, tiny_yolo, real_photo)[command])
    assert not any(marker.parent.rglob(marker.name)), f"fer {command} ran code from a weights file"
    assert r.exit_code == 1, r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "refused to load" in errors[0] and "os.system" not in r.stdout
    assert "Traceback" not in r.output
    if command == "train-detector":
        assert not (tmp_path / "runs" / "train").exists(), "a refused run must not create its run folder"
