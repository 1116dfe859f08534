"""fer export: a classifier or detector checkpoint as ONNX or OpenVINO IR, metadata inside."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ferkit.cli.app import app, fer_errors, needs
from ferkit.detector.defaults import TRACE_IMGSZ
from ferkit.errors import ConfigError
from ferkit.weights import EXPORT_FORMATS as FORMATS


@app.command("export")
@fer_errors
@needs("export", "exporting")
def export_command(
    weights: Annotated[str, typer.Option(help="A classifier or detector .pt (told apart by its contents).")],
    fmt: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(FORMATS)}.")] = FORMATS[0],
    out: Annotated[
        Path | None,
        typer.Option(help="Output file (.onnx) or folder (openvino).", show_default="beside the weights"),
    ] = None,
    imgsz: Annotated[
        int, typer.Option(help="Detector: the input size it is traced at (sizes stay dynamic).")
    ] = TRACE_IMGSZ,
    int8: Annotated[
        bool, typer.Option(help="Classifier, --format openvino: quantize to int8 (needs --calibration).")
    ] = False,
    calibration: Annotated[
        list[Path] | None,
        typer.Option(
            help="With --int8: a folder of face images to calibrate on; repeat for several (300 used)."
        ),
    ] = None,
) -> None:
    """Export a model for the fast backends (--format onnx|openvino): classes, preprocessing and crop
    recipe travel inside the file, so it is used exactly like the checkpoint."""
    from ferkit.export import export

    if int8 != bool(calibration):
        raise ConfigError("--int8 and --calibration go together: give both, or neither")
    path = export(weights, fmt, out, imgsz, calibration)
    typer.secho(f"exported {weights} -> {path}", err=True, fg=typer.colors.GREEN)
    typer.echo(str(path))
