"""Every default of video processing, defined once (the CLI and ``Pipeline.run_video`` read these)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ferkit.errors import ConfigError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts")
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


@dataclass(frozen=True)
class VideoOptions:
    """How frames are sampled, tracked and smoothed.

    ``every``: process every N-th frame; ``fps``: or sample at about F frames per second (overrides
    ``every``); ``start_s``/``end_s``: the time range; ``smooth``: weight of the past in the exponential
    moving average of each track's emotion probabilities (0 turns smoothing off); ``track_iou``: the least
    IoU between a track's predicted box and a face to continue it; ``max_lost``: processed frames a track
    may go unseen before it ends; ``confirm``: processed frames a face must be seen in before its track is
    reported (1: every face is a track); ``scene_cut``: the frame-histogram distance from the previous
    processed frame at which a frame starts a new scene and every track ends (0: never);
    ``batch_size``: frames per detector batch (1 for cameras: no lag).
    """

    every: int = 1
    fps: float | None = None
    start_s: float = 0.0
    end_s: float | None = None
    smooth: float = 0.6
    track_iou: float = 0.3
    max_lost: int = 10
    confirm: int = 3  # measured on clips with cuts (docs/benchmarks.md, "video tracks")
    scene_cut: float = 0.4  # within a shot <= 0.17, at a cut >= 0.59 on the benchmark clip
    batch_size: int = 4

    def __post_init__(self) -> None:
        for name in ("fps", "start_s", "end_s", "smooth", "track_iou", "scene_cut"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ConfigError(f"must be a finite number, got {value}", option=name.removesuffix("_s"))
        if self.every < 1:
            raise ConfigError(f"must be >= 1, got {self.every}", option="every")
        if self.fps is not None and self.fps <= 0:
            raise ConfigError(f"must be > 0, got {self.fps}", option="fps")
        if self.start_s < 0:
            raise ConfigError(f"must be >= 0 seconds, got {self.start_s}", option="start")
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ConfigError(f"must come after the start ({self.start_s} s), got {self.end_s}", option="end")
        if not 0.0 <= self.smooth < 1.0:
            raise ConfigError(f"must be in [0, 1) (0 turns it off), got {self.smooth}", option="smooth")
        if not 0.0 < self.track_iou <= 1.0 or self.max_lost < 0 or self.batch_size < 1:
            raise ConfigError("track_iou must be in (0, 1], max_lost >= 0 and batch_size >= 1")
        if self.confirm < 1:
            raise ConfigError(f"must be >= 1 frame, got {self.confirm}", option="confirm")
        if not 0.0 <= self.scene_cut <= 1.0:
            raise ConfigError(f"must be in [0, 1] (0: never cut), got {self.scene_cut}", option="scene_cut")

    def to_dict(self) -> dict:
        return asdict(self)


def source_kind(value: str | int) -> str:
    """What a video input names: ``camera`` (an index), ``stream`` (a URL of a streaming scheme) or
    ``file`` (anything else: a path). The one place these are told apart."""
    if isinstance(value, int):
        return "camera"
    v = str(value).strip()
    if v.isdigit():
        return "camera"
    return "stream" if v.lower().startswith(STREAM_SCHEMES) else "file"


def is_video_input(value: str) -> bool:
    """A video file (by suffix), a stream URL or a camera index."""
    return source_kind(value) != "file" or value.strip().lower().endswith(VIDEO_SUFFIXES)
