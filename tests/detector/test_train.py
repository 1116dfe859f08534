import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from ferkit.detector.architectures import ARCHITECTURES, architecture_yaml, resolve_model_spec
from ferkit.detector.evaluate import evaluate_detector
from ferkit.detector.face_detector import FaceDetector
from ferkit.detector.train import DetectorTrainConfig, finished_epochs, resume_detector, train_detector
from ferkit.errors import ConfigError, DataError, WeightsError
from ferkit.types import Detection
from tests.helpers import copy_yolo, fer, tiny_detector_config


def test_training_offline_writes_run_folder(tmp_path, tiny_yolo, no_network):
    data = copy_yolo(tiny_yolo, tmp_path / "data")
    before = sorted(p.relative_to(data.parent) for p in data.parent.rglob("*"))
    cfg = tiny_detector_config(data, tmp_path, "offline")
    run = train_detector(cfg)
    assert sorted(p.relative_to(data.parent) for p in data.parent.rglob("*")) == before  # no label cache
    assert list((run / "data" / "labels").glob("*.cache"))  # ultralytics' caches went into the run
    assert no_network == [], f"training tried the network: {no_network[:3]}"
    config_dir = Path(os.environ["YOLO_CONFIG_DIR"])  # the tests' stand-in for the user's config folder
    assert not list(config_dir.glob("*.ttf")), "training must not put fonts in the user's config folder"
    assert (run / "weights" / "best.pt").is_file() and (run / "weights" / "last.pt").is_file()
    assert yaml.safe_load((run / "config.yaml").read_text())["model"] == "yolo11p-face"
    assert (run / "results.csv").is_file()


def test_time_budget_ends_training_early(tmp_path, tiny_yolo):
    cfg = dataclasses.replace(tiny_detector_config(tiny_yolo, tmp_path, "budget"), epochs=5, hours=1e-6)
    run = train_detector(cfg)
    rows = (run / "results.csv").read_text().strip().splitlines()[1:]
    assert len(rows) == 1, "a time budget of a few milliseconds must stop after the first epoch"


def test_a_session_budget_stops_after_a_whole_epoch_and_resume_finishes_the_schedule(tmp_path, tiny_yolo):
    cfg = tiny_detector_config(tiny_yolo, tmp_path, "session")
    cfg = dataclasses.replace(cfg, epochs=3, session_hours=1e-6, close_mosaic=0)
    said: list[str] = []
    run = train_detector(cfg, log=said.append)
    assert finished_epochs(run) == (1, 3)  # the schedule is kept: 3 epochs planned
    assert said[-1] == f"session budget of 1e-06 h reached after epoch 1 of 3: continue with --resume {run}"
    args = yaml.safe_load((run / "args.yaml").read_text())
    assert args["epochs"] == 3 and not args.get("time")
    again: list[str] = []
    assert resume_detector(run, "cpu", session_hours=1e-6, log=again.append) == run
    assert finished_epochs(run) == (2, 3) and "after epoch 2 of 3" in again[-1]
    last: list[str] = []
    resume_detector(run, "cpu", log=last.append)  # no budget: to the end of the schedule
    assert finished_epochs(run) == (3, 3) and not any("session budget" in m for m in last)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_architecture_yaml_is_single_class(tmp_path, name):
    d = yaml.safe_load(architecture_yaml(name, tmp_path).read_text())
    assert d["nc"] == 1 and "scales" not in d and d["width_multiple"] == ARCHITECTURES[name][2]


@pytest.mark.parametrize(
    ("model", "error", "message"),
    [
        ("yolo99z-face", ConfigError, "model must be one of"),
        ("missing.pt", WeightsError, "not found"),
        ("nowhere/custom.yaml", ConfigError, "not found"),
    ],
)
def test_bad_model_specs(tmp_path, model, error, message):
    with pytest.raises(error, match=message):
        resolve_model_spec(model, tmp_path)


def test_bad_data_is_reported_before_training(tmp_path, tiny_yolo):
    with pytest.raises(DataError, match=r"data\.yaml"):
        train_detector(DetectorTrainConfig(data=str(tmp_path / "x.txt"), project=str(tmp_path)))
    with pytest.raises(DataError, match="not found"):
        train_detector(DetectorTrainConfig(data=str(tmp_path / "none.yaml"), project=str(tmp_path)))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("batch", 0),
        ("imgsz", 16),
        ("hours", -0.5),
        ("freeze", -1),
        ("lr0", 0.0),
        ("multi_scale", 1.5),
    ],
)
def test_bad_training_options(tmp_path, tiny_yolo, field, value):
    config = DetectorTrainConfig(data=str(tiny_yolo), project=str(tmp_path), **{field: value})
    with pytest.raises(ConfigError, match=field):
        train_detector(config)


def test_resume_needs_last_pt(tmp_path):
    with pytest.raises(DataError, match="cannot resume"):
        resume_detector(tmp_path)


def test_a_detector_run_in_use_is_not_resumed_twice(tiny_detector_run, tmp_path):
    """Detector training holds its run folder as every other writer does."""
    import shutil

    import yaml

    from ferkit.errors import RunFolderBusyError
    from ferkit.runs import RunFolder

    run = tmp_path / "run"
    shutil.copytree(tiny_detector_run, run)
    args = yaml.safe_load((run / "args.yaml").read_text())
    (run / "args.yaml").write_text(yaml.safe_dump({**args, "epochs": args["epochs"] + 1}))  # unfinished
    with RunFolder(run).hold(), pytest.raises(RunFolderBusyError):
        resume_detector(run, device="cpu")


@pytest.mark.parametrize(
    "call",
    [
        lambda det, data: det.detect(np.zeros((40, 40, 3), np.uint8)),
        lambda det, data: evaluate_detector(det.weights, data, imgsz=64, device="cpu", progress=False),
    ],
    ids=["detect", "evaluate"],
)
def test_ultralytics_calls_leave_torch_threads_alone(tiny_detector_run, tiny_yolo, call):
    """ultralytics' CPU set-up lowers torch's thread count for the whole process; ferkit puts it back."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        det = FaceDetector(tiny_detector_run / "weights" / "best.pt", imgsz=64, device="cpu")
        call(det, tiny_yolo)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_trained_weights_detect_on_batches(tiny_detector_run, tiny_yolo):
    det = FaceDetector(tiny_detector_run / "weights" / "best.pt", conf=0.0, imgsz=64, device="cpu")
    img = cv2.imread(str(tiny_yolo.parent / "images" / "val" / "0.jpg"))[:50, :70]
    one = det.detect(img)
    many = det.detect([img, img, np.zeros((30, 30), np.uint8)])
    # at conf 0 a trained model always proposes boxes; a batch gives what single images give
    assert one and all(isinstance(d, Detection) for d in one)
    assert len(many) == 3 and [d.box for d in many[0]] == [d.box for d in many[1]] == [d.box for d in one]
    # the same image twice in one batch: the same faces, scores equal to float rounding (CPU kernels may
    # take each image of a batch by another path)
    assert [d.score for d in many[0]] == pytest.approx([d.score for d in many[1]], rel=1e-5)
    for d in one:
        assert 0 <= d.box.x1 <= d.box.x2 <= 70 and 0 <= d.box.y1 <= d.box.y2 <= 50


def test_evaluate_on_yolo_data(tmp_path, tiny_detector_run, tiny_yolo):
    report = evaluate_detector(
        tiny_detector_run / "weights" / "best.pt",
        tiny_yolo,
        imgsz=64,
        min_size=0,
        device="cpu",
        out_dir=tmp_path,
        progress=False,
    )
    data = json.loads((tmp_path / "metrics.json").read_text())["splits"]["val"]
    assert (tmp_path / "pr_curve_val.png").stat().st_size > 0
    assert data["images"] == 4 and data["faces"] >= 4
    for key in ("precision", "recall", "f1", "tp", "fp", "fn", "conf"):
        assert key in data["at_conf"] and key in data["best"]
    assert 0.0 <= data["ap"] <= 1.0 and set(data["ap_by_size"]) == {"small", "medium", "large"}
    assert "best F1" in report.table() and "AP@0.5" in report.table()


def test_classifier_weights_are_not_a_detector(tmp_path, tiny_classifier):
    with pytest.raises(WeightsError, match="cannot load detector weights"):
        FaceDetector(tiny_classifier, device="cpu")


def test_fine_tuning_starts_from_the_checkpoint_weights(tmp_path, tiny_yolo, tiny_detector_run):
    import dataclasses

    import torch

    start = tiny_detector_run / "weights" / "best.pt"
    cfg = dataclasses.replace(
        tiny_detector_config(tiny_yolo, tmp_path, "ft"), model=str(start), optimizer="SGD", lr0=1e-12
    )
    run = train_detector(cfg)

    def first_conv(pt):
        model = torch.load(pt, map_location="cpu", weights_only=False)["model"]
        return next(m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)).float()

    # with a vanishing learning rate, fine-tuned weights stay those of the checkpoint (not a fresh init)
    assert torch.allclose(first_conv(run / "weights" / "last.pt"), first_conv(start), atol=1e-4)


def test_exported_weights_are_smaller_and_detect(tmp_path, tiny_detector_run):
    from ferkit.detector.yolo import export_weights

    src = tiny_detector_run / "weights" / "last.pt"
    dst = export_weights(src, tmp_path / "shipped" / "det.pt")
    assert dst.stat().st_size < src.stat().st_size
    img = np.full((64, 64, 3), 40, np.uint8)
    cv2.ellipse(img, (32, 30), (12, 15), 0, 0, 360, (210, 200, 190), -1)
    found = FaceDetector(dst, conf=0.0, imgsz=64, device="cpu").detect(img)
    before = FaceDetector(src, conf=0.0, imgsz=64, device="cpu").detect(img)
    # the float16 EMA copy finds what the training checkpoint finds
    assert found and len(found) == len(before)
    assert abs(found[0].score - before[0].score) < 0.02
    with pytest.raises(WeightsError, match="not an ultralytics checkpoint"):
        export_weights(tmp_path / "shipped", tmp_path / "x.pt")


def test_exported_weights_carry_the_split_of_their_training_data(tmp_path, tiny_detector_run):
    from ferkit.detector.yolo import export_weights
    from tests.helpers import make_wider

    dst = export_weights(tiny_detector_run / "weights" / "last.pt", tmp_path / "det.pt")
    assert FaceDetector(dst, device="cpu").recorded_split == {
        "val_fraction": 0.9,
        "val_events": ["1--Handshaking"],
    }
    report = evaluate_detector(dst, make_wider(tmp_path / "w"), imgsz=64, device="cpu", progress=False)
    assert report.held_out == "val_fraction=0.9, val_events=1--Handshaking (recorded in the weights)"
    assert {k: v.images for k, v in report.splits.items()} == {"val": 2, "val_events": 1}
    other = evaluate_detector(dst, tmp_path / "w", imgsz=64, device="cpu", progress=False, val_events="none")
    assert list(other.splits) == ["val"] and "recorded" in other.held_out  # the fraction still is


def test_malformed_labels_stop_training_or_are_counted_with_skip_bad(tmp_path, tiny_yolo):
    data = copy_yolo(tiny_yolo, tmp_path / "copy").parent
    (data / "labels" / "train" / "2.txt").write_text("0 0.5 0.5 0.2 1.7\n")
    cfg = tiny_detector_config(data / "data.yaml", tmp_path, "bad")
    with pytest.raises(DataError, match=r"2\.txt:1: coordinates must be normalised"):
        train_detector(cfg)
    said: list[str] = []
    run = train_detector(dataclasses.replace(cfg, skip_bad=True, name="skip"), log=said.append)
    assert (run / "weights" / "last.pt").is_file()
    assert said and said[0].startswith("skipping 1 malformed label file(s)") and "2.txt:1" in said[0]


def test_resuming_a_finished_run_is_one_line_offline(tiny_detector_run, no_network):
    """ultralytics would fall back to coco8.yaml and try to download it: ferkit refuses first."""
    r = fer("train-detector", "--resume", tiny_detector_run)
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "already finished at epoch 1 of 1" in r.stderr and "--model" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and no_network == []


def test_model_default_resolves_to_the_shipped_detector(tmp_path):
    from ferkit.weights import packaged_weights

    assert resolve_model_spec("default", tmp_path) == str(packaged_weights("detector"))


def test_train_detector_keeps_stdout_for_its_result_and_warns_of_nothing_it_chose(tiny_yolo, tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "ferkit", "train-detector", "--data", str(tiny_yolo), "--imgsz", "64",
         "--epochs", "1", "--batch", "4", "--device", "cpu", "--workers", "0", "--project", str(tmp_path),
         "--name", "t"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.splitlines() == [f"done: {tmp_path / 't' / 'weights' / 'best.pt'}"]
    assert "Scanning" in r.stderr  # ultralytics' progress, on stderr
    assert "cache='ram'" not in r.stderr and "optimizer=auto" not in r.stderr
