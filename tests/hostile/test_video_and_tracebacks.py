"""Damaged videos, impossible time ranges, broken weights, silent no-ops: one line and the right exit."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.cli import EXIT_FAILED_INPUTS
from ferkit.errors import ConfigError
from ferkit.video.run import run_video
from tests.helpers import fer, write_clip


@pytest.fixture
def truncated_clip(tmp_path):
    """An MJPEG .avi of 40 frames cut to its first quarter: the container still says 40 frames."""
    rng = np.random.default_rng(0)
    clip = write_clip(tmp_path / "whole.avi", [rng.integers(0, 255, (64, 96, 3)).astype(np.uint8)] * 40)
    cut = tmp_path / "cut.avi"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) // 4])
    return cut


def test_damaged_video_counts_the_frames_it_could_not_decode(two_face_pipeline, truncated_clip):
    summary = run_video(two_face_pipeline, truncated_clip, progress=False)
    assert summary.expected_frames == 40 and 0 < summary.frames < 40
    assert summary.failed_frames == 40 - summary.frames


@pytest.fixture
def tiny_models(tiny_classifier, tiny_detector_run) -> list:
    detector = tiny_detector_run / "weights" / "best.pt"
    return ["--classifier-weights", tiny_classifier, "--detector-weights", detector, "--imgsz", "64"]


def test_cli_exits_3_for_a_damaged_video(truncated_clip, tiny_models):
    r = fer("detect-and-classify", truncated_clip, *tiny_models, "--device", "cpu", "-q", "-f", "jsonl")
    assert r.exit_code == EXIT_FAILED_INPUTS, r.output
    assert "of 40 frame(s) could not be decoded" in r.stderr and "Traceback" not in r.output
    assert 0 < len(r.stdout.splitlines()) < 40  # the frames that could be decoded are still there


def test_start_past_the_end_is_refused(two_face_pipeline, truncated_clip, tiny_models):
    from ferkit.video.config import VideoOptions

    whole = truncated_clip.with_name("whole.avi")  # 40 frames at 25 fps: 1.6 s
    with pytest.raises(ConfigError, match=r"start 60 s is past the end of the video \(1\.6 s\)"):
        run_video(two_face_pipeline, whole, VideoOptions(start_s=60), progress=False)
    r = fer("detect-and-classify", whole, "--start", "60", *tiny_models, "--device", "cpu")
    assert r.exit_code == 1 and "past the end" in r.stderr and "Traceback" not in r.output


@pytest.mark.parametrize("content", [b"", b"just some text, not weights\n"], ids=["empty", "text"])
@pytest.mark.parametrize("option", ["--detector-weights", "--classifier-weights"])
def test_broken_weights_files_are_one_line(tmp_path, real_photo, content, option):
    weights = tmp_path / "broken.pt"
    weights.write_bytes(content)
    r = fer("detect-and-classify", real_photo, option, weights, "--backend", "torch", "--device", "cpu")
    assert r.exit_code == 1 and "Traceback" not in r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(weights) in errors[0]
    assert "pop from empty list" not in r.output


def test_save_crops_on_a_finished_run_says_why_nothing_was_cut(tmp_path, photo_folder):
    out = tmp_path / "out"
    args = ["detect-and-classify", photo_folder, "--out", out, "--no-detect", "--device", "cpu"]
    assert fer(*args).exit_code == 0
    r = fer(*args, "--save-crops")
    assert r.exit_code == 0, r.output
    assert "--save-crops wrote no crops for the 4 image(s) done before" in r.stderr
