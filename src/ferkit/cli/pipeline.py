"""fer detect-and-classify."""

from __future__ import annotations

import sys
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
from ferkit.config import PIPELINE, DrawStyle, PipelineConfig
from ferkit.detector.sizing import IMGSZ_HELP
from ferkit.video.config import VideoOptions

VIDEO = VideoOptions()  # the defaults the CLI shows

VIDEO_PANEL = "Video"
RAY_PANEL = "Ray"


class Engine(str, Enum):
    local = "local"
    ray = "ray"


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
    quick_size: Annotated[
        int,
        typer.Option(
            metavar="PX",
            help="Photos up to 400 px first run at this size, kept when it finds one clear face (portraits: "
            "about twice as fast); 0 runs every photo at the input size only.",
        ),
    ] = PIPELINE.quick_size,
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
    from ferkit.pipeline.jobs import JobInputs, OutputOptions, RayOptions, run_job

    style = DrawStyle(line_width, labels=not hide_labels, conf=not hide_conf)
    output = OutputOptions(out, overwrite, annotate, save_crops, style, fmt.value, not quiet, show)
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
        quick_size=quick_size,
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
    video = VideoOptions(every=every, fps=fps, start_s=start, end_s=end, smooth=smooth, confirm=confirm,
                         scene_cut=scene_cut)  # fmt: skip
    ray = RayOptions(address, num_workers, gpus_per_worker) if engine is Engine.ray else None
    if ray is not None:
        quiet_ray()
    inputs = JobInputs(tuple(paths or ()), source, recursive)
    run_job(config, inputs, output, video, ray, sys.stdout, reporter())


def reporter():
    """What a job tells the user, as fer prints it: errors in red, notes in yellow, the summary in green."""
    from ferkit.pipeline.jobs import Reporter

    return Reporter(
        error=_error,
        note=lambda text: typer.secho(f"note: {text}", fg=typer.colors.YELLOW, err=True),
        line=lambda text: typer.echo(text, err=True),
        done=lambda text, ok: typer.secho(text, fg=typer.colors.GREEN if ok else None, err=True),
    )


def quiet_ray() -> None:
    """The CLI owns its process: Ray Data reports through ferkit's progress bar and summary, not its own."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        return  # the job says what to install
    import logging

    import ray.data

    for name in ("ray", "ray.data"):  # Ray's info and notices; its errors still show
        logging.getLogger(name).setLevel(logging.ERROR)
    ray.data.DataContext.get_current().enable_progress_bars = False
    ray.data.DataContext.get_current().print_on_execution_start = False


# `fer detect`: the short name of the most used command, with the same options
app.command("detect", help="Short for detect-and-classify, with the same options.")(detect_and_classify)
