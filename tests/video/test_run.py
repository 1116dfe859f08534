import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from ferkit.cli import app
from ferkit.errors import ConfigError
from ferkit.types import FrameResult
from ferkit.video.config import VideoOptions
from ferkit.video.run import run_video
from tests.helpers import moving_faces_frames, write_clip

N = 12


@pytest.fixture(scope="module")
def clip(tmp_path_factory, real_photo):
    return write_clip(tmp_path_factory.mktemp("clip") / "faces.mp4", moving_faces_frames(real_photo, N), 10)


def read_video(path):
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.release()
    return n, size


def test_run_writes_records_tracks_plot_and_video(default_pipeline, clip, tmp_path):
    out = tmp_path / "out"
    summary = run_video(default_pipeline, clip, out=out, progress=False)
    records = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    assert [r["frame_index"] for r in records] == list(range(N))
    assert [r["timestamp_s"] for r in records] == [i / 10 for i in range(N)]
    # two faces on every frame; the top one moves right, the bottom one left, each under one id, given
    # once the track is confirmed (before that, the faces carry none)
    confirm = VideoOptions().confirm
    by_row = {}
    for r in records:
        assert len(r["faces"]) == 2
        for f in r["faces"]:
            assert ("track_id" in f) == (r["frame_index"] >= confirm - 1)
            by_row.setdefault(f["box_xyxy"][1] < 120, set()).add(f.get("track_id"))
    assert confirm > 1 and by_row[True] | by_row[False] == {None, 1, 2}
    assert len(by_row[True] - {None}) == len(by_row[False] - {None}) == 1 and by_row[True] != by_row[False]
    rows = (out / "tracks.csv").read_text().splitlines()
    assert rows[0].startswith("track_id,first_s,last_s,frames_seen,dominant_emotion,share_angry")
    assert [r.split(",")[3] for r in rows[1:]] == [str(N), str(N)]
    assert [t.frames_seen for t in summary.tracks] == [N, N]
    assert (out / "tracks.png").read_bytes()[:4] == b"\x89PNG"
    assert read_video(out / "annotated.mp4") == (N, (320, 240))
    assert json.loads((out / "run.json").read_text())["video"]["smooth"] == VideoOptions().smooth


def test_ctrl_c_leaves_complete_files(default_pipeline, clip, tmp_path):
    seen = []

    def stop_at_five(frame):
        seen.append(frame)
        if len(seen) == 5:
            raise KeyboardInterrupt

    summary = run_video(default_pipeline, clip, out=tmp_path, progress=False, on_frame=stop_at_five)
    assert summary.interrupted and summary.frames == 5
    lines = (tmp_path / "frames.jsonl").read_text().splitlines()
    assert [json.loads(x)["frame_index"] for x in lines] == [0, 1, 2, 3, 4]
    assert read_video(tmp_path / "annotated.mp4")[0] == 5
    assert len((tmp_path / "tracks.csv").read_text().splitlines()) == 3


def test_a_rerun_finds_a_finished_clip_done_and_refuses_other_settings(default_pipeline, clip, tmp_path):
    first = run_video(default_pipeline, clip, VideoOptions(end_s=0.3), out=tmp_path, progress=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert json.loads(before["summary.json"])["frames"] == first.frames == 3
    again = run_video(default_pipeline, clip, VideoOptions(end_s=0.3), out=tmp_path, progress=False)
    assert again.already_done and again.frames == 3
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before  # nothing redone
    with pytest.raises(ConfigError, match=r"other settings \(video.end_s 0.3 -> None\)"):
        run_video(default_pipeline, clip, out=tmp_path, progress=False)
    assert (tmp_path / "frames.jsonl").read_bytes() == before["frames.jsonl"]
    run_video(default_pipeline, clip, out=tmp_path, overwrite=True, progress=False)
    assert len((tmp_path / "frames.jsonl").read_text().splitlines()) == N


def test_an_interrupted_clip_is_redone_from_its_start(default_pipeline, clip, tmp_path):
    def stop_at_two(frame):
        if frame.frame_index == 2:
            raise KeyboardInterrupt

    assert run_video(default_pipeline, clip, out=tmp_path, progress=False, on_frame=stop_at_two).interrupted
    assert not (tmp_path / "summary.json").exists()  # unfinished: not marked done
    summary = run_video(default_pipeline, clip, out=tmp_path, progress=False)
    assert not summary.already_done and summary.frames == N
    lines = (tmp_path / "frames.jsonl").read_text().splitlines()
    assert [json.loads(x)["frame_index"] for x in lines] == list(range(N))
    assert read_video(tmp_path / "annotated.mp4")[0] == N
    assert json.loads((tmp_path / "summary.json").read_text())["frames"] == N


def test_a_live_source_folder_is_never_overwritten(tmp_path):
    from ferkit.runs import RunFolder
    from ferkit.video.run import prepare_video_folder

    (tmp_path / "frames.jsonl").write_text("{}\n")
    with pytest.raises(ConfigError, match="of a camera or stream: use another --out, or --overwrite"):
        prepare_video_folder(RunFolder(tmp_path), False, {"source": "0"}, live=True)
    assert (tmp_path / "frames.jsonl").read_text() == "{}\n"


def test_pipeline_run_video_yields_frame_results(default_pipeline, clip):
    frames = list(default_pipeline.run_video(str(clip), every=3, smooth=0.0))
    assert [f.frame_index for f in frames] == [0, 3, 6, 9]
    assert all(isinstance(f, FrameResult) and len(f.faces) == 2 for f in frames)
    assert {f.track_id for fr in frames[2:] for f in fr.faces} == {1, 2}  # confirmed on the third
    assert {f.track_id for fr in frames[:2] for f in fr.faces} == {None}


runner = CliRunner()


def test_cli_video_jsonl_and_table(clip, tmp_path):
    r = runner.invoke(
        app, ["detect-and-classify", str(clip), "-f", "jsonl", "-q", "--device", "cpu", "--every", "2"]
    )
    assert r.exit_code == 0, r.output
    records = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["frame_index"] for x in records] == list(range(0, N, 2))
    r = runner.invoke(
        app, ["detect-and-classify", str(clip), "--out", str(tmp_path / "o"), "--device", "cpu"]
    )
    assert r.exit_code == 0, r.output
    assert "track_id" in r.stdout and "dominant_emotion" in r.stdout
    assert f"{N} frame(s)" in r.stderr
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "annotated.mp4",
        "frames.jsonl",
        "run.json",
        "summary.json",
        "tracks.csv",
        "tracks.png",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{clip}", "{photo}"], "videos and images in one command"),
        (["--source", "0", "{clip}"], "--source runs alone, without PATHS"),
        (["--source", "99"], "cannot open this camera"),
        (["{clip}", "--smooth", "1.5"], "--smooth must be in [0, 1)"),
        (["/no/such/clip.mp4"], "no such video file"),
        (["{clip}", "--no-detect"], "a video takes none"),
        (["{clip}", "--tile"], "--tile are for images"),
        ([], "give images, folders or a video"),
    ],
)
def test_cli_video_errors(args, message, clip, real_photo):
    args = [a.format(clip=clip, photo=real_photo) for a in args]
    r = runner.invoke(app, ["detect-and-classify", *args, "--device", "cpu", "-q"])
    assert r.exit_code == 1, r.output
    assert message in r.stderr and r.stderr.count("error:") == 1


def test_sigint_to_the_command_finishes_the_files(real_photo, tmp_path):
    """A real Ctrl-C (SIGINT) to `fer detect-and-classify clip --out DIR`: exit 130, files valid so far."""
    import signal
    import subprocess
    import sys
    import time

    there = moving_faces_frames(real_photo, 40)
    clip = write_clip(tmp_path / "long.mp4", (there + there[::-1]) * 4, 10)  # 320 frames
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ferkit", "detect-and-classify", str(clip), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    frames = out / "frames.jsonl"
    deadline = time.monotonic() + 120
    while not (frames.is_file() and len(frames.read_text().splitlines()) >= 5):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stopped (Ctrl-C): after " in err and "error:" not in err
    lines = frames.read_text().splitlines()
    assert 5 <= len(lines) < 320
    assert [json.loads(x)["frame_index"] for x in lines] == list(range(len(lines)))
    assert read_video(out / "annotated.mp4")[0] == len(lines)
    assert (out / "tracks.csv").is_file() and (out / "tracks.png").is_file()


def test_cli_video_csv_prints_the_track_rows(clip):
    r = runner.invoke(app, ["detect-and-classify", str(clip), "-f", "csv", "-q", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    rows = r.stdout.splitlines()
    assert rows[0].startswith("track_id,first_s,last_s,frames_seen,dominant_emotion,share_angry")
    assert [row.split(",")[3] for row in rows[1:]] == [str(N), str(N)]


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (2, 5), (6, 2), (7, 7)])
def test_linear_assignment_finds_scipys_minimum(shape):
    from scipy.optimize import linear_sum_assignment

    from ferkit.video.assignment import linear_assignment

    rng = np.random.default_rng(sum(shape))
    for _ in range(50):
        cost = rng.integers(0, 5, shape).astype(float) + rng.random(shape) * (rng.random() < 0.5)
        rows, cols = linear_assignment(cost)
        want_r, want_c = linear_sum_assignment(cost)
        assert len(rows) == min(shape) and len(set(cols)) == len(cols) and list(rows) == sorted(rows)
        assert cost[rows, cols].sum() == pytest.approx(cost[want_r, want_c].sum())


def test_linear_assignment_refuses_a_cost_that_is_not_a_finite_matrix():
    from ferkit.video.assignment import linear_assignment

    with pytest.raises(ValueError, match="2-D"):
        linear_assignment(np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        linear_assignment(np.array([[0.0, np.nan]]))


def test_tracks_plot_names_what_it_leaves_out_and_spans_the_whole_clip():
    from ferkit.types import Box, Face
    from ferkit.video.summary import TrackLog, track_plot_plan

    names = ("happy", "sad")
    log = TrackLog(names)
    for i in range(40):  # 16 tracks, track k seen in frames k..39 (track 0 the longest); frames 40-59 empty
        faces = [
            Face(Box(10.0 * k, 0.0, 10.0 * k + 8, 8.0), 0.9, "happy", {"happy": 0.7, "sad": 0.3}, track_id=k)
            for k in range(16)
            if i >= k
        ]
        log.add(FrameResult("clip.mp4", i, i / 10, 320, 240, faces))
    for i in range(40, 60):
        log.add(FrameResult("clip.mp4", i, i / 10, 320, 240, []))
    ids, title, span = track_plot_plan(log, 12)
    assert ids == list(range(12)) and "the 12 longest of 16 tracks" in title
    assert max(map(len, title.splitlines())) <= 60  # short lines: the centred title clears the legend
    assert span == (0.0, 5.9)  # to the clip's last processed frame, past the last face
    assert "longest" not in track_plot_plan(log, 16)[1]
