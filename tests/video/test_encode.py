"""annotated.mp4: H.264 through PyAV (what browsers play), MPEG-4 Part 2 with a note without it."""

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from ferkit.cli import app
from ferkit.video import encode
from ferkit.video.encode import FrameWriter
from tests.helpers import moving_faces_frames, write_clip


def codec_and_frames(path):
    cap = cv2.VideoCapture(str(path))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("ascii", "replace").lower()
    n = 0
    while cap.grab():
        n += 1
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.release()
    return fourcc, n, size


@pytest.mark.parametrize(("h264", "want"), [(True, ("h264", "avc1")), (False, ("mp4v", "fmp4"))])
@pytest.mark.parametrize("size", [(320, 240), (321, 241)])  # odd sides: 4:2:0 H.264 needs even ones
def test_frames_are_written_in_the_codec_asked(tmp_path, h264, want, size):
    if h264:
        pytest.importorskip("av")
    w, h = size
    writer = FrameWriter(tmp_path / "a.mp4", 10.0, size, h264=h264)
    for i in range(12):
        writer.write(np.full((h, w, 3), 20 * i, np.uint8))
    writer.close()
    fourcc, n, got = codec_and_frames(tmp_path / "a.mp4")
    assert writer.codec == want[0] and fourcc in want and n == 12
    # H.264 pads an odd side by one pixel; OpenCV's MPEG-4 writer drops it
    assert got == ((w + w % 2, h + h % 2) if h264 else (w - w % 2, h - h % 2))


@pytest.fixture(scope="module")
def clip(tmp_path_factory, real_photo):
    photo = real_photo
    return write_clip(tmp_path_factory.mktemp("clip") / "c.mp4", moving_faces_frames(photo, 5), 10)


def test_the_command_writes_h264_and_says_so_when_it_cannot(clip, tmp_path, monkeypatch):
    pytest.importorskip("av")
    args = ["detect-and-classify", str(clip), "--device", "cpu", "-f", "csv"]
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "h264")])
    assert r.exit_code == 0, r.output
    assert codec_and_frames(tmp_path / "h264" / "annotated.mp4")[:2] in (("h264", 5), ("avc1", 5))
    assert "MPEG-4 Part 2" not in r.stderr
    monkeypatch.setattr(encode, "pyav_installed", lambda: False)  # as in an install without ferkit[video]
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "mp4v")])
    assert r.exit_code == 0, r.output
    assert codec_and_frames(tmp_path / "mp4v" / "annotated.mp4")[:2] in (("mp4v", 5), ("fmp4", 5))
    assert "annotated.mp4 is MPEG-4 Part 2" in r.stderr and "ferkit[video]" in r.stderr
