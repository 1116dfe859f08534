"""Several videos in one command: a folder, glob or list of clips, one run folder each, resumable."""

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from ferkit.cli import app
from ferkit.errors import ConfigError
from ferkit.video.clips import clip_names, video_inputs
from tests.helpers import moving_faces_frames, write_clip

runner = CliRunner()
N = 6


@pytest.fixture(scope="module")
def clips(tmp_path_factory, real_photo):
    photo = real_photo
    folder = tmp_path_factory.mktemp("clips")
    frames = moving_faces_frames(photo, N)
    write_clip(folder / "a.mp4", frames, 10)
    write_clip(folder / "b.avi", frames[:4], 10)
    return folder


def run(*args):
    return runner.invoke(app, ["detect-and-classify", *map(str, args), "--device", "cpu"])


def test_a_folder_of_clips_gets_a_subfolder_each_and_a_rerun_skips_them(clips, tmp_path):
    out = tmp_path / "out"
    r = run(clips, "--out", out, "-f", "csv")
    assert r.exit_code == 0, r.output
    rows = r.stdout.splitlines()
    assert rows[0].startswith("source,track_id,first_s") and rows.count(rows[0]) == 1  # one header
    assert {row.split(",")[0] for row in rows[1:]} == {str(clips / "a.mp4"), str(clips / "b.avi")}
    assert "2 video(s) processed, 0 failed" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "run.json"]
    for name, frames in (("a", N), ("b", 4)):
        assert json.loads((out / name / "summary.json").read_text())["frames"] == frames
        assert len((out / name / "frames.jsonl").read_text().splitlines()) == frames
    stamp = (out / "a" / "frames.jsonl").stat().st_mtime_ns
    r = run(clips, "--out", out)
    assert r.exit_code == 0, r.output
    assert "0 video(s) processed, 2 already done" in r.stderr
    assert (out / "a" / "frames.jsonl").stat().st_mtime_ns == stamp


def test_a_new_clip_is_taken_in_and_an_interrupted_one_redone(clips, tmp_path):
    out = tmp_path / "out"
    assert run(clips / "a.mp4", clips / "b.avi", "--out", out, "-q").exit_code == 0
    (out / "b" / "summary.json").unlink()  # as if the run had been killed during b
    r = run(clips / "a.mp4", clips / "b.avi", "--out", out, "-f", "jsonl")
    assert r.exit_code == 0, r.output
    assert "1 video(s) processed, 1 already done" in r.stderr
    assert {json.loads(x)["source"] for x in r.stdout.splitlines()} == {str(clips / "b.avi")}
    assert len((out / "b" / "frames.jsonl").read_text().splitlines()) == 4


def test_other_settings_are_refused_for_the_whole_folder(clips, tmp_path):
    out = tmp_path / "out"
    assert run(clips, "--out", out, "-q", "--every", "2").exit_code == 0
    r = run(clips, "--out", out, "-q")
    assert r.exit_code == 1 and "video.every 2 -> 1" in r.stderr and r.stderr.count("error:") == 1
    r = run(clips, "--out", out, "-q", "--overwrite")
    assert r.exit_code == 0, r.output
    assert len((out / "a" / "frames.jsonl").read_text().splitlines()) == N


def test_a_clip_that_cannot_be_read_fails_alone(clips, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    r = run(clips / "a.mp4", bad, "--out", tmp_path / "out", "-f", "jsonl")
    assert r.exit_code == 3, r.output
    assert "bad.mp4" in r.stderr and "1 video(s) processed, 1 failed" in r.stderr
    assert len(r.stdout.splitlines()) == N


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (["{clips}/a.mp4", "{photo}"], "videos and images in one command"),
        (["{clips}/a.mp4", "rtsp://host/x"], "a camera or stream (rtsp://host/x) runs alone"),
        (["{clips}", "{photos}"], "videos and images in one command"),
    ],
)
def test_inputs_that_cannot_run_together(paths, message, clips, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "x.jpg"), np.zeros((8, 8, 3), np.uint8))
    paths = [p.format(clips=clips, photo=photos / "x.jpg", photos=photos) for p in paths]
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        video_inputs(paths)


def test_inputs_name_videos_or_images():
    assert video_inputs(["x.jpg", "y.png"]) is None
    assert video_inputs(["a.mp4", "a.mp4", "b.mov"]) == ["a.mp4", "b.mov"]
    assert clip_names(["x/a.mp4", "y/a.mp4", "b.mkv", "z/a.avi"]) == ["a", "a_2", "b", "a_3"]
