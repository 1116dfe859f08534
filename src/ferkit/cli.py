"""The ``fer`` command: a thin Typer layer over the library. FerError -> one red line, exit code 1."""

from __future__ import annotations

import functools
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ferkit.detector.defaults import DEFAULT_CONF, DEFAULT_IMGSZ, DEFAULT_NMS_IOU
from ferkit.errors import FerError

app = typer.Typer(
    name="fer",
    help="ferkit: find faces and recognise their expressions; train and evaluate both models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(help="Dataset conversion tools.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")

EXIT_FAILED_INPUTS = 2


class Format(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def _error(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)


def fer_errors(fn):
    """Turn the library's errors into one red line and exit code 1 (Ctrl-C into exit 130)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FerError as exc:
            _error(str(exc))
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            _error("interrupted")
            raise typer.Exit(130) from None

    return wrapper


DeviceOpt = Annotated[Device, typer.Option(help="Where to run: auto picks CUDA when present.")]


@app.command("detect-and-classify")
@fer_errors
def detect_and_classify(
    paths: Annotated[list[str], typer.Argument(help="Images, folders or glob patterns.", show_default=False)],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Include subfolders of folders.")
    ] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="How results are printed.")] = Format.table,
    out: Annotated[
        Path | None, typer.Option(help="Write results.jsonl, annotated images (and crops) here.")
    ] = None,
    save_crops: Annotated[bool, typer.Option(help="With --out, also save each face crop.")] = False,
    annotate: Annotated[bool, typer.Option(help="With --out, save annotated images.")] = True,
    overwrite: Annotated[
        bool, typer.Option(help="Redo images already in --out instead of skipping them.")
    ] = False,
    device: DeviceOpt = Device.auto,
    conf: Annotated[float, typer.Option(help="Detector confidence threshold.")] = DEFAULT_CONF,
    iou: Annotated[float, typer.Option(help="Detector NMS IoU threshold.")] = DEFAULT_NMS_IOU,
    imgsz: Annotated[int, typer.Option(help="Detector input size (pixels).")] = DEFAULT_IMGSZ,
    max_faces: Annotated[int | None, typer.Option(help="Keep at most this many faces per image.")] = None,
    margin: Annotated[
        float | None,
        typer.Option(
            help="Crop margin around each face box (fraction of its size) [default: the classifier's own]."
        ),
    ] = None,
    detector_weights: Annotated[str, typer.Option(help="Detector .pt, or 'default'.")] = "default",
    classifier_weights: Annotated[
        list[str] | None,
        typer.Option(help="Classifier .pt, or 'default'; repeat for an ensemble (probabilities averaged)."),
    ] = None,
    no_detect: Annotated[
        bool, typer.Option("--no-detect", help="Inputs are face crops: classify whole images.")
    ] = False,
    tta: Annotated[bool, typer.Option(help="Test-time augmentation for the classifier (slower).")] = False,
    batch_size: Annotated[int, typer.Option(help="Images per detector batch.")] = 8,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
) -> None:
    """Find faces in images and classify the emotion of each one."""
    from ferkit.pipeline import Pipeline
    from ferkit.pipeline.batch import run_items
    from ferkit.pipeline.inputs import collect_inputs
    from ferkit.pipeline.writers import csv_header, csv_rows, format_jsonl, format_table

    inputs = collect_inputs(paths, recursive)
    for e in inputs.errors:
        _error(e)
    if not inputs.items:
        raise typer.Exit(1)
    pipe = Pipeline.from_pretrained(
        detector_weights,
        classifier_weights or "default",
        device.value,
        conf=conf,
        iou=iou,
        imgsz=imgsz,
        margin=margin,
        max_faces=max_faces,
        detect=not no_detect,
        tta=tta,
        batch_size=batch_size,
    )
    collected = []
    if fmt is Format.csv:
        import csv as _csv

        writer = _csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(csv_header(pipe.class_names))

    def show(result) -> None:
        if fmt is Format.table:
            typer.echo(format_table(result) + "\n")
        elif fmt is Format.jsonl:
            typer.echo(format_jsonl(result))
        elif fmt is Format.csv:
            writer.writerows(csv_rows(result, pipe.class_names))
            sys.stdout.flush()
        else:
            collected.append(result.to_dict())

    summary = run_items(
        pipe,
        inputs.items,
        out=out,
        overwrite=overwrite,
        save_annotated=annotate,
        save_crops=save_crops,
        batch_size=batch_size,
        progress=not quiet,
        on_result=show,
    )
    if fmt is Format.json:
        typer.echo(json.dumps(collected, indent=2, ensure_ascii=False))
    failed = len(summary.failed) + len(inputs.errors)
    if not quiet:
        parts = [f"{summary.processed} image(s), {summary.faces} face(s) in {summary.seconds:.1f}s"]
        if summary.processed > 1:
            parts.append(f"{summary.images_per_s:.1f} img/s")
        if summary.skipped:
            parts.append(f"{summary.skipped} already done in {out} (use --overwrite to redo)")
        if out is not None:
            parts.append(f"results in {out}")
        typer.secho("; ".join(parts), err=True, fg=typer.colors.GREEN if not failed else None)
    if failed:
        for f in summary.failed:
            _error(f)
        _error(f"{failed} input(s) failed, {summary.processed - len(summary.failed)} processed")
        raise typer.Exit(EXIT_FAILED_INPUTS)


def _classifier_defaults():
    from ferkit.classifier.config import DEFAULTS

    return DEFAULTS


_C = _classifier_defaults()


@app.command("train-classifier")
@fer_errors
def train_classifier(
    data: Annotated[
        list[str] | None,
        typer.Option(
            help="A dataset: FER2013 .csv or a folder ROOT/<split>/<class>/*.jpg. Repeat for several."
        ),
    ] = None,
    data_weight: Annotated[
        list[float] | None,
        typer.Option(help="Sampling weight of each --data, in order (default 1 each: natural proportions)."),
    ] = None,
    select: Annotated[
        str, typer.Option(help="Model selection on val: mean, pooled or min accuracy, or one dataset's name.")
    ] = _C.select,
    arch: Annotated[str, typer.Option(help="Architecture (see 'fer models').")] = _C.arch,
    input_size: Annotated[
        int, typer.Option(help="Input size in pixels (0: the architecture's default).")
    ] = _C.input_size,
    input_blur: Annotated[
        str, typer.Option(help="auto (match sharp inputs to blurrier training data), none, or a blur sigma.")
    ] = _C.input_blur,
    crop_margin: Annotated[
        float,
        typer.Option(help="Crop margin stored in the checkpoint: how the pipeline frames faces for it."),
    ] = _C.crop_margin,
    grouping: Annotated[
        str, typer.Option(help="fer7, fer6, valence3, identity, or a YAML/JSON mapping file.")
    ] = _C.grouping,
    train_split: Annotated[
        str, typer.Option(help="Training split (folder name or train/val/test for CSV).")
    ] = _C.train_split,
    val_split: Annotated[str, typer.Option(help="Validation split of each dataset.")] = _C.val_split,
    soft_labels: Annotated[
        str, typer.Option(help="Vote file (FER+ style: file + one count column per label) for soft labels.")
    ] = _C.soft_labels,
    soft_mix: Annotated[
        float, typer.Option(help="Weight of the votes against each image's own label (1: votes only).")
    ] = _C.soft_mix,
    soft_contempt: Annotated[str, typer.Option(help="contempt votes: drop, ignore or map:<class>.")] = (
        _C.soft_contempt
    ),
    soft_unknown: Annotated[str, typer.Option(help="unknown votes: drop, ignore or map:<class>.")] = (
        _C.soft_unknown
    ),
    soft_not_face: Annotated[
        str,
        typer.Option(help="not_face votes: drop (images mostly voted not a face), ignore or map:<class>."),
    ] = _C.soft_not_face,
    teacher: Annotated[
        list[str] | None,
        typer.Option(help="Teacher checkpoint for distillation; repeat for an ensemble of teachers."),
    ] = None,
    distill_alpha: Annotated[float, typer.Option(help="Weight of the teachers' term.")] = _C.distill_alpha,
    distill_temperature: Annotated[float, typer.Option(help="Distillation temperature.")] = (
        _C.distill_temperature
    ),
    epochs: Annotated[
        int | None, typer.Option(help=f"Epochs [default: {_C.epochs}]; with --resume, a new total.")
    ] = None,
    hours: Annotated[
        float | None,
        typer.Option(help="Time budget in hours: after the first epoch, --epochs is cut to what fits."),
    ] = None,
    batch_size: int = _C.batch_size,
    optimizer: Annotated[str, typer.Option(help="sgd or adamw.")] = _C.optimizer,
    lr: float = _C.lr,
    weight_decay: float = _C.weight_decay,
    schedule: Annotated[str, typer.Option(help="cosine, step or none (after a 1-epoch warm-up).")] = (
        _C.schedule
    ),
    label_smoothing: float = _C.label_smoothing,
    balance: Annotated[str, typer.Option(help="none, oversample or weighted-loss.")] = _C.balance,
    clean: Annotated[bool, typer.Option(help="Drop blank/near-constant training images.")] = _C.clean,
    augment: Annotated[float, typer.Option(help="Augmentation strength (0 turns it off).")] = _C.augment,
    drop_unmapped: Annotated[bool, typer.Option(help="Leave out labels the grouping does not map.")] = (
        _C.drop_unmapped
    ),
    skip_bad: Annotated[
        bool, typer.Option(help="Skip (and count) unreadable files and bad rows.")
    ] = _C.skip_bad,
    patience: Annotated[
        int, typer.Option(help="Stop after this many epochs without val gain.")
    ] = _C.patience,
    device: DeviceOpt = Device.auto,
    workers: Annotated[int, typer.Option(help="Data-loading processes (-1: 0 on CPU, 4 on CUDA).")] = (
        _C.workers
    ),
    threads: Annotated[int, typer.Option(help="CPU threads for torch (0: torch's default).")] = _C.threads,
    seed: int = _C.seed,
    project: Annotated[str, typer.Option(help="Parent folder of run folders.")] = _C.project,
    name: Annotated[str, typer.Option(help="Run folder name (a number is added if it exists).")] = _C.name,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Continue this run folder from its last.pt with its saved options (no --data needed)."
        ),
    ] = None,
) -> None:
    """Train an emotion classifier on one or more datasets; writes a run folder with checkpoints,
    metrics.csv and plots."""
    from ferkit.classifier.config import ClassifierTrainConfig
    from ferkit.classifier.train import fit

    if resume is not None:
        if data:
            _error("--resume continues a run with its saved options: leave out --data")
            raise typer.Exit(1)
        run = fit(resume=resume, log=typer.echo, overrides={"epochs": epochs, "hours": hours})
        typer.secho(f"done: {run / 'best.pt'}", fg=typer.colors.GREEN)
        return
    if not data:
        _error("give --data (one or more datasets), or --resume RUN")
        raise typer.Exit(1)
    config = ClassifierTrainConfig(
        data=list(data),
        data_weights=list(data_weight or []),
        select=select,
        arch=arch,
        input_size=input_size,
        input_blur=input_blur,
        crop_margin=crop_margin,
        grouping=grouping,
        train_split=train_split,
        val_split=val_split,
        soft_labels=soft_labels,
        soft_mix=soft_mix,
        soft_contempt=soft_contempt,
        soft_unknown=soft_unknown,
        soft_not_face=soft_not_face,
        teachers=list(teacher or []),
        distill_alpha=distill_alpha,
        distill_temperature=distill_temperature,
        epochs=_C.epochs if epochs is None else epochs,
        hours=_C.hours if hours is None else hours,
        batch_size=batch_size,
        optimizer=optimizer,
        lr=lr,
        weight_decay=weight_decay,
        schedule=schedule,
        label_smoothing=label_smoothing,
        balance=balance,
        clean=clean,
        augment=augment,
        drop_unmapped=drop_unmapped,
        skip_bad=skip_bad,
        patience=patience,
        device=device.value,
        workers=workers,
        threads=threads,
        seed=seed,
        project=project,
        name=name,
    )
    run = fit(config, log=typer.echo)
    typer.secho(f"done: {run / 'best.pt'}", fg=typer.colors.GREEN)


@app.command("eval-classifier")
@fer_errors
def eval_classifier(
    weights: Annotated[
        list[str] | None,
        typer.Option(help="Classifier .pt, a run folder, or 'default'; repeat for an ensemble (averaged)."),
    ] = None,
    data: Annotated[
        list[str] | None, typer.Option(help="FER2013 .csv or image-folder dataset; repeat for several.")
    ] = None,
    split: Annotated[str, typer.Option(help="Split to evaluate (never tune on test).")] = "val",
    tta: Annotated[bool, typer.Option(help="Average flip + multi-crop predictions.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Write metrics.json and confusion_matrix.png here (a subfolder per dataset)."),
    ] = None,
    drop_unmapped: bool = False,
    skip_bad: bool = False,
    device: DeviceOpt = Device.auto,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Accuracy, per-class recall, macro F1, confusion matrix and ROC AUC of a classifier (or an ensemble)
    on each dataset given."""
    from ferkit.classifier.evaluate import evaluate_many

    if not data:
        _error("give --data (one or more datasets)")
        raise typer.Exit(1)
    reports = evaluate_many(
        weights or ["default"], data, split, tta, device.value, out, drop_unmapped, skip_bad
    )
    if as_json:
        typer.echo(
            json.dumps([r.to_dict() for r in reports] if len(reports) > 1 else reports[0].to_dict(), indent=2)
        )
        return
    typer.echo("\n\n".join(r.table() for r in reports))
    if len(reports) > 1:
        mean_acc = sum(r.accuracy for r in reports) / len(reports)
        mean_f1 = sum(r.macro_f1 for r in reports) / len(reports)
        typer.echo(f"\nmean over {len(reports)} datasets: accuracy {mean_acc:.4f}   macro F1 {mean_f1:.4f}")
    if out is not None:
        typer.echo(f"wrote metrics.json and confusion_matrix.png under {out}")


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
    device: DeviceOpt = Device.auto,
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
                device=device.value,
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
    device: DeviceOpt = Device.auto,
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
        device=device.value,
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
