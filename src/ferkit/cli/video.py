"""The video branch of ``fer detect-and-classify``: a video file, a camera index or a stream URL."""

from __future__ import annotations

import json
import sys

import typer

from ferkit.cli.app import EXIT_FAILED_INPUTS, EXIT_INTERRUPTED, Format, _error
from ferkit.video.config import VideoOptions

VIDEO = VideoOptions()  # the defaults the CLI shows


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
    if summary.interrupted:
        _error(f"interrupted after {summary.frames} frame(s); the files written so far are complete")
        raise typer.Exit(EXIT_INTERRUPTED)
    if summary.failed_frames:
        _error(
            f"{summary.source}: {summary.failed_frames} of {summary.expected_frames} frame(s) could not be "
            "decoded (a damaged or truncated file?); the results cover the frames that could"
        )
        raise typer.Exit(EXIT_FAILED_INPUTS)
