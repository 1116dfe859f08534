"""Reading frames from a video file, a camera or a stream URL (OpenCV), sampled in time."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ferkit.errors import DataError
from ferkit.video.config import VideoOptions, source_kind


@dataclass(frozen=True)
class Frame:
    """A decoded BGR frame, its index from the start of the video and its time in seconds."""

    index: int
    timestamp_s: float
    image: np.ndarray


def parse_source(source: str | int | Path) -> str | int:
    """A camera index (an int, or a string of digits), a stream URL, or an existing video file's path."""
    kind, text = source_kind(source), str(source).strip()
    if kind == "camera":
        return int(text)
    if kind == "stream":
        return text
    path = Path(text).expanduser()
    if not path.exists():
        raise DataError(f"{text}: no such video file")
    if path.is_dir():
        raise DataError(f"{text}: is a folder, not a video")
    return str(path)


class VideoSource:
    """An open video: ``fps``, ``width``, ``height``, ``frame_count`` (0 when unknown) and sampled frames.

    Frames are timed by index / fps, except for cameras (and streams without a frame rate), which are timed
    by the clock since opening.
    """

    def __init__(self, source: str | int | Path):
        self.source = parse_source(source)
        self.name = f"camera {self.source}" if isinstance(self.source, int) else str(self.source)
        self.is_file = isinstance(self.source, str) and Path(self.source).exists()
        self._cap = cv2.VideoCapture(self.source)
        if not self._cap.isOpened():
            self._cap.release()
            what = "camera" if isinstance(self.source, int) else "video"
            raise DataError(f"{self.name}: cannot open this {what} (unreadable, unsupported or unreachable)")
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 and not isinstance(self.source, int) else 0.0
        self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.frame_count = max(0, int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))) if self.is_file else 0

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._cap.release()

    def sampled_count(self, options: VideoOptions) -> int | None:
        """How many frames :meth:`frames` yields for a file of known length (None when unknown)."""
        if not self.frame_count or not self.fps:
            return None
        first = _first_index(options.start_s, self.fps)
        last = (
            self.frame_count
            if options.end_s is None
            else min(self.frame_count, _first_index(options.end_s, self.fps))
        )
        if options.fps is not None:
            return len(_fps_picks(first, last, self.fps, options.fps))
        return len(range(first, max(first, last), options.every))

    def frames(self, options: VideoOptions) -> Iterator[Frame]:
        """The sampled frames between ``options.start_s`` and ``options.end_s``."""
        index, t0, next_t, since_start = 0, time.monotonic(), None, 0
        if self.is_file and options.start_s > 0 and self.fps:
            index = _first_index(options.start_s, self.fps)
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        while True:
            t = index / self.fps if self.fps else time.monotonic() - t0
            if options.end_s is not None and t >= options.end_s:
                return
            if not self._cap.grab():
                return
            if t + 1e-6 >= options.start_s:
                if options.fps is None:
                    keep = since_start % options.every == 0
                else:
                    next_t = t if next_t is None else next_t
                    keep = t + 1e-6 >= next_t
                    if keep:
                        next_t = max(next_t + 1.0 / options.fps, t)  # never a burst after a stall
                if keep:
                    ok, image = self._cap.retrieve()
                    if not ok or image is None:
                        return
                    yield Frame(index, t, image)
                since_start += 1
            index += 1


def _fps_picks(first: int, last: int, video_fps: float, fps: float) -> list[int]:
    """The frame indices that time-based sampling keeps (mirrors :meth:`VideoSource.frames`)."""
    picks, next_t = [], None
    for i in range(first, last):
        t = i / video_fps
        next_t = t if next_t is None else next_t
        if t + 1e-6 >= next_t:
            picks.append(i)
            next_t = max(next_t + 1.0 / fps, t)
    return picks


def _first_index(seconds: float, fps: float) -> int:
    """The first frame at or after ``seconds``."""
    return math.ceil(seconds * fps - 1e-6)
