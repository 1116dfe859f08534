"""``fer datasets faces``: cut the faces of photos and videos into files to sort into your own classes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ferkit.cli.app import BackendOpt, DeviceOpt, _error, datasets_app, fer_errors
from ferkit.config import PIPELINE


@datasets_app.command("faces")
@fer_errors
def faces(
    paths: Annotated[list[str], typer.Argument(help="Photos, folders of photos, or videos.")],
    out: Annotated[Path, typer.Option(help="Folder for the face files and faces.csv.")],
    sort: Annotated[
        bool,
        typer.Option(
            "--sort",
            help="Put each face into a folder named by the current model's prediction (move only "
            "the mistakes); else all go into unsorted/.",
        ),
    ] = False,
    fps: Annotated[float, typer.Option(help="Video: frames a second to look at.")] = 1.0,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Include subfolders.")] = False,
    readable_size: Annotated[
        int, typer.Option(metavar="PX", help="Faces smaller than this are left out (too small to read).")
    ] = PIPELINE.readable_size,
    conf: Annotated[float, typer.Option(help="Detector confidence threshold.")] = PIPELINE.conf,
    device: DeviceOpt = "auto",
    backend: BackendOpt = PIPELINE.backend,
) -> None:
    """Cut every readable face out of photos and videos, framed as the classifier reads faces, into files
    to sort into class folders for fer train-classifier (faces.csv records each face's source and box)."""
    from ferkit.config import PipelineConfig
    from ferkit.errors import ConfigError
    from ferkit.pipeline import Pipeline
    from ferkit.pipeline.harvest import harvest_faces
    from ferkit.pipeline.inputs import collect_inputs
    from ferkit.video.clips import video_inputs
    from ferkit.video.config import VideoOptions

    VideoOptions(fps=fps)  # a bad --fps is refused before anything loads
    if readable_size < 1:
        raise ConfigError(
            "must be >= 1 pixel: faces too small to read make no training data", option="readable_size"
        )
    config = PipelineConfig(device=device, backend=backend, conf=conf, readable_size=readable_size)
    videos = video_inputs(paths, recursive) or []
    photos = [] if videos else [it.path for it in collect_inputs(paths, recursive).items]
    if not photos and not videos:
        raise ConfigError(f"no photos or videos in {', '.join(paths)}")
    summary = harvest_faces(Pipeline.from_config(config), photos, videos, out, sort=sort, fps=fps)
    for reason in summary.failed or []:
        _error(reason)
    again = f", {summary.skipped} already done" if summary.skipped else ""
    typer.secho(
        f"{summary.faces} face(s) from {summary.sources} source(s){again}; {summary.too_small} too small to "
        f"read left out; in {out} (faces.csv lists them)",
        fg=typer.colors.GREEN,
        err=True,
    )


@datasets_app.command("coco-to-yolo")
@fer_errors
def coco_to_yolo(
    annotations: Annotated[Path, typer.Option(help="The COCO JSON (what annotation tools export).")],
    images: Annotated[Path, typer.Option(help="The folder its file_name values are relative to.")],
    out: Annotated[Path, typer.Option(help="Output folder: data.yaml, images/, labels/.")],
    category: Annotated[
        str | None, typer.Option(help="Only boxes of this category are faces.", show_default="every box")
    ] = None,
    val_fraction: Annotated[float, typer.Option(help="Share of the photos held out as val.")] = 0.1,
    skip_bad: Annotated[bool, typer.Option(help="Skip and list missing photos and broken boxes.")] = False,
) -> None:
    """Convert a COCO-style JSON of face boxes to the YOLO data set fer train-detector reads."""
    from ferkit.datasets.coco import coco_to_yolo as convert

    report = convert(annotations, images, out, val_fraction, category, skip_bad=skip_bad)
    for what, counts in (("images", report.images), ("faces", report.faces)):
        typer.echo(f"{what + ':':<8}" + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for reason in report.skipped:
        typer.secho(f"skipped: {reason}", fg=typer.colors.YELLOW, err=True)
    typer.secho(f"wrote {report.data_yaml}", fg=typer.colors.GREEN)
