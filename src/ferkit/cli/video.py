"""The video branch of ``fer detect-and-classify``: video files, a camera index or a stream URL."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import typer

from ferkit.cli.app import Format, _error
from ferkit.errors import FailedInputs, RunInterrupted
from ferkit.fsnames import json_text
from ferkit.video.config import VideoOptions

VIDEO = VideoOptions()  # the defaults the CLI shows
MP4V_NOTE = (
    "note: annotated.mp4 is MPEG-4 Part 2 (VLC and ffmpeg play it, browsers do not); "
    "pip install 'ferkit[video]' writes H.264"
)


def run_video_command(
    pipe,
    source: str,
    options: VideoOptions,
    fmt: Format,
    out,
    overwrite: bool,
    annotate: bool | None,
    quiet: bool,
    style=None,
    show: bool = False,
) -> None:
    """Process one video; print per-frame records (jsonl, json) or the per-track summary (table, csv);
    ``show``: each annotated frame in a window too."""
    from ferkit.video.run import run_video
    from ferkit.video.summary import format_tracks, print_tracks_csv

    frames, on_frame = _frame_printer(fmt)

    with live_window(show) as window:
        summary = run_video(
            pipe,
            source,
            options,
            out=out,
            overwrite=overwrite,
            save_annotated=annotate is not False,
            progress=not quiet,
            on_frame=on_frame,
            style=style,
            window=window,
        )
    if summary.already_done:
        if not quiet:
            typer.secho(
                f"{summary.source}: already done in {out} (same settings); --overwrite redoes it",
                err=True,
                fg=typer.colors.GREEN,
            )
        return
    if fmt is Format.json:
        sys.stdout.write(json_text(frames, indent=2) + "\n")
    elif fmt is Format.table:
        sys.stdout.write(format_tracks(summary.source, summary.tracks, summary.frames) + "\n")
    elif fmt is Format.csv:
        print_tracks_csv(sys.stdout, summary.tracks, pipe.class_names)
    if not quiet:
        parts = [
            f"{summary.frames} frame(s), {summary.faces} face(s), {len(summary.tracks)} track(s) in "
            f"{summary.seconds:.1f}s ({summary.frames_per_s:.1f} frames/s)"
        ]
        if out is not None:
            parts.append(f"results in {out}")
        typer.secho("; ".join(parts), err=True, fg=typer.colors.GREEN)
        if summary.video_codec == "mp4v":
            typer.echo(MP4V_NOTE, err=True)
    if summary.stopped and not quiet:
        typer.echo(f"stopped from the window after {summary.frames} frame(s)", err=True)
    if summary.interrupted:
        raise RunInterrupted(f"after {summary.frames} frame(s); the files written so far are complete")
    if summary.failed_frames:
        raise FailedInputs(
            f"{summary.source}: {summary.failed_frames} of {summary.expected_frames} frame(s) could not be "
            "decoded (a damaged or truncated file?); the results cover the frames that could"
        )


def _frame_printer(fmt: Format):
    """(the frames kept for -f json, a callback printing each frame's line for -f jsonl)."""
    from ferkit.pipeline.writers import format_jsonl

    frames: list[dict] = []

    def on_frame(frame) -> None:
        if fmt is Format.jsonl:
            sys.stdout.write(format_jsonl(frame) + "\n")
            sys.stdout.flush()
        elif fmt is Format.json:
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


def run_clips_command(
    pipe, clips: list[str], options: VideoOptions, fmt: Format, out, overwrite: bool, annotate, quiet: bool,
    style=None, show: bool = False,
) -> None:  # fmt: skip
    """Several video files: each clip's frames (jsonl, json) or track table (table, csv, with a ``source``
    column), one subfolder of ``out`` each; a line per clip on stderr, then a total."""
    from ferkit.video.clips import run_clips

    frames, on_frame = _frame_printer(fmt)

    tally = {"done": 0, "failed": 0, "skipped": 0, "interrupted": False, "mp4v": False}
    with live_window(show) as window:
        runs = run_clips(pipe, clips, options, out, overwrite, save_annotated=annotate is not False,
                         progress=not quiet, on_frame=on_frame, style=style, window=window)  # fmt: skip
        for summary in runs:
            _report_clip(summary, fmt, pipe.class_names, quiet, tally)
    done, failed, skipped = tally["done"], tally["failed"], tally["skipped"]
    interrupted, mp4v = tally["interrupted"], tally["mp4v"]
    if fmt is Format.json:
        sys.stdout.write(json_text(frames, indent=2) + "\n")
    if not quiet:
        where = f"; results in {out}" if out is not None else ""
        again = f", {skipped} already done" if skipped else ""
        line = f"{done} video(s) processed{again}, {failed} failed{where}"
        typer.secho(line, err=True, fg=typer.colors.GREEN)
        if mp4v:
            typer.echo(MP4V_NOTE, err=True)
    if interrupted:
        raise RunInterrupted("the files written so far are complete, and a rerun goes on from this video")
    if failed:
        raise FailedInputs(f"{failed} video(s) failed, {done} processed")


def _report_clip(summary, fmt: Format, class_names, quiet: bool, tally: dict) -> None:
    """One clip of several: its table or CSV rows on stdout, a line on stderr, counted in ``tally``."""
    from ferkit.video.summary import format_tracks, print_tracks_csv

    if summary.error is not None:
        _error(summary.error)
        tally["failed"] += 1
        return
    if summary.already_done:
        tally["skipped"] += 1
        return
    if fmt is Format.table:
        sys.stdout.write(format_tracks(summary.source, summary.tracks, summary.frames) + "\n")
    elif fmt is Format.csv:
        print_tracks_csv(sys.stdout, summary.tracks, class_names, summary.source, header=tally["done"] == 0)
    tally["interrupted"] = summary.interrupted
    tally["mp4v"] = tally["mp4v"] or summary.video_codec == "mp4v"
    tally["failed"] += bool(summary.failed_frames)
    tally["done"] += 1
    if not quiet:
        tracks = len(summary.tracks)
        end = ", stopped from the window" if summary.stopped else ""
        took = f"{summary.seconds:.1f}s{end}"
        typer.secho(f"{summary.source}: {summary.frames} frame(s), {tracks} track(s) in {took}", err=True)
