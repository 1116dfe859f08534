import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from ferkit.errors import ConfigError, DataError
from ferkit.video.config import VideoOptions
from ferkit.video.source import VideoSource
from tests.helpers import numbered_frames, write_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """30 frames at 10 frames/s (3 s); frame i has brightness 8 * i."""
    return write_clip(tmp_path_factory.mktemp("clip") / "n.avi", numbered_frames(30), fps=10)


def sampled(clip, **kw) -> list[tuple[int, float, int]]:
    with VideoSource(clip) as v:
        opts = VideoOptions(**kw)
        got = [(f.index, round(f.timestamp_s, 3), round(float(f.image.mean()) / 8)) for f in v.frames(opts)]
        assert v.sampled_count(opts) == len(got)
    return got


@pytest.mark.parametrize(
    ("options", "indices"),
    [
        ({}, list(range(30))),
        ({"every": 7}, [0, 7, 14, 21, 28]),
        ({"fps": 2.5}, [0, 4, 8, 12, 16, 20, 24, 28]),
        ({"start_s": 1.0, "end_s": 1.5}, [10, 11, 12, 13, 14]),
        ({"start_s": 2.05, "every": 3}, [21, 24, 27]),
        ({"start_s": 0.5, "fps": 4.0, "end_s": 1.6}, [5, 8, 10, 13, 15]),
    ],
)
def test_sampling(clip, options, indices):
    got = sampled(clip, **options)
    assert [i for i, _, _ in got] == indices
    assert [t for _, t, _ in got] == [round(i / 10, 3) for i in indices]
    assert [b for _, _, b in got] == indices  # the frame decoded is the frame named


def test_properties(clip):
    with VideoSource(clip) as v:
        assert (v.width, v.height, v.fps, v.frame_count) == (96, 64, 10.0, 30)


def test_stream_url_is_read_like_the_file(clip):
    """An HTTP stream on loopback gives the same frames as the file."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(clip.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{clip.name}"
        with VideoSource(url) as v:
            got = [(f.index, round(f.timestamp_s, 3)) for f in v.frames(VideoOptions(every=5))]
    finally:
        server.shutdown()
    assert got == [(i, i / 10) for i in range(0, 30, 5)]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{tmp}/missing.mp4", "no such video file"),
        ("{tmp}", "is a folder"),
        ("{tmp}/text.mp4", "cannot open"),
    ],
)
def test_unreadable_sources(tmp_path, source, message):
    (tmp_path / "text.mp4").write_text("not a video")
    with pytest.raises(DataError, match=message):
        VideoSource(source.format(tmp=tmp_path))


@pytest.mark.parametrize(
    "options",
    [
        {"every": 0},
        {"fps": 0},
        {"start_s": -1},
        {"start_s": 2, "end_s": 1},
        {"smooth": 1.0},
        {"smooth": -0.1},
    ],
)
def test_bad_options(options):
    with pytest.raises(ConfigError):
        VideoOptions(**options)


def test_frames_are_bgr_arrays(clip):
    with VideoSource(clip) as v:
        f = next(iter(v.frames(VideoOptions())))
    assert f.image.dtype == np.uint8 and f.image.shape == (64, 96, 3)
    assert cv2.__version__  # OpenCV reads the container
