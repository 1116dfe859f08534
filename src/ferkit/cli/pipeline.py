"""fer detect-and-classify."""

from __future__ import annotations

import sys
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ferkit.cli.app import (
    BackendOpt,
    DeviceOpt,
    Format,
    PrecisionOpt,
    PriorOpt,
    QuietOpt,
    _error,
    app,
    check_backend_options,
    fer_errors,
)
from ferkit.cli.ray_engine import run_ray_command
from ferkit.cli.video import VIDEO, run_clips_command, run_video_command
from ferkit.config import PIPELINE, DrawStyle, PipelineConfig
from ferkit.detector.sizing import IMGSZ_HELP
from ferkit.errors import ConfigError, DataError, FailedInputs
from ferkit.video.config import VideoOptions

VIDEO_PANEL = "Video"
RAY_PANEL = "Ray"


class Engine(str, Enum):
    local = "local"
    ray = "ray"


def _video_sources(paths: list[str], source: str | None, recursive: bool) -> list[str] | None:
    """The videos to process (--source, or video files, folders or globs of them as PATHS); None for
    images. --source with PATHS, videos mixed with images, or a stream among other videos is an error."""
    from ferkit.video.clips import video_inputs

    if source is not None:
        if paths:
            raise ConfigError(
                f"--source runs alone, without PATHS (got {len(paths)}): one command per camera or stream"
            )
        return [source]
    if not paths:
        raise ConfigError("give images, folders or a video as PATHS, or a camera or stream with --source")
    return video_inputs(paths, recursive)


@app.command("detect-and-classify")
@fer_errors
def detect_and_classify(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Images, folders or glob patterns; or video files, folders of videos or a stream URL.",
            show_default=False,
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            help="A video source instead of PATHS: a camera index (0) or a stream URL (rtsp://...)."
        ),
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Include subfolders of folders.")
    ] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="How results are printed.")] = Format.table,
    out: Annotated[
        Path | None, typer.Option(help="Write results.jsonl, annotated images (and crops) here.")
    ] = None,
    save_crops: Annotated[bool, typer.Option(help="With --out, also save each face crop.")] = False,
    annotate: Annotated[
        bool | None, typer.Option(help="With --out, save annotated images.", show_default="on with --out")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Redo images already in --out instead of skipping them.")
    ] = False,
    device: DeviceOpt = PIPELINE.device,
    backend: BackendOpt = PIPELINE.backend,
    precision: PrecisionOpt = PIPELINE.precision,
    prior: PriorOpt = PIPELINE.prior,
    conf: Annotated[float, typer.Option(help="Detector confidence threshold.")] = PIPELINE.conf,
    iou: Annotated[float, typer.Option(help="Detector NMS IoU threshold.")] = PIPELINE.iou,
    imgsz: Annotated[str, typer.Option(help=IMGSZ_HELP)] = str(PIPELINE.imgsz),
    tile: Annotated[
        bool, typer.Option("--tile", help="Also run photos larger than the input size in full-size tiles.")
    ] = PIPELINE.tile,
    max_faces: Annotated[int | None, typer.Option(help="Keep at most this many faces per image.")] = None,
    min_face: Annotated[
        int, typer.Option(metavar="PX", help="Leave out faces narrower or lower than this; 0 keeps all.")
    ] = PIPELINE.min_face,
    readable_size: Annotated[
        int,
        typer.Option(
            metavar="PX",
            help="Faces narrower or lower than this are reported without an emotion (too small to read); "
            "0 classifies every face.",
        ),
    ] = PIPELINE.readable_size,
    emotions: Annotated[
        str, typer.Option(metavar="LIST", help="Keep only faces of these emotions, e.g. happy,sad.")
    ] = "",  # every emotion
    margin: Annotated[
        float | None,
        typer.Option(
            help="Crop margin around each face box (fraction of its size).",
            show_default="the classifier's own",
        ),
    ] = None,
    detector_weights: Annotated[
        str, typer.Option(help="Detector .pt, .onnx, OpenVINO folder, or 'default'.")
    ] = PIPELINE.detector_weights,
    classifier_weights: Annotated[
        list[str] | None,
        typer.Option(help="Classifier .pt, or 'default'; repeat for an ensemble (probabilities averaged)."),
    ] = None,
    no_detect: Annotated[
        bool, typer.Option("--no-detect", help="Inputs are face crops: classify whole images.")
    ] = False,
    tta: Annotated[bool, typer.Option(help="Test-time augmentation for the classifier (slower).")] = False,
    batch_size: Annotated[int, typer.Option(help="Images per detector batch.")] = PIPELINE.batch_size,
    quiet: QuietOpt = False,
    line_width: Annotated[
        int | None,
        typer.Option(help="Box line width in annotated images (pixels).", show_default="scaled to the image"),
    ] = None,
    hide_labels: Annotated[bool, typer.Option("--hide-labels", help="Annotated images: boxes only.")] = False,
    hide_conf: Annotated[
        bool, typer.Option("--hide-conf", help="Annotated images: emotions without their confidence.")
    ] = False,
    show: Annotated[
        bool, typer.Option("--show", help="Show a video's annotated frames in a window (q or Esc stops).")
    ] = False,
    engine: Annotated[
        Engine,
        typer.Option(help="local, or ray: the same pipeline over a Ray cluster.", rich_help_panel=RAY_PANEL),
    ] = Engine.local,
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray: the cluster (HOST:PORT).",
            show_default="start Ray on this machine",
            rich_help_panel=RAY_PANEL,
        ),
    ] = None,
    num_workers: Annotated[
        int | None,
        typer.Option(
            help="Ray: pipeline actors.",
            show_default="one per 2 CPUs of the cluster",
            rich_help_panel=RAY_PANEL,
        ),
    ] = None,
    gpus_per_worker: Annotated[
        float, typer.Option(help="Ray: GPUs for each actor (0: CPU actors).", rich_help_panel=RAY_PANEL)
    ] = 0.0,
    every: Annotated[
        int, typer.Option(help="Video: process every N-th frame.", rich_help_panel=VIDEO_PANEL)
    ] = VIDEO.every,
    fps: Annotated[
        float | None,
        typer.Option(
            help="Video: sample about F frames per second (instead of --every).", rich_help_panel=VIDEO_PANEL
        ),
    ] = VIDEO.fps,
    start: Annotated[
        float, typer.Option(help="Video: start time in seconds.", rich_help_panel=VIDEO_PANEL)
    ] = VIDEO.start_s,
    end: Annotated[
        float | None,
        typer.Option(help="Video: end time in seconds.", show_default="the end", rich_help_panel=VIDEO_PANEL),
    ] = VIDEO.end_s,
    smooth: Annotated[
        float,
        typer.Option(
            help="Video: how much each face's emotion keeps of the past, 0-1 (a moving average; 0: off).",
            rich_help_panel=VIDEO_PANEL,
        ),
    ] = VIDEO.smooth,
    confirm: Annotated[
        int,
        typer.Option(
            metavar="N",
            help="Video: processed frames a face must be seen in before its track is reported (1: all).",
            rich_help_panel=VIDEO_PANEL,
        ),
    ] = VIDEO.confirm,
    scene_cut: Annotated[
        float,
        typer.Option(
            help="Video: how different a frame must be from the last one (0-1, a colour-histogram "
            "distance) to be a scene cut, which ends every track; 0: never.",
            rich_help_panel=VIDEO_PANEL,
        ),
    ] = VIDEO.scene_cut,
) -> None:
    """Find faces in images (or a video, camera or stream) and classify the emotion of each one.

    A video gives one record per processed frame (-f jsonl/json), faces tracked across frames (track_id) with
    smoothed emotions, and a per-track summary (the table, -f csv); --out DIR writes frames.jsonl, tracks.csv,
    tracks.png and annotated.mp4 (several videos: one subfolder each). Ctrl-C stops early and leaves the
    files complete; a rerun skips the videos already done and redoes an interrupted one.
    """
    from ferkit.pipeline import Pipeline
    from ferkit.pipeline.batch import check_output_options

    check_output_options(out, annotate, save_crops)
    config = PipelineConfig(  # every option validated here, before anything loads
        detector_weights=detector_weights,
        classifier_weights=tuple(classifier_weights or PIPELINE.classifier_weights),
        device=device,
        backend=backend,
        precision=precision,
        prior=prior,
        conf=conf,
        iou=iou,
        imgsz=imgsz,
        tile=tile,
        margin=margin,
        max_faces=max_faces,
        min_face=min_face,
        readable_size=readable_size,
        emotions=emotions,
        detect=not no_detect,
        tta=tta,
        batch_size=batch_size,
    )
    check_backend_options(backend, precision, device, config.models())
    style = DrawStyle(line_width, labels=not hide_labels, conf=not hide_conf)
    if engine is Engine.ray:
        ray_args = (address, num_workers, gpus_per_worker)
        run_ray_command(paths or [], recursive, out, overwrite, fmt, quiet, *ray_args, config)
        return
    videos = _video_sources(paths or [], source, recursive)
    if show:
        from ferkit.video.window import check_display

        if videos is None:
            raise ConfigError("--show is for videos, cameras and streams; --annotate --out DIR keeps images")
        check_display()  # before anything loads
    if videos is not None:
        timing = {"every": every, "fps": fps, "start_s": start, "end_s": end}
        video_options = VideoOptions(**timing, smooth=smooth, confirm=confirm, scene_cut=scene_cut)
        if videos[0].isdigit():
            video_options = replace(video_options, batch_size=1)  # a live camera: each frame as it comes
        several = _check_videos(videos, paths or [], no_detect or save_crops or tile)
    else:
        inputs = _image_inputs(paths or [], recursive)
    pipe = Pipeline.from_config(config)
    if videos is not None:
        video_args = (video_options, fmt, out, overwrite, annotate, quiet, style, show)
        if several:
            run_clips_command(pipe, videos, *video_args)
        else:
            run_video_command(pipe, videos[0], *video_args)
        return
    _run_images(pipe, inputs, fmt, out, overwrite, annotate, save_crops, batch_size, quiet, style)


def _check_videos(videos: list[str], paths: list[str], image_options: bool) -> bool:
    """Refuse image-only options and a missing single file before the models load; whether there are
    several clips."""
    from ferkit.imaging.images import is_pattern

    if image_options:
        raise ConfigError("--no-detect, --save-crops and --tile are for images; a video takes none")
    several = len(videos) > 1 or any(Path(p).is_dir() or is_pattern(p) for p in paths)
    if not several:
        from ferkit.video.source import parse_source

        parse_source(videos[0])  # a missing file fails before the models load
    return several


def _image_inputs(paths: list[str], recursive: bool):
    """The images of ``paths``: an error line for each input that gives none, a note for each folder whose
    subfolders were not searched; exit 1 when nothing is left to run."""
    from ferkit.pipeline.inputs import collect_inputs

    inputs = collect_inputs(paths, recursive)
    for e in inputs.errors:
        _error(str(e))
    for note in inputs.unsearched:
        typer.secho(f"note: {note}", fg="yellow", err=True)
    if not inputs.items:
        raise DataError("nothing to process: every input failed (above)")
    return inputs


def _run_images(pipe, inputs, fmt: Format, out, overwrite, annotate, save_crops, batch_size, quiet, style):
    """Images and folders: results printed as they complete, a summary line, failed inputs listed."""
    from ferkit.pipeline.batch import run_items
    from ferkit.pipeline.writers import ResultPrinter

    printer = ResultPrinter(fmt.value, pipe.class_names, sys.stdout)
    summary = run_items(
        pipe,
        inputs.items,
        out=out,
        overwrite=overwrite,
        save_annotated=annotate is not False,
        save_crops=save_crops,
        batch_size=batch_size,
        progress=not quiet,
        on_result=printer,
        failed_inputs=inputs.errors,
        style=style,
    )
    printer.close()
    failed = len(summary.failed)
    if not quiet:
        _summary(summary, out, save_crops, failed)
    if failed:
        for f in summary.failed[len(inputs.errors) :]:  # input errors were reported above
            _error(f)
        raise FailedInputs(f"{failed} input(s) failed, {summary.processed} processed")


def _summary(summary, out, save_crops: bool, failed: int) -> None:
    """The one green line after a batch: counts, speed, what was skipped and where results are."""
    from ferkit.pipeline.batch import torn_note

    parts = [
        f"{summary.processed} image(s) processed, {summary.faces} face(s) in {summary.seconds:.1f}s "
        "(model loading not counted)"
    ]
    if summary.processed > 1:
        parts.append(f"{summary.images_per_s:.1f} img/s")
    if summary.skipped:
        parts.append(f"{summary.skipped} already done in {out} (use --overwrite to redo)")
    if summary.skipped and save_crops:
        parts.append(
            f"--save-crops wrote no crops for the {summary.skipped} image(s) done before: "
            "rerun with --overwrite to cut crops for every image"
        )
    if summary.torn_lines:
        parts.append(torn_note(summary.torn_lines))
    if out is not None:
        parts.append(f"results in {out}")
    typer.secho("; ".join(parts), err=True, fg=typer.colors.GREEN if not failed else None)


# `fer detect`: the short name of the most used command, with the same options
app.command("detect", help="Short for detect-and-classify, with the same options.")(detect_and_classify)
