"""fer train-classifier and fer eval-classifier."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer

from ferkit.classifier.config import RECIPES
from ferkit.cli.app import (
    CLASSIFIER_ONLY,
    BackendOpt,
    DeviceOpt,
    PrecisionOpt,
    PriorOpt,
    QuietOpt,
    app,
    check_backend_options,
    fer_errors,
    needs,
)
from ferkit.config import DEFAULT_BACKEND, DEFAULT_PRECISION, DEFAULT_PRIOR
from ferkit.errors import UsageError
from ferkit.runs import RunFolder


def _classifier_defaults():
    from ferkit.classifier.config import DEFAULTS

    return DEFAULTS


_C = _classifier_defaults()


def _recipe(option: str) -> str:
    """How help shows an option whose default depends on --init."""
    from ferkit.classifier.config import RECIPES

    return f"{RECIPES['scratch'][option]:g}, or {RECIPES['finetune'][option]:g} with --init"


_TIMING = ("epochs", "hours", "session_hours")  # None: the config's default, or with --resume the run's


@app.command("train-classifier")
@fer_errors
@needs("train", "training", only=CLASSIFIER_ONLY)
def train_classifier(
    data: Annotated[
        list[str] | None,
        typer.Option(
            help="A dataset: a folder of class folders ROOT/<class>/*.jpg (val held out of it) or "
            "ROOT/<split>/<class>/*.jpg, a FER2013 .csv, or a .csv of path,label rows. Repeat for several."
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
    init: Annotated[
        str,
        typer.Option(
            help="Fine-tune: start from these classifier weights ('default' or a path); their "
            "architecture, input size and crop are used, and the head is made for the data's classes."
        ),
    ] = _C.init,
    freeze: Annotated[
        str,
        typer.Option(
            help="With --init: none, backbone (a linear probe: only the head trains) or N (the first N "
            "blocks stay as they are)."
        ),
    ] = _C.freeze,
    backbone_lr: Annotated[
        float | None,
        typer.Option(
            help="The backbone's learning rate as a share of --lr (the head gets all of it).",
            show_default=f"{RECIPES['scratch']['backbone_lr']:g}, or "
            f"{RECIPES['finetune']['backbone_lr']:g} with --init",
        ),
    ] = None,
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
        str,
        typer.Option(
            help="auto (fer7 for FER2013's seven labels, else the data's own classes), fer7, fer6, "
            "valence3, identity, or a YAML/JSON mapping file."
        ),
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
    distill_online: Annotated[
        bool,
        typer.Option(
            help="Score the teachers on each augmented, mixed batch as the student sees it (consistent "
            "distillation; slower), instead of once on the plain training images."
        ),
    ] = _C.distill_online,
    epochs: Annotated[
        int | None, typer.Option(help="Epochs; with --resume, a new total.", show_default=_recipe("epochs"))
    ] = None,
    hours: Annotated[
        float | None,
        typer.Option(help="Time budget in hours: after the first epoch, --epochs is cut to what fits."),
    ] = None,
    session_hours: Annotated[
        float | None,
        typer.Option(
            help="Stop in time: after the last epoch that fits in these hours; the schedule is kept, so "
            "--resume continues it exactly (for runs longer than one session)."
        ),
    ] = None,
    batch_size: int = _C.batch_size,
    optimizer: Annotated[str, typer.Option(help="sgd or adamw.")] = _C.optimizer,
    lr: Annotated[float | None, typer.Option(help="Learning rate.", show_default=_recipe("lr"))] = None,
    weight_decay: float = _C.weight_decay,
    schedule: Annotated[str, typer.Option(help="cosine, step or none (after a 1-epoch warm-up).")] = (
        _C.schedule
    ),
    label_smoothing: float = _C.label_smoothing,
    save_epochs: Annotated[
        bool,
        typer.Option(
            help="Keep each epoch's weights in RUN/epochs/, to average them with fer average-classifiers."
        ),
    ] = _C.save_epochs,
    ema: Annotated[
        float,
        typer.Option(
            help="Keep an exponential moving average of the weights with this decay per step (e.g. 0.999); "
            "it is validated and saved as best.pt. 0 turns it off."
        ),
    ] = _C.ema,
    balance: Annotated[str, typer.Option(help="none, oversample or weighted-loss.")] = _C.balance,
    clean: Annotated[bool, typer.Option(help="Drop blank/near-constant training images.")] = _C.clean,
    augment: Annotated[float, typer.Option(help="Augmentation strength (0 turns it off).")] = _C.augment,
    mixup: Annotated[
        float,
        typer.Option(
            help="Mixup: blend each batch with itself shuffled, the targets (and teachers) in the same "
            "proportion, drawn from Beta(a, a); e.g. 0.2. 0 turns it off."
        ),
    ] = _C.mixup,
    cutmix: Annotated[
        float,
        typer.Option(
            help="CutMix: paste a box of another image of the batch, the targets mixed by its area, drawn "
            "from Beta(a, a); e.g. 1.0. With --mixup, each batch gets one of the two. 0 turns it off."
        ),
    ] = _C.cutmix,
    drop_unmapped: Annotated[bool, typer.Option(help="Leave out labels the grouping does not map.")] = (
        _C.drop_unmapped
    ),
    skip_bad: Annotated[
        bool, typer.Option(help="Skip (and count) unreadable files and bad rows.")
    ] = _C.skip_bad,
    patience: Annotated[
        int | None,
        typer.Option(help="Stop after this many epochs without val gain.", show_default=_recipe("patience")),
    ] = None,
    device: DeviceOpt = "auto",
    threads: Annotated[int, typer.Option(help="CPU threads for torch (0: torch's default).")] = _C.threads,
    amp: Annotated[
        bool,
        typer.Option(help="Mixed precision: bfloat16 where computed natively (GPU, CPU), else fp16 on CUDA."),
    ] = _C.amp,
    seed: int = _C.seed,
    project: Annotated[str, typer.Option(help="Parent folder of run folders.")] = _C.project,
    name: Annotated[str, typer.Option(help="Run folder name (a number is added if it exists).")] = _C.name,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Continue this run folder from its last.pt with its saved options (no --data needed)."
        ),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Train an emotion classifier on one or more datasets; writes a run folder with checkpoints,
    metrics.csv and plots."""
    from ferkit.classifier.config import ClassifierTrainConfig
    from ferkit.classifier.train import fit

    options = locals()  # the command's options, read by the config's field names (each listed once)
    if resume is not None:
        if data:
            raise UsageError("--resume continues a run with its saved options: leave out --data")
        overrides = {k: options[k] for k in _TIMING}
        run = fit(resume=resume, log=_training_log(quiet), overrides=overrides)
        typer.secho(f"done: {RunFolder(run).best}", fg=typer.colors.GREEN)
        return
    if not data:
        raise UsageError("give --data (one or more datasets), or --resume RUN")
    values = {f.name: options[f.name] for f in dataclasses.fields(ClassifierTrainConfig) if f.name in options}
    values.update(data=list(data), data_weights=list(data_weight or []), teachers=list(teacher or []))
    values.update({k: getattr(_C, k) if options[k] is None else options[k] for k in _TIMING})
    config = ClassifierTrainConfig(**values)
    run = fit(config, log=_training_log(quiet))
    typer.secho(f"done: {RunFolder(run).best}", fg=typer.colors.GREEN)


def _training_log(quiet: bool):
    """Where training's log lines go: stderr (stdout holds only the ``done:`` line), or nowhere."""
    return (lambda *_: None) if quiet else (lambda line: typer.echo(line, err=True))


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
    device: DeviceOpt = "auto",
    backend: BackendOpt = DEFAULT_BACKEND,
    precision: PrecisionOpt = DEFAULT_PRECISION,
    prior: PriorOpt = DEFAULT_PRIOR,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Accuracy, per-class recall, macro F1, confusion matrix and ROC AUC of a classifier (or an ensemble)
    on each dataset given, on the backend and precision that inference will use."""
    from ferkit.classifier.evaluate import evaluate_many

    if not data:
        raise UsageError("give --data (one or more datasets)")
    members = [("classifier", w) for w in weights or ["default"]]
    check_backend_options(backend, precision, device, members)  # before anything loads
    reports = evaluate_many(
        weights or ["default"],
        data,
        split,
        tta,
        device,
        out,
        drop_unmapped,
        skip_bad,
        backend,
        precision,
        prior,
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
