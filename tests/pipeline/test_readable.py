"""Faces too small to read: still detected faces, but with no emotion, in every output and every API."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ferkit.config import DEFAULT_READABLE_SIZE, PipelineConfig, RunOptions
from ferkit.errors import ConfigError, DataError
from ferkit.imaging.draw import annotate
from ferkit.pipeline import Pipeline
from ferkit.pipeline.batch import run_items
from ferkit.pipeline.inputs import collect_inputs
from ferkit.pipeline.writers import format_table
from ferkit.types import Box, Face, ImageResult
from tests.conftest import TWO_FACES, FixedDetector

# on a 100x100 image the two faces are 40x60 px (face 0, the more confident) and 30x40 px (face 1)
SIZE = 100
BENCH = Path(__file__).resolve().parents[2] / "docs" / "benchmarks" / "face_size.json"


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (SIZE, SIZE, 3)).astype(np.uint8)


@pytest.fixture
def pipe_reading_35px(classifier) -> Pipeline:
    return Pipeline(classifier, FixedDetector(TWO_FACES), readable_size=35)


def test_the_default_threshold_is_the_measured_one():
    measured = json.loads(BENCH.read_text())["readable_size"]
    assert PipelineConfig().readable_size == DEFAULT_READABLE_SIZE == measured


@pytest.mark.parametrize(
    ("readable", "emotions"), [(35, [True, False]), (0, [True, True]), (61, [False, False])]
)
def test_faces_below_the_readable_size_get_no_emotion(classifier, image, readable, emotions):
    pipe_reading_35px = Pipeline(classifier, FixedDetector(TWO_FACES), readable_size=readable)
    (result,) = pipe_reading_35px.run_arrays(["x"], [image])
    assert len(result.faces) == 2  # still detected and counted
    assert [f.emotion is not None for f in result.faces] == emotions
    for f in result.faces:
        if f.emotion is None:
            assert f.emotion_probs == {} and f.emotion_score is None and f.unreadable == "small"
            assert f.top() == []


def test_run_options_change_the_threshold_per_call(pipe_reading_35px, image):
    (kept,) = pipe_reading_35px.run_arrays(["x"], [image], options=RunOptions(readable_size=0))
    (default,) = pipe_reading_35px.run_arrays(["x"], [image])
    assert [f.emotion is None for f in kept.faces] == [False, False]
    assert [f.emotion is None for f in default.faces] == [False, True]
    assert pipe_reading_35px.readable_size == 35  # the pipeline itself never changes


def test_json_csv_and_table_have_no_emotion_for_an_unreadable_face(pipe_reading_35px, image, tmp_path):
    cv2.imwrite(str(tmp_path / "p.png"), image)
    out = tmp_path / "out"
    run_items(
        pipe_reading_35px,
        collect_inputs([str(tmp_path / "p.png")]).items,
        out=out,
        progress=False,
        save_crops=True,
    )
    record = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    big, small = record["faces"]
    assert small["emotion"] is None and small["emotion_score"] is None and small["emotion_probs"] == {}
    assert small["unreadable"] == "small" and big["unreadable"] is None and big["emotion"] is not None
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert rows[1]["emotion"] == rows[1]["emotion_score"] == "" and rows[1]["unreadable"] == "small"
    assert all(rows[1][f"emotion_prob_{c}"] == "" for c in pipe_reading_35px.class_names)
    assert rows[0]["emotion"] == big["emotion"]
    assert ImageResult.from_dict(record).faces[1] == Face.unread(
        Box(*small["box_xyxy"]), small["det_score"], "small"
    )
    table = format_table(ImageResult.from_dict(record)).splitlines()
    assert table[3].split()[6:8] == ["-", "-"] and "no emotion" in table[3]
    crops = sorted(p.name for p in (out / "crops").iterdir())
    assert crops[1].endswith("_face1_small.png") and not crops[0].endswith("_small.png")


def test_an_unreadable_face_is_drawn_as_a_box_without_a_label(classifier):
    blank = np.zeros((200, 200, 3), np.uint8)
    face = Face.unread(Box(50, 50, 150, 150), 0.9, "small")
    drawn = annotate(blank, ImageResult("x", 200, 200, [face]), classifier.class_names)
    assert drawn.shape == blank.shape  # no legend: nothing to list
    inside = drawn[60:140, 60:140]
    assert inside.max() == 0  # no label patch, only the outline
    assert (drawn[50, 50:150] == 255).all()


def test_a_face_without_an_emotion_must_say_why():
    with pytest.raises(DataError, match="says why"):
        Face(Box(0, 0, 1, 1), 0.5, None, {})
    with pytest.raises(DataError, match="cannot be unreadable"):
        Face(Box(0, 0, 1, 1), 0.5, "happy", {"happy": 1.0}, unreadable="small")


@pytest.mark.parametrize("bad", [-1, 10_001])
def test_a_bad_threshold_is_refused(bad):
    with pytest.raises(ConfigError, match="readable_size"):
        PipelineConfig(readable_size=bad)
    with pytest.raises(ConfigError, match="readable_size"):
        RunOptions(readable_size=bad)
