"""The light install (``pip install ferkit``, no PyTorch): inference, video, serve and evaluation run on the
shipped exported models with torch, torchvision, ultralytics, scikit-learn, scipy, onnx, ONNX Runtime and PyAV
all absent, and give the full install's results; a command needing an extra says which, in one line.

Each case runs in a fresh interpreter where importing those packages fails (as it would where they are not
installed); ``.ci/run`` also builds a real core-only virtual environment and runs the same commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import fer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "example.jpg"
ABSENT = (
    "torch", "torchvision", "ultralytics", "sklearn", "scipy", "albumentations", "onnx", "onnxruntime", "av",
)  # fmt: skip

PRELUDE = f"""
import sys
for name in {ABSENT!r}:
    sys.modules[name] = None  # import fails, find_spec says not installed
"""

CLI = (
    PRELUDE
    + """
from ferkit.cli import main
sys.argv = ["fer", *sys.argv[1:]]
try:
    main()
finally:
    loaded = [m for m in {absent!r} if sys.modules.get(m) is not None]
    print("LOADED:" + ",".join(loaded), file=sys.stderr)
""".replace("{absent!r}", repr(ABSENT))
)


def light(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``fer ARGS`` as the light install runs it."""
    r = subprocess.run(
        [sys.executable, "-c", CLI, *map(str, args)], capture_output=True, text=True, timeout=240, cwd=cwd
    )
    assert "LOADED:\n" in r.stderr + "\n" or r.stderr.rstrip().endswith("LOADED:"), r.stderr[-2000:]
    return r


def test_detect_and_classify_gives_the_full_installs_results():
    r = light("detect-and-classify", EXAMPLE, "-f", "json", "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    full = fer("detect-and-classify", str(EXAMPLE), "-f", "json", "--quiet")
    assert full.exit_code == 0
    got, want = json.loads(r.stdout), json.loads(full.stdout)
    assert got == want and len(got[0]["faces"]) == 2


def test_a_folder_and_a_video_run_without_torch(photo_folder, real_photo, tmp_path):
    from tests.helpers import moving_faces_frames, write_clip

    r = light("detect-and-classify", photo_folder, "-r", "--out", tmp_path / "images", "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    assert len((tmp_path / "images" / "results.jsonl").read_text().splitlines()) == 5
    clip = write_clip(tmp_path / "clip.mp4", moving_faces_frames(real_photo, 8))
    r = light("detect-and-classify", clip, "--out", tmp_path / "video", "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    assert {"frames.jsonl", "tracks.csv", "tracks.png", "annotated.mp4"} <= {
        p.name for p in (tmp_path / "video").iterdir()
    }


def test_serve_answers_a_request_without_torch():
    code = (
        PRELUDE
        + f"""
from fastapi.testclient import TestClient
from ferkit.config import PipelineConfig
from ferkit.pipeline import Pipeline
from ferkit.serve.app import create_app

app = create_app(Pipeline.from_config(PipelineConfig()))
with TestClient(app, base_url="http://localhost") as client:
    r = client.post("/v1/detect", files={{"file": ("x.jpg", open({str(EXAMPLE)!r}, "rb"), "image/jpeg")}})
print(r.status_code, len(r.json()["faces"]), [m for m in {ABSENT!r} if sys.modules.get(m) is not None])
"""
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert r.stdout.split() == ["200", "2", "[]"], r.stderr[-2000:]


def test_eval_classifier_runs_without_torch_and_scikit_learn(fer_folder):
    r = light("eval-classifier", "--data", fer_folder, "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout)
    assert report["n"] == 14 and 0 <= report["accuracy"] <= 1 and report["backend"] == "openvino"


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["train-classifier", "--data", "x"], "train"),
        (["train-detector", "--data", "x.yaml"], "train"),
        (["export", "--weights", "default", "--format", "onnx", "--out", "x.onnx"], "export"),
        (["average-classifiers", "a.pt", "b.pt", "--out", "c.pt"], "torch"),
        (["detect-and-classify", str(EXAMPLE), "--backend", "torch"], "torch"),
        (["detect-and-classify", str(EXAMPLE), "--backend", "onnx"], "onnx"),
        (["models"], "torch"),
    ],
)
def test_a_command_needing_an_extra_names_it_in_one_line(args, extra, tmp_path):
    r = light(*args, cwd=tmp_path)
    assert r.returncode == 1
    lines = [x for x in r.stderr.splitlines() if not x.startswith("LOADED:")]
    assert lines == [lines[0]] and lines[0].endswith(f"pip install 'ferkit[{extra}]'"), r.stderr
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_a_checkpoint_of_ones_own_needs_torch_or_its_export(tiny_classifier):
    r = light("detect-and-classify", EXAMPLE, "--classifier-weights", tiny_classifier)
    assert r.returncode == 1 and "PyTorch checkpoint" in r.stderr and "'ferkit[torch]'" in r.stderr
