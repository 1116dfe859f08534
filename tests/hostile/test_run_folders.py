"""Run folders under concurrent runs, torn writes and damaged files: nothing lost, one clear line each."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ferkit.classifier.checkpoint import read_checkpoint, save_checkpoint
from ferkit.classifier.train import ClassifierTrainConfig, fit
from ferkit.errors import RunFolderBusyError, WeightsError
from ferkit.pipeline.batch import run_items
from ferkit.pipeline.inputs import collect_inputs
from ferkit.runs import RESULTS_FILE, RUN_FILE, run_lock
from ferkit.video.run import run_video
from tests.helpers import fer, numbered_frames, write_clip

QUIET = {"log": lambda *_: None}


@pytest.fixture
def holder(tmp_path):
    """Another process holding ``tmp_path/out`` as a run would; yields (folder, its PID)."""
    out = tmp_path / "out"
    code = (
        "import sys, time\nfrom ferkit.runs import run_lock\n"
        f"with run_lock({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield out, proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_second_image_run_on_a_held_folder_is_refused(holder, two_face_pipeline, photo_folder):
    out, pid = holder
    items = collect_inputs([str(photo_folder)], recursive=True).items
    with pytest.raises(RunFolderBusyError, match=f"PID {pid}"):
        run_items(two_face_pipeline, items, out=out, progress=False)
    assert not (out / RESULTS_FILE).exists(), "a refused run must not touch the holder's results"


def test_second_video_run_on_a_held_folder_is_refused(holder, two_face_pipeline, tmp_path):
    out, pid = holder
    clip = write_clip(tmp_path / "clip.avi", numbered_frames(4))
    with pytest.raises(RunFolderBusyError, match=f"PID {pid}"):
        run_video(two_face_pipeline, clip, out=out, progress=False)


def test_second_ray_run_on_a_held_folder_is_refused_before_ray_starts(holder, monkeypatch):
    from ferkit.pipeline import ray_engine

    out, pid = holder
    monkeypatch.setattr(ray_engine, "start_ray", lambda *a, **k: pytest.fail("Ray started on a held folder"))
    with pytest.raises(RunFolderBusyError, match=f"PID {pid}"):
        ray_engine.run_ray({}, {}, ["a.jpg"], out, ("happy",), progress=False)


def test_cli_names_the_holder_in_one_line(holder, photo_folder):
    out, pid = holder
    r = fer("detect-and-classify", photo_folder, "--out", out, "--no-detect", "--device", "cpu", "-q")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert [line for line in r.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {out} is in use by another ferkit run (PID {pid}): wait for it to end, or use another "
        "output folder"
    ]


def test_lock_is_released_when_a_run_ends(tmp_path, two_face_pipeline, photo_folder):
    items = collect_inputs([str(photo_folder)], recursive=True).items
    run_items(two_face_pipeline, items[:2], out=tmp_path / "out", progress=False)
    with run_lock(tmp_path / "out"):  # free again
        pass
    summary = run_items(two_face_pipeline, items, out=tmp_path / "out", progress=False)
    assert summary.skipped == 2 and summary.processed == len(items) - 2


@pytest.mark.parametrize("cut", [1, 2, 3])  # "é€" is 2 + 3 bytes: cut inside each character
def test_torn_multibyte_last_line_is_dropped_and_said(tmp_path, photo_folder, cut):
    out = tmp_path / "out"
    args = ["detect-and-classify", photo_folder, "--out", out, "--no-detect", "--device", "cpu"]
    assert fer(*args).exit_code == 0
    lines = (out / RESULTS_FILE).read_bytes().splitlines(keepends=True)
    torn = json.dumps({"source": "caf\u00e9\u20ac.jpg", "faces": []}, ensure_ascii=False).encode()
    torn = torn[: torn.index("\u20ac".encode()) + cut]
    (out / RESULTS_FILE).write_bytes(b"".join(lines[:-1]) + torn)  # the last image's line torn
    r = fer(*args)
    assert r.exit_code == 0, r.output
    assert "dropped 1 torn line(s) of results.jsonl" in r.stderr
    assert "1 image(s) processed" in r.stderr and f"{len(lines) - 1} already done" in r.stderr
    records = [json.loads(x) for x in (out / RESULTS_FILE).read_text(encoding="utf-8").splitlines()]
    assert len(records) == len(lines)


@pytest.mark.parametrize("content", ["[]", "null", '"a string"', "{not json"])
def test_run_json_that_is_not_settings_is_one_line(tmp_path, photo_folder, content):
    out = tmp_path / "out"
    out.mkdir()
    (out / RUN_FILE).write_text(content)
    r = fer("detect-and-classify", photo_folder, "--out", out, "--no-detect", "--device", "cpu")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "--overwrite" in r.stderr and str(out / RUN_FILE) in r.stderr


def test_results_file_that_is_a_folder_is_one_line(tmp_path, photo_folder):
    out = tmp_path / "out"
    (out / RESULTS_FILE).mkdir(parents=True)
    r = fer("detect-and-classify", photo_folder, "--out", out, "--no-detect", "--device", "cpu")
    assert r.exit_code == 1 and "Traceback" not in r.output and "is not a file" in r.stderr


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc, where nothing can be created")
def test_unwritable_out_is_one_line(photo_folder):
    out = "/proc/self/ferkit-out"  # refused even to root (CI runs as root, which ignores file modes)
    r = fer("detect-and-classify", photo_folder, "--out", out, "--no-detect", "--device", "cpu")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"cannot use {out} as an output folder" in r.stderr


def test_checkpoint_killed_while_saving_keeps_the_previous_one(tmp_path, tiny_classifier, monkeypatch):
    from ferkit.classifier.checkpoint import load_checkpoint

    model, meta = load_checkpoint(tiny_classifier)
    path = tmp_path / "last.pt"
    save_checkpoint(path, model, meta, epoch=1)

    def killed(obj, f, *a, **k):
        Path(f).write_bytes(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, meta, epoch=2)
    assert read_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"], "no temporary file is left behind"


@pytest.fixture(scope="module")
def relative_run(tmp_path_factory, fer_folder) -> Path:
    """A one-epoch classifier run started with relative paths, as typed in a shell (epoch snapshots kept)."""
    work = tmp_path_factory.mktemp("work")
    shutil.copytree(fer_folder, work / "data")
    cwd = Path.cwd()
    os.chdir(work)
    try:
        config = ClassifierTrainConfig(
            data=["data"], epochs=1, batch_size=8, device="cpu", project="runs", name="r", save_epochs=True
        )
        return work / fit(config, **QUIET)
    finally:
        os.chdir(cwd)


def test_half_written_last_pt_names_the_last_good_checkpoint(tmp_path, relative_run):
    run = Path(shutil.copytree(relative_run, tmp_path / "run"))
    data = (run / "weights" / "last.pt").read_bytes()
    (run / "weights" / "last.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match=r"last\.pt is damaged") as info:
        fit(resume=run, **QUIET)
    assert str(run / "epochs" / "epoch_001.pt") in str(info.value) and "--init" in str(info.value)
    r = fer("train-classifier", "--resume", run)
    assert r.exit_code == 1 and "Traceback" not in r.output and "epoch_001.pt" in r.stderr


def test_resume_from_another_working_directory_finds_its_data(tmp_path, relative_run, monkeypatch):
    run = Path(shutil.copytree(relative_run, tmp_path / "run"))
    monkeypatch.chdir(tmp_path)  # where neither "data" nor "runs" exists
    fit(resume=run, overrides={"epochs": 2}, **QUIET)
    assert torch.load(run / "weights" / "last.pt", weights_only=True)["epoch"] == 2
    assert json.loads((run / "data_report.json").read_text())["train"] > 0  # what was read, and skipped
    recorded = read_checkpoint(run / "weights" / "last.pt")["train_config"]
    assert os.path.isabs(recorded["data"][0]) and os.path.isabs(recorded["project"])


def test_a_file_where_a_run_folder_goes_is_refused_by_every_runner(tmp_path):
    from ferkit.errors import ConfigError
    from ferkit.runs import RunFolder

    path = tmp_path / "notes.txt"
    path.write_text("keep me")
    with pytest.raises(ConfigError, match="is a file; give a folder"), RunFolder(path).hold():
        pass
    assert path.read_text() == "keep me"
