"""Commands that make new classifier weights out of trained ones: averaging, widening and prior
calibration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ferkit.cli.app import CLASSIFIER_ONLY, DeviceOpt, app, fer_errors, needs
from ferkit.errors import UsageError


@app.command("average-classifiers")
@fer_errors
@needs("torch", "averaging checkpoints", only=CLASSIFIER_ONLY)
def average_classifiers(
    weights: Annotated[
        list[Path],
        typer.Argument(help="Checkpoints of one architecture and preprocessing, e.g. RUN/epochs/*.pt."),
    ],
    out: Annotated[Path, typer.Option(help="Where to write the averaged checkpoint.")],
    half: Annotated[bool, typer.Option(help="Store float16 weights (half the size), as shipped.")] = False,
    data: Annotated[
        list[str] | None,
        typer.Option(help="Evaluate the average on this dataset's val split and record it; repeatable."),
    ] = None,
    device: DeviceOpt = "auto",
) -> None:
    """Average the weights of several checkpoints into one model (stochastic weight averaging of a run's
    epoch snapshots); evaluate the result with fer eval-classifier."""
    from ferkit.classifier.averaging import average_checkpoints, record_val_metrics

    path = average_checkpoints(list(weights), out, half=half)
    typer.secho(f"averaged {len(weights)} checkpoints: {path}", fg=typer.colors.GREEN)
    if data:
        metrics = record_val_metrics(path, list(data), device)
        per = "  ".join(f"{n} {m['accuracy']:.4f}" for n, m in metrics["val"].items())
        typer.echo(f"val accuracy {per}  (mean {metrics['val_acc']:.4f}), recorded in {path}")


@app.command("widen-classifier")
@fer_errors
@needs("torch", "widening a checkpoint", only=CLASSIFIER_ONLY)
def widen_classifier(
    weights: Annotated[str, typer.Option(help="Classifier checkpoint (.pt), or 'default'.")],
    arch: Annotated[str, typer.Option(help="The wider architecture, with the same layers (fer models).")],
    out: Annotated[Path, typer.Option(help="Where to write the widened checkpoint.")],
    seed: Annotated[int, typer.Option(help="Seed of the random shares between copied units.")] = 0,
) -> None:
    """Start a wider network from a trained one: every new unit copies a trained unit, so the wider model
    answers exactly as WEIGHTS does; fine-tune it with fer train-classifier --init OUT."""
    from ferkit.classifier.widening import widen_checkpoint

    path = widen_checkpoint(weights, arch, out, seed)
    typer.secho(f"{weights} widened into {arch}: {path}", fg=typer.colors.GREEN)


@app.command("calibrate-classifier")
@fer_errors
@needs("torch", "calibrating a checkpoint", only=CLASSIFIER_ONLY)
def calibrate_classifier(
    weights: Annotated[str, typer.Option(help="Classifier checkpoint (.pt), or 'default' with --out.")],
    data: Annotated[
        list[str] | None, typer.Option(help="The datasets it was trained on (train and val splits); repeat.")
    ] = None,
    split: Annotated[str, typer.Option(help="Split the correction is fitted on.")] = "val",
    train_split: Annotated[str, typer.Option(help="Split whose class mix the model learned.")] = "train",
    out: Annotated[Path | None, typer.Option(help="Write here instead of changing WEIGHTS in place.")] = None,
    device: DeviceOpt = "auto",
) -> None:
    """Fit the prior correction that --prior balanced applies (tau * log of the training class mix, tau
    chosen for the best mean per-class recall on val) and store it in the checkpoint; training runs do
    this for their best.pt themselves."""
    from ferkit.classifier.calibrate import calibrate_weights
    from ferkit.device import select_device

    if not data:
        raise UsageError("give --data (the datasets the model was trained on)")
    correction, table = calibrate_weights(weights, data, split, train_split, select_device(device), out)
    names = [n for n in table[0] if n not in ("tau", "score")]
    typer.echo(f"{'tau':>5}" + "".join(f"{n + ' acc':>16}{n + ' recall':>18}" for n in names))
    for row in table:
        cells = "".join(f"{row[n]['accuracy']:>16.4f}{row[n]['balanced']:>18.4f}" for n in names)
        typer.echo(f"{row['tau']:>5.1f}{cells}" + ("  <- stored" if row["tau"] == correction.tau else ""))
    typer.secho(f"prior correction tau {correction.tau:g} stored in {out or weights}", fg=typer.colors.GREEN)
