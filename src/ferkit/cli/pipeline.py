"""fer detect-and-classify."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ferkit.cli.app import (
    EXIT_FAILED_INPUTS,
    Device,
    DeviceOpt,
    Format,
    _error,
    app,
    fer_errors,
)
from ferkit.detector.defaults import DEFAULT_CONF, DEFAULT_IMGSZ, DEFAULT_NMS_IOU


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
