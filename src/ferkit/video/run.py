"""Running the pipeline over a video: frames decoded in a background thread, detected in small batches,
tracked, smoothed, and written as they complete.

Output folder layout (``--out DIR``)::

    DIR/run.json         the settings: pipeline options, weights (SHA-256), video options, source
    DIR/summary.json     written last, once the whole clip is done (frames, faces, tracks, seconds)
    DIR/frames.jsonl     one record per processed frame, appended as each frame completes
    DIR/tracks.csv       one row per track: first/last time, frames seen, dominant emotion, shares
    DIR/tracks.png       each track's emotion probabilities over time
    DIR/annotated.mp4    the processed frames with boxes, track ids and emotions drawn

Ctrl-C stops reading, then closes every file properly: what was written stays valid. The folder is a
:class:`ferkit.runs.RunFolder`: a rerun with the same settings finds a finished clip done (nothing is redone)
and redoes an unfinished one from its start; other settings are refused; a camera or stream is never
overwritten without ``overwrite``.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ferkit.config import DrawStyle
from ferkit.errors import ConfigError
from ferkit.imaging.draw import annotate, colour_for
from ferkit.runs import RUN_FILE, AppendLog, RunFolder
from ferkit.types import FrameResult
from ferkit.video.config import VideoOptions
from ferkit.video.encode import FrameWriter
from ferkit.video.scenes import SceneCuts
from ferkit.video.source import Frame, VideoSource
from ferkit.video.summary import TrackLog, TrackSummary, plot_tracks, write_tracks_csv
from ferkit.video.tracker import IouTracker

FRAMES_FILE, TRACKS_CSV, TRACKS_PLOT, ANNOTATED_VIDEO = (
    "frames.jsonl",
    "tracks.csv",
    "tracks.png",
    "annotated.mp4",
)
VIDEO_OUTPUTS = (FRAMES_FILE, TRACKS_CSV, TRACKS_PLOT, ANNOTATED_VIDEO)
_END = object()


def iter_video(
    pipeline, video: VideoSource, options: VideoOptions, log: TrackLog | None = None
) -> Iterator[tuple[FrameResult, np.ndarray]]:
    """Each sampled frame's result (faces tracked, probabilities smoothed) with its BGR image, in order.
    ``log`` is given the earlier faces of each track as it is confirmed (its frames carry no id before).

    A reader thread decodes ahead into a bounded queue; frames are detected in batches of what is already
    decoded, up to ``options.batch_size`` (so a live camera is processed frame by frame, without lag).
    """
    tracker = IouTracker(
        pipeline.class_names, options.track_iou, options.max_lost, options.smooth, options.confirm
    )
    cuts = SceneCuts(options.scene_cut)
    frames: queue.Queue = queue.Queue(maxsize=2 * options.batch_size)
    stop = threading.Event()

    def read() -> None:
        try:
            for fr in video.frames(options):
                while not stop.is_set():
                    try:
                        frames.put(fr, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            frames.put(_END)
        except BaseException as exc:  # handed to the consumer
            frames.put(exc)

    reader = threading.Thread(target=read, name="ferkit-video-read", daemon=True)
    reader.start()
    try:
        done = False
        while not done:
            batch: list[Frame] = []
            item = frames.get()
            while True:
                if item is _END:
                    done = True
                    break
                if isinstance(item, BaseException):
                    raise item
                batch.append(item)
                if len(batch) >= options.batch_size:
                    break
                try:
                    item = frames.get_nowait()
                except queue.Empty:
                    break
            if not batch:
                break
            results = pipeline.run_arrays([video.name] * len(batch), [f.image for f in batch])
            for fr, res in zip(batch, results, strict=True):
                if cuts.is_cut(fr.image):
                    tracker.reset()  # no track spans two scenes
                faces = tracker.update(res.faces, fr.timestamp_s)
                if log is not None:
                    for track_id, before in tracker.take_confirmed():
                        log.add_before(track_id, before)
                h, w = fr.image.shape[:2]
                yield FrameResult(video.name, fr.index, fr.timestamp_s, w, h, faces), fr.image
    finally:
        stop.set()
        reader.join(timeout=5)


@dataclass
class VideoSummary:
    """What a video run did; ``interrupted`` when Ctrl-C ended it early (files are still complete)."""

    source: str
    frames: int = 0
    faces: int = 0
    seconds: float = 0.0
    tracks: list[TrackSummary] = field(default_factory=list)
    interrupted: bool = False
    out: Path | None = None
    expected_frames: int | None = None  # what a file of known length should have given
    failed_frames: int = 0  # sampled frames of a file that could not be decoded (a damaged file)
    already_done: bool = False  # ``out`` held this clip finished with the same settings: nothing was run
    video_codec: str | None = None  # of annotated.mp4: "h264", or "mp4v" without PyAV
    stopped: bool = False  # ended from the --show window (q, Esc, or the window closed)
    error: str | None = None  # why the clip could not be run at all (several clips: the others still run)

    def to_dict(self) -> dict:
        """What summary.json records."""
        return {
            "source": self.source,
            "frames": self.frames,
            "faces": self.faces,
            "tracks": len(self.tracks),
            "seconds": round(self.seconds, 3),
            "expected_frames": self.expected_frames,
            "failed_frames": self.failed_frames,
        }

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class _VideoWriter:
    """annotated.mp4 (:mod:`ferkit.video.encode`), written in a background thread (drawing and encoding
    overlap detection)."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], class_names, style: DrawStyle):
        self.class_names, self.style = class_names, style
        self._writer = FrameWriter(path, fps, size)
        self.codec = self._writer.codec
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ferkit-video-write")
        self._pending: list[Future] = []

    def _draw(self, image: np.ndarray, frame: FrameResult, log: AppendLog | None) -> None:
        self._writer.write(annotate(image, frame, self.class_names, self.style))
        if log is not None:
            log.append(frame.to_dict())

    def add(self, image: np.ndarray, frame: FrameResult, log: AppendLog | None = None) -> None:
        """Queue the annotated frame, then (``log``) its JSONL line, written together in order."""
        for f in self._pending:
            if f.done():
                f.result()  # re-raises a failed write
        self._pending = [f for f in self._pending if not f.done()]
        if len(self._pending) > 8:  # bounded memory: wait for the oldest
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self._draw, image, frame, log))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for f in self._pending:
            f.result()
        self._writer.close()


def prepare_video_folder(folder: RunFolder, overwrite: bool, settings: dict, live: bool) -> dict | None:
    """Ready ``folder`` for this clip; the summary.json of a finished run with the same settings, if any."""
    present = [n for n in (*VIDEO_OUTPUTS, RUN_FILE) if (folder.path / n).exists()]
    if live and present and not overwrite:  # a camera or stream cannot be redone: never overwrite it
        raise ConfigError(
            f"{folder.path} already holds video results ({', '.join(present)}) of a camera or stream: use "
            "another --out, or --overwrite"
        )
    folder.start(settings, overwrite, VIDEO_OUTPUTS)  # other settings are refused, naming the difference
    if not live and (done := folder.summary) is not None:
        return done
    folder.clear(VIDEO_OUTPUTS)  # an unfinished earlier run of this clip: redone from its start
    return None


def _check_start(video: VideoSource, options: VideoOptions) -> None:
    """Refuse a start time past the end of a file of known length (it would give no frame at all)."""
    if video.is_file and video.frame_count and video.fps:
        duration = video.frame_count / video.fps
        if options.start_s >= duration:
            raise ConfigError(
                f"{video.name}: start {options.start_s:g} s is past the end of the video ({duration:.1f} s)"
            )


def _missing(summary: VideoSummary) -> int:
    """Sampled frames a file should have given but did not decode (tolerating a container's estimate)."""
    if summary.interrupted or summary.stopped or summary.expected_frames is None:
        return 0
    missing = summary.expected_frames - summary.frames
    return missing if missing > max(1, summary.expected_frames // 50) else 0


def run_video(
    pipeline,
    source: str | int | Path,
    options: VideoOptions | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    save_annotated: bool = True,
    progress: bool = True,
    on_frame: Callable[[FrameResult], None] | None = None,
    style: DrawStyle | None = None,
    window=None,
) -> VideoSummary:
    """Process a video file, camera or stream; with ``out``, write the files listed in this module's doc
    (``style``: how annotated.mp4 is drawn). ``window`` (:class:`ferkit.video.window.LiveWindow`) shows
    each annotated frame; its ``show`` returning False ends the run as Ctrl-C does."""
    options = options or VideoOptions()
    out_dir = Path(out) if out is not None else None
    folder = RunFolder(out_dir) if out_dir is not None else None
    with folder.hold() if folder else contextlib.nullcontext(), VideoSource(source) as video:  # one run each
        summary = VideoSummary(video.name, out=out_dir, expected_frames=video.sampled_count(options))
        _check_start(video, options)
        fh = None
        if folder is not None:
            settings = {"source": video.name, **pipeline.settings(), "video": options.to_dict()}
            done = prepare_video_folder(folder, overwrite, settings, live=not video.is_file)
            if done is not None:
                return _already_done(summary, done)
            fh = folder.log(FRAMES_FILE, fresh=True)
        sink = _FrameSink(
            pipeline, out_dir if save_annotated else None, options, video, fh, style or DrawStyle()
        )
        _process(pipeline, video, options, summary, sink, progress, on_frame, window)
        if out_dir is not None:
            write_tracks_csv(out_dir / TRACKS_CSV, summary.tracks, pipeline.class_names)
            colours = [colour_for(c, pipeline.class_names) for c in pipeline.class_names]
            plot_tracks(out_dir / TRACKS_PLOT, sink.log, colours)
            if sink.completed and folder is not None:
                folder.finish(summary.to_dict())
    return summary


class _FrameSink:
    """Where each processed frame goes: frames.jsonl, annotated.mp4 (opened at the first frame) and the
    track log."""

    def __init__(self, pipeline, annotated_dir: Path | None, options: VideoOptions, video, fh, style):
        self.pipeline, self.annotated_dir, self.options, self.video = pipeline, annotated_dir, options, video
        self.fh, self.style = fh, style
        self.writer: _VideoWriter | None = None
        self.log = TrackLog(pipeline.class_names)
        self.completed = False  # the clip went to its end: summary.json marks the folder done

    def add(self, frame: FrameResult, image: np.ndarray) -> str | None:
        """Write the frame; the codec of annotated.mp4 once it is opened."""
        if self.annotated_dir is not None and self.writer is None:
            o, v = self.options, self.video
            fps = o.fps or (v.fps / o.every if v.fps else 10.0)
            size = (frame.width, frame.height)
            self.writer = _VideoWriter(
                self.annotated_dir / ANNOTATED_VIDEO, fps, size, self.pipeline.class_names, self.style
            )
        if self.writer is not None:  # the frame and its JSONL line in one job: Ctrl-C never splits them
            self.writer.add(image, frame, self.fh)
        elif self.fh is not None:
            self.fh.append(frame.to_dict())
        self.log.add(frame)
        return self.writer.codec if self.writer is not None else None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.fh is not None:
            self.fh.close()


def _process(pipeline, video, options, summary: VideoSummary, sink: _FrameSink, progress, on_frame, window):
    """Run every sampled frame through the pipeline into ``sink``; Ctrl-C and the window's close end it
    early, with every file closed properly."""
    bar = tqdm(total=video.sampled_count(options), unit="frame", desc="frames",
               disable=not progress or None, dynamic_ncols=True)  # fmt: skip
    t0 = time.perf_counter()
    frames = iter_video(pipeline, video, options, sink.log)
    try:
        for frame, image in frames:
            summary.video_codec = sink.add(frame, image)
            summary.frames += 1
            summary.faces += len(frame.faces)
            bar.update(1)
            if on_frame is not None:
                on_frame(frame)
            if window is not None and not window.show(
                annotate(image, frame, pipeline.class_names, sink.style)
            ):
                summary.stopped = True
                break
        sink.completed = not summary.stopped
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        frames.close()
        bar.close()
        sink.close()
        summary.seconds = time.perf_counter() - t0
        summary.failed_frames = _missing(summary)
        summary.tracks = sink.log.summaries()


def _already_done(summary: VideoSummary, done: dict) -> VideoSummary:
    """The summary of a clip an earlier run finished (its figures from summary.json; nothing run now)."""
    summary.already_done = True
    for key in ("frames", "faces", "seconds", "failed_frames"):
        if isinstance(done.get(key), int | float):
            setattr(summary, key, done[key])
    return summary
