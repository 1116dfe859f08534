"""The video branch of ``fer detect-and-classify``: video files, a camera index or a stream URL."""

from __future__ import annotations

import json
import sys

import typer

from ferkit.cli.app import EXIT_FAILED_INPUTS, EXIT_INTERRUPTED, Format, _error
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
) -> None:
    """Process one video; print per-frame records (jsonl, json) or the per-track summary (table, csv)."""
    from ferkit.pipeline.writers import format_jsonl
    from ferkit.video.run import run_video
    from ferkit.video.summary import format_tracks, print_tracks_csv

    frames: list[dict] = []

    def on_frame(frame) -> None:
        if fmt is Format.jsonl:
            sys.stdout.write(format_jsonl(frame) + "\n")
            sys.stdout.flush()
        elif fmt is Format.json:
            frames.append(frame.to_dict())

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
        sys.stdout.write(json.dumps(frames, indent=2, ensure_ascii=False) + "\n")
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
    if summary.interrupted:
        _error(f"interrupted after {summary.frames} frame(s); the files written so far are complete")
        raise typer.Exit(EXIT_INTERRUPTED)
    if summary.failed_frames:
        _error(
            f"{summary.source}: {summary.failed_frames} of {summary.expected_frames} frame(s) could not be "
            "decoded (a damaged or truncated file?); the results cover the frames that could"
        )
        raise typer.Exit(EXIT_FAILED_INPUTS)


def run_clips_command(
    pipe, clips: list[str], options: VideoOptions, fmt: Format, out, overwrite: bool, annotate, quiet: bool,
    style=None,
) -> None:  # fmt: skip
    """Several video files: each clip's frames (jsonl, json) or track table (table, csv, with a ``source``
    column), one subfolder of ``out`` each; a line per clip on stderr, then a total."""
    from ferkit.pipeline.writers import format_jsonl
    from ferkit.video.clips import run_clips
    from ferkit.video.summary import format_tracks, print_tracks_csv

    frames: list[dict] = []

    def on_frame(frame) -> None:
        if fmt is Format.jsonl:
            sys.stdout.write(format_jsonl(frame) + "\n")
            sys.stdout.flush()
        elif fmt is Format.json:
            frames.append(frame.to_dict())

    done = failed = skipped = 0
    interrupted = mp4v = False
    runs = run_clips(pipe, clips, options, out, overwrite, save_annotated=annotate is not False,
                     progress=not quiet, on_frame=on_frame, style=style)  # fmt: skip
    for summary in runs:
        if summary.error is not None:
            _error(summary.error)
            failed += 1
            continue
        if summary.already_done:
            skipped += 1
            continue
        if fmt is Format.table:
            sys.stdout.write(format_tracks(summary.source, summary.tracks, summary.frames) + "\n")
        elif fmt is Format.csv:
            print_tracks_csv(sys.stdout, summary.tracks, pipe.class_names, summary.source, header=done == 0)
        interrupted = summary.interrupted
        mp4v = mp4v or summary.video_codec == "mp4v"
        failed += bool(summary.failed_frames)
        done += 1
        if not quiet:
            typer.secho(
                f"{summary.source}: {summary.frames} frame(s), {len(summary.tracks)} track(s) in "
                f"{summary.seconds:.1f}s",
                err=True,
            )
    if fmt is Format.json:
        sys.stdout.write(json.dumps(frames, indent=2, ensure_ascii=False) + "\n")
    if not quiet:
        where = f"; results in {out}" if out is not None else ""
        again = f", {skipped} already done" if skipped else ""
        line = f"{done} video(s) processed{again}, {failed} failed{where}"
        typer.secho(line, err=True, fg=typer.colors.GREEN)
        if mp4v:
            typer.echo(MP4V_NOTE, err=True)
    if interrupted:
        _error("interrupted; the files written so far are complete, and a rerun goes on from this video")
        raise typer.Exit(EXIT_INTERRUPTED)
    if failed:
        raise typer.Exit(EXIT_FAILED_INPUTS)
