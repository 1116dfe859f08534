"""The video branch of :func:`ferkit.pipeline.jobs.run_job`: video files, a camera index or a stream URL.

One video prints its per-frame records (jsonl, json) or its per-track summary (table, csv); several video
files do so clip by clip (with a ``source`` column), one subfolder of ``out`` each, a line per clip and a
total. A camera runs each frame as it comes (batches of one).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ferkit.config import PipelineConfig
from ferkit.errors import ConfigError, FailedInputs, RunInterrupted
from ferkit.fsnames import json_text
from ferkit.video.config import VideoOptions, source_kind

if TYPE_CHECKING:
    from ferkit.pipeline.jobs import JobInputs, OutputOptions, Reporter
    from ferkit.pipeline.pipeline import Pipeline

MP4V_NOTE = (
    "annotated.mp4 is MPEG-4 Part 2 (VLC and ffmpeg play it, browsers do not); "
    "pip install 'ferkit[video]' writes H.264"
)


def video_sources(inputs: JobInputs) -> list[str] | None:
    """The videos to process (a ``source``, or video files, folders or globs of them as ``paths``); None
    for images. A source with paths, videos mixed with images, or a stream among other videos is an error."""
    from ferkit.video.clips import video_inputs

    if inputs.source is not None:
        if inputs.paths:
            raise ConfigError(
                f"--source runs alone, without PATHS (got {len(inputs.paths)}): one command per camera or "
                "stream"
            )
        return [inputs.source]
    if not inputs.paths:
        raise ConfigError("give images, folders or a video as PATHS, or a camera or stream with --source")
    return video_inputs(list(inputs.paths), inputs.recursive)


def check_video_job(
    videos: list[str], inputs: JobInputs, config: PipelineConfig, output: OutputOptions
) -> bool:
    """Refuse image-only options, a window without a display and a missing single file before the models
    load; whether there are several clips."""
    from ferkit.imaging.images import is_pattern

    if not config.detect or output.crops or config.tile:
        raise ConfigError("--no-detect, --save-crops and --tile are for images; a video takes none")
    if output.show:
        from ferkit.video.window import check_display

        check_display()
    several = len(videos) > 1 or any(Path(p).is_dir() or is_pattern(p) for p in inputs.paths)
    if not several:
        from ferkit.video.source import parse_source

        parse_source(videos[0])  # a missing file fails before the models load
    return several


@dataclass(frozen=True)
class VideoJob:
    """What every video of a job shares: the pipeline, how frames are sampled (``options``), where results
    go (``output``, ``stdout``) and who is told (``reporter``)."""

    pipe: Pipeline
    options: VideoOptions
    output: OutputOptions
    stdout: TextIO
    reporter: Reporter


def run_video_job(job: VideoJob, videos: list[str], several: bool) -> None:
    """One video, camera or stream (:func:`run_one_video`), or several clips (:func:`run_clips_job`)."""
    if several:
        run_clips_job(job, videos)
        return
    if source_kind(videos[0]) == "camera":
        job = replace(job, options=replace(job.options, batch_size=1))  # a camera: each frame as it comes
    run_one_video(job, videos[0])


def run_one_video(job: VideoJob, source: str) -> None:
    """Process one video; print its frames or tracks; raise on an interruption or undecodable frames."""
    pipe, options, output, stdout, reporter = job.pipe, job.options, job.output, job.stdout, job.reporter
    from ferkit.pipeline.jobs import summary_line
    from ferkit.video.run import run_video

    frames, on_frame = frame_printer(output.format, stdout)
    with live_window(output.show) as window:
        summary = run_video(pipe, source, options, on_frame=on_frame, window=window, **output.run_kwargs())
    if summary.already_done:
        if output.progress:
            done = f"{summary.source}: already done in {output.out} (same settings); --overwrite redoes it"
            reporter.done(done, True)
        return
    print_tracks(summary, output.format, frames, pipe.class_names, stdout)
    if output.progress:
        head = (
            f"{summary.frames} frame(s), {summary.faces} face(s), {len(summary.tracks)} track(s) in "
            f"{summary.seconds:.1f}s ({summary.frames_per_s:.1f} frames/s)"
        )
        reporter.done(summary_line(head, out=output.out), True)
        if summary.video_codec == "mp4v":
            reporter.note(MP4V_NOTE)
        if summary.stopped:
            reporter.line(f"stopped from the window after {summary.frames} frame(s)")
    if summary.interrupted:
        raise RunInterrupted(f"after {summary.frames} frame(s); the files written so far are complete")
    if summary.failed_frames:
        raise FailedInputs(
            f"{summary.source}: {summary.failed_frames} of {summary.expected_frames} frame(s) could not be "
            "decoded (a damaged or truncated file?); the results cover the frames that could"
        )


def print_tracks(summary, fmt: str, frames: list[dict], class_names, stdout: TextIO) -> None:
    """One video's output after its run: the frames (json), or the track table or CSV."""
    from ferkit.video.summary import format_tracks, print_tracks_csv

    if fmt == "json":
        stdout.write(json_text(frames, indent=2) + "\n")
    elif fmt == "table":
        stdout.write(format_tracks(summary.source, summary.tracks, summary.frames) + "\n")
    elif fmt == "csv":
        print_tracks_csv(stdout, summary.tracks, class_names)


def frame_printer(fmt: str, stdout: TextIO):
    """(the frames kept for json, a callback printing each frame's line for jsonl)."""
    from ferkit.pipeline.writers import format_jsonl

    frames: list[dict] = []

    def on_frame(frame) -> None:
        if fmt == "jsonl":
            stdout.write(format_jsonl(frame) + "\n")
            stdout.flush()
        elif fmt == "json":
            frames.append(frame.to_dict())

    return frames, on_frame


@contextlib.contextmanager
def live_window(show: bool) -> Iterator:
    """A :class:`ferkit.video.window.LiveWindow` while the run lasts (``show``), else None."""
    if not show:
        yield None
        return
    from ferkit.video.window import LiveWindow

    window = LiveWindow()
    try:
        yield window
    finally:
        window.close()


@dataclass
class _Tally:
    done: int = 0
    failed: int = 0
    skipped: int = 0
    interrupted: bool = False
    mp4v: bool = False


def run_clips_job(job: VideoJob, clips: list[str]) -> None:
    """Several video files: each clip's frames or track rows, a line per clip, then a total."""
    pipe, options, output, stdout, reporter = job.pipe, job.options, job.output, job.stdout, job.reporter
    from ferkit.pipeline.jobs import summary_line
    from ferkit.video.clips import run_clips

    frames, on_frame = frame_printer(output.format, stdout)
    tally = _Tally()
    with live_window(output.show) as window:
        runs = run_clips(pipe, clips, options, on_frame=on_frame, window=window, **output.run_kwargs())
        for summary in runs:
            _report_clip(summary, output, pipe.class_names, stdout, reporter, tally)
    if output.format == "json":
        stdout.write(json_text(frames, indent=2) + "\n")
    if output.progress:
        again = f", {tally.skipped} already done" if tally.skipped else ""
        reporter.done(summary_line(f"{tally.done} video(s) processed{again}, {tally.failed} failed",
                                   out=output.out), not tally.failed)  # fmt: skip
        if tally.mp4v:
            reporter.note(MP4V_NOTE)
    if tally.interrupted:
        raise RunInterrupted("the files written so far are complete, and a rerun goes on from this video")
    if tally.failed:
        raise FailedInputs(f"{tally.failed} video(s) failed, {tally.done} processed")


def _report_clip(
    summary, output: OutputOptions, class_names, stdout: TextIO, reporter: Reporter, tally: _Tally
) -> None:
    """One clip of several: its table or CSV rows, a line for the user, counted in ``tally``."""
    from ferkit.video.summary import format_tracks, print_tracks_csv

    if summary.error is not None:
        reporter.error(summary.error)
        tally.failed += 1
        return
    if summary.already_done:
        tally.skipped += 1
        return
    if output.format == "table":
        stdout.write(format_tracks(summary.source, summary.tracks, summary.frames) + "\n")
    elif output.format == "csv":
        print_tracks_csv(stdout, summary.tracks, class_names, summary.source, header=tally.done == 0)
    tally.interrupted = summary.interrupted
    tally.mp4v = tally.mp4v or summary.video_codec == "mp4v"
    tally.failed += bool(summary.failed_frames)
    tally.done += 1
    if output.progress:
        end = ", stopped from the window" if summary.stopped else ""
        took = f"{summary.seconds:.1f}s{end}"
        reporter.line(
            f"{summary.source}: {summary.frames} frame(s), {len(summary.tracks)} track(s) in {took}"
        )
