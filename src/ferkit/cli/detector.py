"""fer train-detector, fer eval-detector, fer datasets and fer models."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ferkit.cli.app import (
    BackendOpt,
    DeviceOpt,
    PrecisionOpt,
    QuietOpt,
    app,
    datasets_app,
    fer_errors,
    needs,
)
from ferkit.config import DEFAULT_BACKEND, DEFAULT_PRECISION
from ferkit.datasets.wider_split import AUTO_EVENT_SHARE, DEFAULT_VAL_EVENTS, DEFAULT_VAL_FRACTION
from ferkit.detector.config import DetectorTrainConfig
from ferkit.detector.defaults import (
    CLOSEUPS_N,
    DEFAULT_CONF,
    DEFAULT_IMGSZ,
    DEFAULT_NMS_IOU,
    EVAL_IOU,
    EVAL_MIN_SIZE,
)
from ferkit.detector.sizing import IMGSZ_HELP, InputSize
from ferkit.errors import FerError

TRAIN = DetectorTrainConfig(data="")  # the defaults of train-detector
ValEventsOpt = Annotated[
    str,
    typer.Option(
        help=f"WIDER events held out whole (val_events split): 'auto' (a fixed hash choice holding about "
        f"{AUTO_EVENT_SHARE:.0%} of the photos), 'none', or a comma list of event names or numbers, e.g. "
        "'13,Picnic'."
    ),
]
ValFractionOpt = Annotated[
    float, typer.Option(help="Share of the other photos held out one by one (val split; deterministic).")
]


@app.command("train-detector")
@fer_errors
@needs("train", "training")
def train_detector(
    data: Annotated[str, typer.Option(help="YOLO data.yaml (see 'fer datasets wider-to-yolo').")] = "",
    model: Annotated[
        str,
        typer.Option(
            help="yolo11p-face, yolo11n-face, yolo11s-face, a model .yaml, or to fine-tune a .pt or default "
            "(the shipped detector)."
        ),
    ] = TRAIN.model,
    imgsz: int = TRAIN.imgsz,
    epochs: int = TRAIN.epochs,
    hours: Annotated[
        float, typer.Option(help="Time budget in hours; overrides --epochs and fits the LR schedule to it.")
    ] = TRAIN.hours,
    session_hours: Annotated[
        float,
        typer.Option(
            help="Stop in time: after the last whole epoch that fits in these hours; the schedule is kept, "
            "so --resume continues it exactly (for runs longer than one session). With --resume too."
        ),
    ] = TRAIN.session_hours,
    batch: int = TRAIN.batch,
    lr0: Annotated[
        float, typer.Option(help="Initial learning rate (lower it to fine-tune a .pt).")
    ] = TRAIN.lr0,
    warmup_epochs: float = TRAIN.warmup_epochs,
    optimizer: Annotated[
        str, typer.Option(help="SGD, AdamW, ... or auto (ultralytics picks, and then ignores --lr0).")
    ] = TRAIN.optimizer,
    freeze: Annotated[
        int, typer.Option(help="Keep the first N layers fixed (10: the YOLO11 backbone), to fine-tune.")
    ] = TRAIN.freeze,
    close_mosaic: Annotated[
        int, typer.Option(help="Turn mosaic augmentation off for the last N epochs (all when N >= epochs).")
    ] = TRAIN.close_mosaic,
    multi_scale: Annotated[
        float, typer.Option(help="Train each batch at a random size within imgsz x (1 +- this), e.g. 0.25.")
    ] = TRAIN.multi_scale,
    device: DeviceOpt = TRAIN.device,
    amp: Annotated[
        bool | None,
        typer.Option(
            help="Mixed precision: float16 AMP on CUDA, bfloat16 forward passes on a CPU that computes "
            "bfloat16 natively (AVX512-BF16 / AMX); --no-amp trains in float32. With --resume: the run's own "
            "setting unless given.",
            show_default=str(TRAIN.amp),
        ),
    ] = None,
    workers: int = TRAIN.workers,
    patience: int = TRAIN.patience,
    cache: Annotated[bool, typer.Option(help="Cache decoded images in RAM.")] = TRAIN.cache,
    seed: int = TRAIN.seed,
    skip_bad: Annotated[
        bool, typer.Option(help="Leave out (and count) images whose label file is malformed.")
    ] = TRAIN.skip_bad,
    project: str = TRAIN.project,
    name: str = TRAIN.name,
    resume: Annotated[
        Path | None, typer.Option(help="Continue this run folder from weights/last.pt.")
    ] = None,
) -> None:
    """Train the YOLO face detector (from scratch from a model YAML, or fine-tuning a .pt), offline."""
    from ferkit.detector.train import resume_detector
    from ferkit.detector.train import train_detector as _train

    if resume is None and not data:
        raise FerError("--data is required (a YOLO data.yaml), unless --resume is given")
    options = {**locals(), "amp": TRAIN.amp if amp is None else amp}
    config = DetectorTrainConfig(**{f.name: options[f.name] for f in dataclasses.fields(DetectorTrainConfig)})
    # stdout holds only results: ultralytics' progress bars and logs go to stderr (the CLI owns its process)
    with contextlib.redirect_stdout(sys.stderr):
        if resume is not None:
            run = resume_detector(resume, device, session_hours, amp=amp)
        else:
            run = _train(config)
    typer.secho(f"done: {run / 'weights' / 'best.pt'}", fg=typer.colors.GREEN)


@app.command("eval-detector")
@fer_errors
def eval_detector(
    weights: Annotated[str, typer.Option(help="Detector .pt, a run folder, or 'default'.")] = "default",
    data: Annotated[str, typer.Option(help="YOLO data.yaml, or a WIDER FACE root (its val split).")] = ...,
    conf: Annotated[float, typer.Option(help="Confidence at which P/R/F1 are reported.")] = DEFAULT_CONF,
    iou: Annotated[float, typer.Option(help="IoU for a detection to count as a hit.")] = EVAL_IOU,
    min_size: Annotated[
        float, typer.Option(help="Faces with a shorter side below this are ignored.")
    ] = EVAL_MIN_SIZE,
    imgsz: Annotated[str, typer.Option(help=IMGSZ_HELP)] = str(DEFAULT_IMGSZ),
    tile: Annotated[
        bool, typer.Option("--tile", help="Also run photos larger than the input size in full-size tiles.")
    ] = False,
    nms_iou: float = DEFAULT_NMS_IOU,
    val_fraction: Annotated[
        float | None,
        typer.Option(help="As in wider-to-yolo; default: the split recorded in the weights, else 0.1."),
    ] = None,
    val_events: Annotated[
        str | None,
        typer.Option(
            help="Events held out whole, as in wider-to-yolo; default: the ones recorded in the weights "
            "(events they never trained on), else 'auto'."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write metrics.json and pr_curve_<split>.png here.")
    ] = None,
    skip_bad: Annotated[
        bool, typer.Option(help="Skip and count unreadable images and malformed label files.")
    ] = False,
    device: DeviceOpt = "auto",
    backend: BackendOpt = DEFAULT_BACKEND,
    precision: PrecisionOpt = DEFAULT_PRECISION,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """P/R/F1 and AP at IoU 0.5 (overall and by face size) of a detector on every val split, and PR curves."""
    from ferkit.detector.evaluate import evaluate_detector

    report = evaluate_detector(
        weights,
        data,
        conf=conf,
        iou=iou,
        min_size=min_size,
        imgsz=InputSize.parse(imgsz).spec,
        nms_iou=nms_iou,
        device=device,
        val_fraction=val_fraction,
        val_events=val_events,
        out_dir=out,
        skip_bad=skip_bad,
        progress=not (as_json or quiet),
        backend=backend,
        precision=precision,
        tile=tile,
    )
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.table())


@datasets_app.command("wider-to-yolo")
@fer_errors
def wider_to_yolo(
    wider: Annotated[
        Path, typer.Option(help="WIDER FACE root (WIDER_train/images + wider_face_split).")
    ] = ...,
    out: Annotated[Path, typer.Option(help="Output folder for the YOLO dataset.")] = ...,
    val_fraction: ValFractionOpt = DEFAULT_VAL_FRACTION,
    val_events: ValEventsOpt = DEFAULT_VAL_EVENTS,
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
        val_events=val_events,
    )
    for what, counts in (("images", report.images), ("faces", report.faces)):
        typer.echo(f"{what + ':':<8}" + ", ".join(f"{k} {v}" for k, v in counts.items()))
    typer.echo(f"held-out events: {', '.join(report.val_events) or 'none'}")
    typer.echo(
        f"dropped faces: {report.dropped_invalid} invalid, {report.dropped_degenerate} degenerate, "
        f"{report.dropped_small} smaller than {min_size:g} px"
        + (f" ({report.masked_small} painted over)" if mask_small else "")
    )
    if report.skipped_images:
        typer.echo(f"skipped {len(report.skipped_images)} unreadable image(s)")
    typer.secho(f"wrote {report.data_yaml}", fg=typer.colors.GREEN)


@app.command("models")
@fer_errors
@needs("torch", "listing the trainable architectures")
def models() -> None:
    """List the registered architectures and the shipped default weights."""
    from ferkit.classifier.models import get_spec, list_models
    from ferkit.detector.architectures import ARCHITECTURES
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


@datasets_app.command("closeups")
@fer_errors
def closeups(
    data: Annotated[
        Path, typer.Option(help="YOLO data.yaml whose train split gives photos to zoom into.")
    ] = ...,
    out: Annotated[Path, typer.Option(help="Output folder: close-up photos and a new data.yaml.")] = ...,
    faces: Annotated[
        list[Path] | None,
        typer.Option(help="Face-crop folder (ROOT/train/** or ROOT/**) to paste large; repeatable."),
    ] = None,
    n: Annotated[
        int, typer.Option(help="Close-up photos to write (half pasted faces with --faces).")
    ] = CLOSEUPS_N,
    seed: int = 0,
    cover_share: Annotated[
        float, typer.Option(help="Share of the close-ups whose face is partly covered (hair, a hand).")
    ] = 0.0,
) -> None:
    """Add close-ups (faces filling 30-100 % of the frame) to a detector data set, for portraits."""
    from tqdm import tqdm

    from ferkit.datasets.closeups import make_closeups

    report = make_closeups(
        data,
        out,
        faces or [],
        n,
        seed,
        progress=lambda it: tqdm(it, desc="close-ups", unit="img", disable=None),
        cover_share=cover_share,
    )
    typer.echo(
        f"zoom-ins {report.zoom_ins}, pasted faces {report.pasted}, partly covered {report.covered}, "
        f"labelled faces {report.faces}"
    )
    typer.secho(f"wrote {report.data_yaml} (train: the source's plus these)", fg=typer.colors.GREEN)
