"""Inference jobs: images and folders, videos, cameras and streams, or a Ray cluster, as one library call.

``fer detect-and-classify`` only parses its options into a :class:`ferkit.config.PipelineConfig`, a
:class:`JobInputs`, :class:`OutputOptions`, :class:`ferkit.video.config.VideoOptions` and (``--engine
ray``) :class:`RayOptions`, and calls :func:`run_job`. The job writes results to ``stdout`` in the chosen
format as they complete and tells a :class:`Reporter` what a user reads beside them: an error per failed
input, notes, and one summary line (:func:`summary_line`). A run that ends with failed inputs raises
:class:`ferkit.errors.FailedInputs`, a stopped one :class:`ferkit.errors.RunInterrupted`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ferkit.config import DrawStyle, PipelineConfig
from ferkit.errors import ConfigError, DataError, FailedInputs
from ferkit.pipeline.batch import check_output_options, torn_note
from ferkit.pipeline.ray_engine import RayOptions
from ferkit.video.config import VideoOptions

if TYPE_CHECKING:
    from ferkit.pipeline.pipeline import Pipeline

FORMATS = ("table", "json", "jsonl", "csv")


@dataclass(frozen=True)
class OutputOptions:
    """Where and how a job's results go: ``out`` (a folder: results.jsonl, annotated images, crops),
    ``overwrite`` (redo what ``out`` holds), ``annotate`` (None: on with ``out``), ``crops``, the drawing
    ``style``, the printed ``format``, a ``progress`` bar and, for videos, a ``show`` window."""

    out: Path | None = None
    overwrite: bool = False
    annotate: bool | None = None
    crops: bool = False
    style: DrawStyle = field(default_factory=DrawStyle)
    format: str = "table"
    progress: bool = True
    show: bool = False

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(f"must be one of {', '.join(FORMATS)}, got {self.format!r}", option="format")
        check_output_options(self.out, self.annotate, self.crops)

    @property
    def save_annotated(self) -> bool:
        return self.annotate is not False

    def run_kwargs(self) -> dict:
        """What every run writer takes of these options (``run_items``, ``run_video``, ``run_clips``)."""
        return {"out": self.out, "overwrite": self.overwrite, "save_annotated": self.save_annotated,
                "progress": self.progress, "style": self.style}  # fmt: skip


@dataclass(frozen=True)
class JobInputs:
    """What to run on: ``paths`` (images, folders, globs, videos) or one camera or stream ``source``."""

    paths: tuple[str, ...] = ()
    source: str | None = None
    recursive: bool = False


def _to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")


@dataclass(frozen=True)
class Reporter:
    """What a job tells its user beside the results: ``error`` (one failed input), ``note``, ``line`` (a
    plain progress line) and ``done`` (a summary line, with whether the run had no failure). Plain stderr
    lines by default."""

    error: Callable[[str], None] = lambda text: _to_stderr(f"error: {text}")
    note: Callable[[str], None] = lambda text: _to_stderr(f"note: {text}")
    line: Callable[[str], None] = _to_stderr
    done: Callable[[str, bool], None] = lambda text, ok: _to_stderr(text)


def summary_line(
    *head: str, out: Path | None = None, skipped: int = 0, extra: tuple[str, ...] = (), torn_lines: int = 0
) -> str:
    """The one line after every job (images, Ray, videos): what was done (``head``), what ``out`` already
    held, notes (``extra``), the torn lines a resume dropped, where the results are. Empty parts are left
    out."""
    parts = [h for h in head if h]
    if skipped:
        parts.append(f"{skipped} already done in {out} (use --overwrite to redo)")
    parts += [e for e in extra if e]
    if torn_lines:
        parts.append(torn_note(torn_lines))
    if out is not None:
        parts.append(f"results in {out}")
    return "; ".join(parts)


def run_job(
    config: PipelineConfig,
    inputs: JobInputs,
    output: OutputOptions | None = None,
    video: VideoOptions | None = None,
    ray: RayOptions | None = None,
    stdout: TextIO | None = None,
    reporter: Reporter | None = None,
) -> None:
    """Run the pipeline of ``config`` on ``inputs``: on Ray (``ray`` given), as videos (video files, a
    camera or a stream), or as images. Inputs are checked before the models load."""
    output, video = output or OutputOptions(), video or VideoOptions()
    stdout, reporter = stdout or sys.stdout, reporter or Reporter()
    if ray is not None:
        from ferkit.pipeline.ray_job import run_ray_job

        run_ray_job(config, inputs, output, ray, stdout, reporter)
        return
    from ferkit.pipeline.pipeline import Pipeline
    from ferkit.pipeline.video_job import VideoJob, check_video_job, run_video_job, video_sources

    videos = video_sources(inputs)
    if videos is not None:
        several = check_video_job(videos, inputs, config, output)
        job = VideoJob(Pipeline.from_config(config), video, output, stdout, reporter)
        run_video_job(job, videos, several)
        return
    if output.show:
        raise ConfigError("--show is for videos, cameras and streams; --annotate --out DIR keeps images")
    found = image_inputs(inputs, reporter)
    run_image_job(Pipeline.from_config(config), found, output, stdout, reporter, config.batch_size)


def image_inputs(inputs: JobInputs, reporter: Reporter):
    """The images of ``inputs``: an error for each input that gives none, a note for each folder whose
    subfolders were not searched; a DataError when nothing is left to run."""
    from ferkit.pipeline.inputs import collect_inputs

    found = collect_inputs(list(inputs.paths), inputs.recursive)
    for e in found.errors:
        reporter.error(str(e))
    for note in found.unsearched:
        reporter.note(note)
    if not found.items:
        raise DataError("nothing to process: every input failed (above)")
    return found


def run_image_job(
    pipe: Pipeline, inputs, output: OutputOptions, stdout: TextIO, reporter: Reporter, batch_size: int
) -> None:
    """Images and folders: results printed as they complete, a summary line, failed inputs listed."""
    from ferkit.pipeline.batch import run_items
    from ferkit.pipeline.writers import ResultPrinter

    printer = ResultPrinter(output.format, pipe.class_names, stdout)
    summary = run_items(
        pipe,
        inputs.items,
        save_crops=output.crops,
        batch_size=batch_size,
        on_result=printer,
        failed_inputs=inputs.errors,
        **output.run_kwargs(),
    )
    printer.close()
    failed = len(summary.failed)
    if output.progress:
        head = (
            f"{summary.processed} image(s) processed, {summary.faces} face(s) in {summary.seconds:.1f}s "
            "(model loading not counted)"
        )
        speed = f"{summary.images_per_s:.1f} img/s" if summary.processed > 1 else ""
        crops = (
            f"--save-crops wrote no crops for the {summary.skipped} image(s) done before: rerun with "
            "--overwrite to cut crops for every image"
            if summary.skipped and output.crops
            else ""
        )
        line = summary_line(head, speed, out=output.out, skipped=summary.skipped, extra=(crops,),
                            torn_lines=summary.torn_lines)  # fmt: skip
        reporter.done(line, not failed)
    raise_if_failed(summary, reporter, reported=len(inputs.errors))  # input errors were reported above


def raise_if_failed(summary, reporter: Reporter, reported: int = 0) -> None:
    """After a batch (local or Ray): each failed input not ``reported`` yet as an error line, then
    FailedInputs."""
    if summary.failed:
        for f in summary.failed[reported:]:
            reporter.error(f)
        raise FailedInputs(f"{len(summary.failed)} input(s) failed, {summary.processed} processed")
