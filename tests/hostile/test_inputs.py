"""Looping links, unlistable subfolders, unread formats: each is one error record and the batch goes on."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from ferkit.cli import EXIT_FAILED_INPUTS
from ferkit.pipeline.inputs import collect_inputs
from ferkit.runs import RESULTS_FILE
from tests.helpers import fer


@pytest.fixture
def messy_folder(tmp_path, monkeypatch):
    """Two photos, a symlink loop named .jpg, a GIF, a HEIC, and a subfolder that cannot be listed."""
    root = tmp_path / "photos"
    (root / "locked").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a.jpg", "b.png"):
        cv2.imwrite(str(root / name), rng.integers(0, 255, (40, 40, 3)).astype(np.uint8))
    cv2.imwrite(str(root / "locked" / "hidden.jpg"), np.zeros((40, 40, 3), np.uint8))
    os.symlink(root / "loop.jpg", root / "loop.jpg")
    (root / "anim.gif").write_bytes(b"GIF89a" + bytes(20))
    (root / "phone.heic").write_bytes(bytes(32))
    real_scandir = os.scandir

    def scandir(path="."):  # root ignores file modes: make the subfolder unlistable for anyone
        if os.fspath(path) == str(root / "locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return root


def test_each_bad_entry_is_one_input_error_and_the_photos_still_run(messy_folder):
    found = collect_inputs([str(messy_folder)], recursive=True)
    assert sorted(it.name for it in found.items) == ["a.jpg", "b.png"]
    reasons = {os.path.basename(e.source): e.reason for e in found.errors}
    assert set(reasons) == {"loop.jpg", "anim.gif", "phone.heic", "locked"}
    assert "loops" in reasons["loop.jpg"] and "GIF images are not read" in reasons["anim.gif"]
    assert "HEIC" in reasons["phone.heic"] and "cannot list this folder" in reasons["locked"]


def test_cli_reports_each_and_records_them(messy_folder, tmp_path):
    out = tmp_path / "out"
    r = fer("detect-and-classify", messy_folder, "-r", "--no-detect", "--out", out, "--device", "cpu", "-q")
    assert r.exit_code == EXIT_FAILED_INPUTS, r.output
    assert "Traceback" not in r.output and "4 input(s) failed, 2 processed" in r.stderr
    records = [json.loads(x) for x in (out / RESULTS_FILE).read_text().splitlines()]
    assert sorted(os.path.basename(x["source"]) for x in records if x["error"]) == [
        "anim.gif", "locked", "loop.jpg", "phone.heic",
    ]  # fmt: skip
    assert sum(1 for x in records if not x["error"]) == 2


def test_ray_engine_gives_them_error_records_too(messy_folder):
    from ferkit.pipeline.ray_engine import _PipelineActor, list_sources

    sources = list_sources([str(messy_folder)], recursive=True)
    assert str(messy_folder / "loop.jpg") in sources and len(sources) == 6
    actor = object.__new__(_PipelineActor)  # a worker's reading step, without starting Ray
    record = actor._remote(str(messy_folder / "loop.jpg"))
    assert record.error and "loop.jpg" in record.error
