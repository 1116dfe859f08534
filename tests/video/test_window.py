"""--show: annotated frames in a window; q stops; no display or no GUI is one clear error."""

import json
from typing import ClassVar

import numpy as np
import pytest
from typer.testing import CliRunner

from ferkit.cli import app
from ferkit.video import window as window_module
from tests.helpers import moving_faces_frames, write_clip

runner = CliRunner()


@pytest.fixture(scope="module")
def clip(tmp_path_factory, real_photo):
    return write_clip(tmp_path_factory.mktemp("clip") / "c.mp4", moving_faces_frames(real_photo, 8), 10)


class FakeWindow:
    """Stands in for the OpenCV window: keeps what it is shown; the user presses q at the third frame."""

    images: ClassVar[list] = []

    def __init__(self, title="ferkit"):
        FakeWindow.images = []
        self.closed = False

    def show(self, image):
        FakeWindow.images.append(image)
        return len(FakeWindow.images) < 3

    def close(self):
        self.closed = True


def test_q_in_the_window_stops_the_run_with_complete_files(clip, real_photo, tmp_path, monkeypatch):
    monkeypatch.setattr(window_module, "check_display", lambda: None)
    monkeypatch.setattr(window_module, "LiveWindow", FakeWindow)
    out = tmp_path / "out"
    r = runner.invoke(app, ["detect-and-classify", str(clip), "--show", "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "stopped from the window after 3 frame(s)" in r.stderr
    assert len(FakeWindow.images) == 3 and len((out / "frames.jsonl").read_text().splitlines()) == 3
    raw = moving_faces_frames(real_photo, 1)[0]  # the first frame as written, before encoding
    shown = FakeWindow.images[0].astype(int)
    assert shown.shape == raw.shape and np.abs(shown - raw).max() > 100  # boxes and labels drawn on it
    assert not (out / "summary.json").exists()  # stopped early: a rerun redoes the clip
    assert json.loads((out / "run.json").read_text())["source"] == str(clip)


@pytest.mark.parametrize(
    ("env", "gui", "message"),
    [
        ({"DISPLAY": None, "WAYLAND_DISPLAY": None}, "QT5", "--show needs a display, and none is set here"),
        ({"DISPLAY": ":0"}, "NONE", "--show needs OpenCV with a GUI"),
    ],
)
def test_no_display_or_no_gui_is_one_error_before_loading(clip, monkeypatch, env, gui, message):
    from ferkit.pipeline import Pipeline

    def no_loading(*args, **kwargs):
        raise AssertionError("the models were loaded")

    monkeypatch.setattr(window_module, "opencv_gui", lambda: gui)
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setattr(Pipeline, "from_config", no_loading)
    r = runner.invoke(app, ["detect-and-classify", str(clip), "--show", "--device", "cpu"], env=env)
    assert r.exit_code == 1 and message in r.stderr and r.stderr.count("error:") == 1


def test_show_is_for_videos(tmp_path):
    r = runner.invoke(app, ["detect-and-classify", "docs/example.jpg", "--show"])
    assert r.exit_code == 1 and "--show is for videos, cameras and streams" in r.stderr
