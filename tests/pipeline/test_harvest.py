"""From photos to a labelled set: every readable face cut out the classifier's way, recorded, resumable."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from ferkit.cli import app
from ferkit.pipeline import Pipeline
from ferkit.pipeline.harvest import harvest_faces
from tests.helpers import TWO_FACES, FixedDetector


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for name, size in (("big.png", 200), ("small.png", 40)):
        path = tmp_path / "in" / name
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), rng.integers(0, 255, (size, size, 3)).astype(np.uint8))
        paths.append(path)
    return paths


def test_faces_are_cut_sorted_recorded_and_a_rerun_skips_them(classifier, photos, tmp_path):
    pipe = Pipeline(classifier, FixedDetector(TWO_FACES))
    out = tmp_path / "faces"
    summary = harvest_faces(pipe, photos, [], out, sort=True)
    # the 200 px photo gives two faces of 60-120 px; the 40 px photo's faces are too small to read
    assert (summary.faces, summary.too_small, summary.sources) == (2, 2, 2)
    rows = list(csv.DictReader((out / "faces.csv").open()))
    assert [r["face_index"] for r in rows] == ["0", "1"] and rows[0]["source_abs"].endswith("big.png")
    for r in rows:
        assert r["file"] == f"{r['predicted']}/big_face{r['face_index']}.png"
        crop = cv2.imread(str(out / r["file"]))
        assert crop is not None and min(crop.shape[:2]) >= 60  # the face with the classifier's margin
    again = harvest_faces(pipe, photos, [], out, sort=True)
    assert (again.skipped, again.faces) == (2, 0)
    assert len(list(csv.DictReader((out / "faces.csv").open()))) == 2


def test_the_cli_writes_unsorted_faces_from_a_folder(photos, tmp_path):
    r = CliRunner().invoke(app, ["datasets", "faces", str(photos[0].parent), "--out", str(tmp_path / "o"),
                                 "--device", "cpu"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "face(s) from 2 source(s)" in r.output
    assert (tmp_path / "o" / "faces.csv").is_file()
