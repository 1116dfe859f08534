"""The GPU recipe (scripts/train_gpu.sh) dry-run on the CPU with tiny data, and the data it carries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tools import gpu_data

ROOT = Path(__file__).resolve().parent.parent


def test_packed_data_unpacks_byte_for_byte(tmp_path, fer_folder):
    data = tmp_path / "data"
    shutil.copytree(fer_folder, data / "fer2013")
    shards = gpu_data.pack(data, ["fer2013"], tmp_path / "packed", shard_mb=0.005)
    assert len(shards) > 1 and all(p.stat().st_size < 20_000 for p in shards)
    n = gpu_data.unpack(tmp_path / "packed", tmp_path / "out")
    originals = sorted(p for p in fer_folder.rglob("*") if p.is_file())
    assert n == len(originals)
    for p in originals:
        assert (tmp_path / "out" / "fer2013" / p.relative_to(fer_folder)).read_bytes() == p.read_bytes()


def test_a_missing_shard_stops_the_unpack_naming_it(tmp_path, fer_folder):
    data = tmp_path / "data"
    shutil.copytree(fer_folder, data / "fer2013")
    shards = gpu_data.pack(data, ["fer2013"], tmp_path / "packed", shard_mb=0.005)
    shards[1].unlink()
    with pytest.raises(SystemExit, match=f"{shards[1].name} is missing"):
        gpu_data.unpack(tmp_path / "packed", tmp_path / "out")


# The lent GPU machine's Python, as found there on 2026-12-04: PyTorch, but neither ultralytics nor
# albumentations, and an older typer whose options have no display_type.
GPU_MACHINE_SITE = """
import sys
sys.modules["ultralytics"] = None
sys.modules["albumentations"] = None
import typer.core
for k in typer.core.TyperOption.__mro__:
    if "display_type" in vars(k):
        delattr(k, "display_type")
"""


def _gpu_machine_path(tmp_path: Path, *more: str | None) -> str:
    """PYTHONPATH for a Python that behaves as the GPU machine's (:data:`GPU_MACHINE_SITE`), then ``more``."""
    site = tmp_path / "gpu_site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(GPU_MACHINE_SITE)
    return os.pathsep.join(filter(None, [str(site), *more]))


def _recipe(tmp_path: Path, data: Path, expect_rc: int = 0, **more: str) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": _gpu_machine_path(tmp_path, os.environ.get("PYTHONPATH")),
        "DEVICE": "cpu",
        "DATA": str(data),
        "EPOCHS": "1",
        "STUDENT_EPOCHS": "1",
        "SEEDS": "2",
        "ARCH": "alexnet_s",
        "BATCH": "16",
        "MINUTES": "20",
        "PROJECT": str(tmp_path / "runs"),
        "OUT": str(tmp_path / "out"),
        "WHEELS": str(tmp_path / "no_wheels"),  # not the checkout's .whl, fetched for the GPU machine
        "CARRIED": str(tmp_path / "no_carried"),  # nor its .gpu_carry
        **more,
    }
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "train_gpu.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == expect_rc, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout + proc.stderr if expect_rc else proc.stdout


def test_gpu_recipe_dry_run_writes_candidate_and_figures_then_resumes(tmp_path, fer_folder):
    """As on the GPU machine (:data:`GPU_MACHINE_SITE`): the classifier recipe needs neither ultralytics
    nor albumentations."""
    out = _recipe(tmp_path, fer_folder, TEACHER_ARGS="--mixup 0.2 --cutmix 1")
    assert "training teacher_s0" in out and "training teacher_s1" in out and "training student" in out
    assert "teacher_s1: the shipped weights widened to alexnet_s" in out  # TEACHER_INIT=widen, the default
    assert "teacher(s) scored online" in out and "distillation: scoring" not in out
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(results) == {"teacher_s0", "teacher_s1", "student"}
    assert 0 <= results["student"]["val"]["fer_folder0"]["accuracy"] <= 1
    candidate = torch.load(tmp_path / "out" / "candidate.pt", weights_only=True)
    assert candidate["arch"] == "alexnet_s" and candidate["train_config"]["teachers"]
    teacher = torch.load(tmp_path / "out" / "teacher_s0.pt", weights_only=True)
    assert {v.dtype for v in teacher["state_dict"].values() if v.is_floating_point()} == {torch.float16}
    teacher_config = (tmp_path / "runs" / "teacher_s0" / "config.yaml").read_text()
    assert "mixup: 0.2" in teacher_config and "cutmix: 1.0" in teacher_config  # TEACHER_ARGS reached them
    assert f"init: {tmp_path / 'runs' / 'widened_s0.pt'}" in teacher_config and "lr: 0.03" in teacher_config
    for name in ("teacher_s0", "student"):  # the shipped model's framing, not train-classifier's default
        assert "crop_margin: 0.05" in (tmp_path / "runs" / name / "config.yaml").read_text()
    ensemble = json.loads((tmp_path / "out" / "ensemble.json").read_text())
    assert ensemble  # the teachers' ensemble, evaluated
    again = _recipe(tmp_path, fer_folder)  # a second call: every stage is resumed, none trained again
    assert "] training " not in again and again.count("resuming") == 3
    assert again.count("already finished") == 3 and "distillation" not in again  # no work redone
    carried = tmp_path / "carried"  # the next session: the teachers brought back, a fresh machine
    carried.mkdir()
    shutil.copy(tmp_path / "out" / "teacher_s1.pt", carried / "teacher_s1.pt")
    shutil.rmtree(tmp_path / "runs")
    later = _recipe(tmp_path, fer_folder, CARRIED=str(carried))
    assert f"teacher_s1: a new cycle from {carried / 'teacher_s1.pt'}" in later
    assert "teacher_s0: a new cycle" not in later and "training teacher_s0" in later
    config = (tmp_path / "runs" / "teacher_s1" / "config.yaml").read_text()
    assert f"init: {carried / 'teacher_s1.pt'}" in config and "lr: 0.03" in config


def test_gpu_recipe_teachers_from_scratch_or_a_clear_error(tmp_path, fer_folder):
    out = _recipe(tmp_path, fer_folder, TEACHER_INIT="scratch", SEEDS="1")
    assert "training teacher_s0" in out and "widened" not in out
    config = (tmp_path / "runs" / "teacher_s0" / "config.yaml").read_text()
    assert "arch: alexnet_s" in config and "widened" not in config and "lr: 0.1" in config
    bad = _recipe(tmp_path, fer_folder, expect_rc=2, TEACHER_INIT="wide")
    assert "TEACHER_INIT must be widen or scratch, not 'wide'" in bad


def _tiny_wider(root: Path) -> Path:
    """A WIDER FACE root of 16 drawn photos in two events, with the official text ground truth."""
    import cv2
    import numpy as np

    from tests.helpers import draw_faces

    rng, lines = np.random.default_rng(0), []
    for i in range(16):
        rel = f"{'0--Parade' if i < 10 else '1--Handshaking'}/p{i}.jpg"
        img, labels = draw_faces(rng)  # 96 px, enlarged 3x: faces of 48-96 px, as close-ups need
        (root / "WIDER_train" / "images" / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "WIDER_train" / "images" / rel), cv2.resize(img, None, fx=3, fy=3))
        boxes = [[float(v) * 288 for v in lab.split()[1:]] for lab in labels]
        lines += [rel, str(len(boxes))]
        lines += [f"{cx - w / 2:.0f} {cy - h / 2:.0f} {w:.0f} {h:.0f} 0 0 0 0 0 0" for cx, cy, w, h in boxes]
    (root / "wider_face_split").mkdir(parents=True)
    (root / "wider_face_split" / "wider_face_train_bbx_gt.txt").write_text("\n".join(lines) + "\n")
    return root


def test_detector_gpu_recipe_dry_run_trains_evaluates_and_resumes(tmp_path, fer_folder):
    env = {
        **os.environ, "DEVICE": "cpu", "WIDER": str(_tiny_wider(tmp_path / "w")), "FACES": str(fer_folder),
        "MODELS": "yolo11p-face", "EPOCHS": "2", "IMGSZ": "64", "BATCH": "4", "WORKERS": "0", "CLOSEUPS": "4",
        "VAL_EVENTS": "1--Handshaking", "MINUTES": "20", "PROJECT": str(tmp_path / "runs"),
        "OUT": str(tmp_path / "out"), "WHEELS": str(tmp_path / "no_wheels"),
    }  # fmt: skip

    def call() -> str:
        script = ROOT / "scripts" / "train_detector_gpu.sh"
        proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc.stdout

    out = call()
    assert "training yolo11p-face: 2 epochs at 64" in out and "adding 4 close-ups" in out
    figures = json.loads((tmp_path / "out" / "yolo11p-face.json").read_text())
    assert set(figures["splits"]) == {"val", "val_events"}  # both honest val splits
    assert json.loads((tmp_path / "out" / "default.json").read_text())["splits"]
    assert (tmp_path / "out" / "yolo11p-face.pt").stat().st_size > 0
    again = call()  # a second call: the finished run is not trained again, the data not converted again
    assert "converting" not in again and "training yolo11p-face" not in again and "resuming" in again


def test_a_wider_root_is_carried_with_its_ground_truth(tmp_path):
    _tiny_wider(tmp_path / "data" / "wider_face")
    gpu_data.pack(tmp_path / "data", ["wider_face"], tmp_path / "packed", shard_mb=0.05)
    gpu_data.unpack(tmp_path / "packed", tmp_path / "out")
    gt = "wider_face/wider_face_split/wider_face_train_bbx_gt.txt"
    assert (tmp_path / "out" / gt).read_text() == (tmp_path / "data" / gt).read_text()
    assert len(list((tmp_path / "out" / "wider_face" / "WIDER_train" / "images").rglob("*.jpg"))) == 16


def _wheel(folder: Path, name: str) -> Path:
    """A minimal pure-Python wheel of a package ``name`` whose module says its name."""
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-0.1-py3-none-any.whl"
    info = f"{name}-0.1.dist-info"
    files = {
        f"{name}/__init__.py": f"NAME = {name!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    with zipfile.ZipFile(path, "w") as z:
        for arc, text in files.items():
            z.writestr(arc, text)
        z.writestr(f"{info}/RECORD", "".join(f"{a},,\n" for a in files) + f"{info}/RECORD,,\n")
    return path


def test_carried_wheels_are_installed_once_and_importable(tmp_path):
    _wheel(tmp_path / "whl", "ferkit_probe_pkg")
    env = {**os.environ, "REPO": str(ROOT), "PROJECT": str(tmp_path / "p"), "OUT": str(tmp_path / "o"),
           "WHEELS": str(tmp_path / "whl"), "SITE": str(tmp_path / "site")}  # fmt: skip
    script = 'source "$REPO/scripts/gpu_common.sh"; python3 -c "import ferkit_probe_pkg as m; print(m.NAME)"'
    runs = [subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    assert runs[0].stdout.count("ferkit_probe_pkg") == 1 and "installed 1 carried wheel" in runs[0].stdout
    assert "installed" not in runs[1].stdout and runs[1].stdout.strip() == "ferkit_probe_pkg"  # once


def test_wheels_are_grouped_into_calls_under_the_carry_limit(tmp_path):
    from tools import gpu_wheels

    sizes = {"a": 30, "b": 20, "c": 10, "d": 5, "e": 40}  # MiB
    for name, mib in sizes.items():
        (tmp_path / f"{name}.whl").write_bytes(b"\0" * (mib * 2**20))
    groups = gpu_wheels.calls(sorted(tmp_path.glob("*.whl")), limit_mib=36)
    named = [sorted(p.stem for p in g) for g in groups]
    assert sorted(n for g in named for n in g) == sorted(sizes)  # every wheel once
    assert ["e"] in named  # over the limit: alone
    for g in named:
        assert len(g) == 1 or sum(sizes[n] for n in g) <= 36
    assert len(groups) == 3  # e | a, d | b, c
    assert all(r.count("==") == 1 for r in gpu_wheels.requirements())


@pytest.mark.parametrize(
    "command",
    [
        ["average-classifiers", "{shipped}", "{shipped}", "--out", "{out}"],
        ["calibrate-classifier", "--weights", "default", "--data", "{data}", "--out", "{out}"],
        ["widen-classifier", "--weights", "default", "--arch", "alexnet_m", "--out", "{out}"],
    ],
)
def test_classifier_weight_commands_run_without_ultralytics(tmp_path, fer_folder, command):
    """As on the GPU machine (:data:`GPU_MACHINE_SITE`): making classifier weights needs only torch."""
    env = {**os.environ, "PYTHONPATH": _gpu_machine_path(tmp_path, str(ROOT / "src"))}
    shipped = ROOT / "src" / "ferkit" / "weights" / "classifier_default.pt"
    out = tmp_path / "made.pt"
    args = [a.format(shipped=shipped, out=out, data=fer_folder) for a in command]
    proc = subprocess.run(
        [sys.executable, "-m", "ferkit", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    assert torch.load(out, weights_only=True)["state_dict"]
