"""fer train-detector, fer eval-detector, fer datasets and fer models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ferkit.cli.app import (
    DeviceOpt,
    app,
    datasets_app,
    fer_errors,
)
from ferkit.detector.defaults import DEFAULT_CONF, DEFAULT_IMGSZ, DEFAULT_NMS_IOU
from ferkit.errors import FerError


@app.command("train-detector")
@fer_errors
def train_detector(
    data: Annotated[str, typer.Option(help="YOLO data.yaml (see 'fer datasets wider-to-yolo').")] = "",
    model: Annotated[
        str,
        typer.Option(help="yolo11p-face, yolo11n-face, yolo11s-face, a model .yaml, or a .pt to fine-tune."),
    ] = "yolo11p-face",
    imgsz: int = 416,
    epochs: int = 60,
    hours: Annotated[
        float, typer.Option(help="Time budget in hours; overrides --epochs and fits the LR schedule to it.")
    ] = 0.0,
    batch: int = 16,
    device: DeviceOpt = "auto",
    workers: int = 2,
    patience: int = 25,
    cache: Annotated[bool, typer.Option(help="Cache decoded images in RAM.")] = True,
    seed: int = 0,
    project: str = "runs/detector",
    name: str = "train",
    resume: Annotated[
        Path | None, typer.Option(help="Continue this run folder from weights/last.pt.")
    ] = None,
) -> None:
    """Train the YOLO face detector (from scratch from a model YAML, or fine-tuning a .pt), offline."""
    from ferkit.detector.train import DetectorTrainConfig, resume_detector
    from ferkit.detector.train import train_detector as _train

    if resume is not None:
        run = resume_detector(resume)
    else:
        if not data:
            raise FerError("--data is required (a YOLO data.yaml), unless --resume is given")
        run = _train(
            DetectorTrainConfig(
                data=data,
                model=model,
                imgsz=imgsz,
                epochs=epochs,
                hours=hours,
                batch=batch,
                device=device,
                workers=workers,
                patience=patience,
                cache=cache,
                seed=seed,
                project=project,
                name=name,
            )
        )
    typer.secho(f"done: {run / 'weights' / 'best.pt'}", fg=typer.colors.GREEN)


@app.command("eval-detector")
@fer_errors
def eval_detector(
    weights: Annotated[str, typer.Option(help="Detector .pt, a run folder, or 'default'.")] = "default",
    data: Annotated[str, typer.Option(help="YOLO data.yaml, or a WIDER FACE root (its val split).")] = ...,
    conf: Annotated[float, typer.Option(help="Confidence at which P/R/F1 are reported.")] = DEFAULT_CONF,
    iou: Annotated[float, typer.Option(help="IoU for a detection to count as a hit.")] = 0.5,
    min_size: Annotated[float, typer.Option(help="Faces with a shorter side below this are ignored.")] = 24.0,
    imgsz: int = DEFAULT_IMGSZ,
    nms_iou: float = DEFAULT_NMS_IOU,
    val_fraction: Annotated[
        float, typer.Option(help="Val split of a WIDER root (as in wider-to-yolo).")
    ] = 0.1,
    out: Annotated[Path | None, typer.Option(help="Write metrics.json and pr_curve.png here.")] = None,
    skip_bad: bool = False,
    device: DeviceOpt = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Precision, recall and F1 of a detector (greedy one-to-one matching), and the PR curve."""
    from ferkit.detector.evaluate import evaluate_detector

    report = evaluate_detector(
        weights,
        data,
        conf=conf,
        iou=iou,
        min_size=min_size,
        imgsz=imgsz,
        nms_iou=nms_iou,
        device=device,
        val_fraction=val_fraction,
        out_dir=out,
        skip_bad=skip_bad,
        progress=not as_json,
    )
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.table())


@datasets_app.command("wider-to-yolo")
@fer_errors
def wider_to_yolo(
    wider: Annotated[
        Path, typer.Option(help="WIDER FACE root (WIDER_train/images + wider_face_split).")
    ] = ...,
    out: Annotated[Path, typer.Option(help="Output folder for the YOLO dataset.")] = ...,
    val_fraction: Annotated[float, typer.Option(help="Fraction of images for val (deterministic).")] = 0.1,
    min_size: Annotated[float, typer.Option(help="Drop faces whose shorter side is below this (px).")] = 8.0,
    skip_bad: Annotated[bool, typer.Option(help="Skip and count unreadable images.")] = False,
    mask_small: Annotated[
        bool, typer.Option(help="Paint the dropped small faces over, so they are not taught as background.")
    ] = False,
) -> None:
    """Convert WIDER FACE annotations to an ultralytics YOLO dataset."""
    from tqdm import tqdm

    from ferkit.datasets.wider import wider_to_yolo as convert

    report = convert(
        wider,
        out,
        val_fraction,
        min_size,
        skip_bad,
        progress=lambda it: tqdm(it, desc="converting", unit="img", disable=None),
        mask_small=mask_small,
    )
    typer.echo(f"images: train {report.images['train']}, val {report.images['val']}")
    typer.echo(f"faces:  train {report.faces['train']}, val {report.faces['val']}")
    typer.echo(
        f"dropped faces: {report.dropped_invalid} invalid, {report.dropped_degenerate} degenerate, "
        f"{report.dropped_small} smaller than {min_size:g} px"
        + (f" ({report.masked_small} painted over)" if mask_small else "")
    )
    if report.skipped_images:
        typer.echo(f"skipped {len(report.skipped_images)} unreadable image(s)")
    typer.secho(f"wrote {report.data_yaml}", fg=typer.colors.GREEN)


@app.command("models")
def models() -> None:
    """List the registered architectures and the shipped default weights."""
    from ferkit.classifier.models import get_spec, list_models
    from ferkit.detector.yolo import ARCHITECTURES
    from ferkit.weights import packaged_weights

    typer.echo("classifier architectures:")
    for n in list_models():
        typer.echo(f"  {n:<14}{get_spec(n).description}")
    typer.echo("detector architectures:")
    for n, (_, d, w) in ARCHITECTURES.items():
        typer.echo(f"  {n:<14}YOLO11, depth {d}, width {w}")
    typer.echo("shipped weights:")
    for kind in ("detector", "classifier"):
        p = packaged_weights(kind)
        typer.echo(f"  {kind:<14}{p if p.is_file() else 'missing: ' + str(p)}")
