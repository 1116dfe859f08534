"""Running the pipeline over many images: batched, threaded decode and writes, resumable output folders.

Output folder layout (``--out DIR``)::

    DIR/run.json           the settings of the run: options, weights files (SHA-256), ferkit version
    DIR/results.jsonl      one line per image, appended as each image completes
    DIR/results.csv        one row per face (the -f csv columns), remade from results.jsonl when a run ends
    DIR/annotated/NAME     the image with boxes and labels drawn
    DIR/crops/STEM_faceI_LABEL.png   face crops (with --save-crops)

A rerun with the same DIR skips images that already have a result line (unless ``overwrite``); images that
failed are retried. A killed run loses at most the line being written. A rerun whose settings differ from
``run.json`` is refused, naming the difference, so that one folder never mixes two configurations.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ferkit.config import DEFAULT_BATCH_SIZE, DrawStyle
from ferkit.errors import ConfigError, OutputWriteError, RunInterrupted
from ferkit.imaging.draw import annotate
from ferkit.pipeline.inputs import InputItem, SkippedInput
from ferkit.pipeline.pipeline import Pipeline
from ferkit.pipeline.writers import error_reason, format_jsonl, save_crops, write_image, write_results_csv
from ferkit.runs import RESULTS_CSV, RESULTS_FILE, RunFolder, absolute_source, check_folder, output_errors
from ferkit.types import ImageResult


@dataclass
class RunSummary:
    """What a batch run did."""

    processed: int = 0
    skipped: int = 0  # already done in an earlier run
    torn_lines: int = 0  # torn last lines of a killed run, dropped on resume (their images are redone)
    faces: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    def count(self, result: ImageResult) -> None:
        """Add one finished input: a failure with its reason, or a processed image and its faces."""
        if result.error:
            self.failed.append(f"{result.source}: {error_reason(result)}")
        else:
            self.processed += 1
            self.faces += len(result.faces)


def torn_note(lines: int) -> str:
    """How a summary says that resuming dropped lines torn by a killed run."""
    return f"dropped {lines} torn line(s) of {RESULTS_FILE} left by a killed run (those images were redone)"


def _key(source: str) -> str:
    return absolute_source(source)


class _Sink:
    """Writes each finished image: its files first, then its results line (so a line means 'all written')."""

    def __init__(
        self, folder: RunFolder | None, pipeline: Pipeline, annotated: bool, crops: bool, style: DrawStyle
    ):
        self.out = folder.path if folder is not None else None
        self.pipeline, self.annotated, self.crops, self.style = pipeline, annotated, crops, style
        self.log = folder.log(RESULTS_FILE) if folder is not None else None

    def write(self, item: InputItem | None, image: np.ndarray | None, result: ImageResult) -> None:
        if self.out is not None and item is not None and image is not None and result.ok:
            with output_errors(self.out):
                self._write_files(item, image, result)
        if self.log is not None:
            self.log.append(format_jsonl(result))

    def _write_files(self, item: InputItem, image: np.ndarray, result: ImageResult) -> None:
        names = self.pipeline.class_names
        if self.annotated:
            write_image(self.out / "annotated" / item.name, annotate(image, result, names, self.style))
        if self.crops:
            stem = Path(item.name).with_suffix("").as_posix()
            save_crops(self.out / "crops", stem, image, result, self.pipeline.crop)

    def close(self) -> None:
        if self.log is not None:
            self.log.close()


def check_output_options(out: str | Path | None, save_annotated: bool | None, save_crops: bool) -> None:
    """Refuse output options that cannot work, before any model is loaded: ``out`` naming a file, or crops /
    annotated images asked for without an output folder (``save_annotated`` None means "by default")."""
    if out is not None:
        check_folder(out)
    if out is None and (save_crops or save_annotated):
        asked = "save_crops" if save_crops else "annotate"
        raise ConfigError("writes files into the output folder: give one as well", option=asked)


def run_items(
    pipeline: Pipeline,
    items: Sequence[InputItem],
    out: str | Path | None = None,
    overwrite: bool = False,
    save_annotated: bool = True,
    save_crops: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
    on_result: Callable[[ImageResult], None] | None = None,
    failed_inputs: Sequence[SkippedInput] = (),
    style: DrawStyle | None = None,
) -> RunSummary:
    """Process ``items`` through :meth:`Pipeline.stream_with_images` (bounded memory, decoding overlapped);
    files are written in the background. Every result goes to ``on_result`` (for printing) and, with ``out``,
    to results.jsonl; so do ``failed_inputs`` (paths that gave no image at all), as error records.
    ``style``: how annotated images are drawn."""
    check_output_options(out, None, save_crops)
    out_dir = Path(out) if out is not None else None
    folder = RunFolder(out_dir) if out_dir is not None else None
    with folder.hold() if folder is not None else contextlib.nullcontext():  # one run per folder
        summary = RunSummary()
        if folder is not None:
            extra = ("annotated", "crops", RESULTS_CSV)  # what --overwrite removes besides the results
            resumed = folder.start(pipeline.settings(), overwrite, extra)
            summary.torn_lines = resumed.torn_lines
            todo = [it for it in items if _key(str(it.path)) not in resumed.done]
            summary.skipped = len(items) - len(todo)
        else:
            todo = list(items)
        sink = _Sink(folder, pipeline, save_annotated, save_crops, style or DrawStyle())

        def record(res: ImageResult) -> None:
            summary.count(res)
            if on_result is not None:
                on_result(res)

        for bad in failed_inputs:
            res = ImageResult(bad.source, 0, 0, [], bad.reason)
            sink.write(None, None, res)
            record(res)
        bar = tqdm(
            total=len(todo),
            unit="img",
            desc="images",
            disable=(not progress or len(todo) <= 1) or None,
            dynamic_ncols=True,
        )
        t0 = time.perf_counter()
        try:
            with ThreadPoolExecutor(2, thread_name_prefix="ferkit-write") as writer:
                pending: list[Future] = []
                stream = pipeline.stream_with_images([it.path for it in todo], batch_size)
                for it, (res, img) in zip(todo, stream, strict=True):
                    pending.append(writer.submit(sink.write, it, img, res))
                    record(res)
                    bar.update(1)
                    with pipeline.timer("write"):
                        pending = [f for f in pending if not _finished(f)]
                with pipeline.timer("write"):
                    for f in pending:
                        f.result()
        except KeyboardInterrupt:
            done = summary.processed + summary.skipped
            where = (
                f"; results so far are in {out_dir}: rerun the same command to resume from there"
                if out_dir is not None
                else " (give --out DIR to keep results and resume an interrupted run)"
            )
            raise RunInterrupted(f"after {done} of {len(items)} image(s){where}") from None
        finally:  # an interrupted run too: its CSV holds every image done so far
            sink.close()
            bar.close()
            if out_dir is not None:
                _remake_csv(out_dir, pipeline.class_names, failing=sys.exc_info()[0] is not None)
        summary.seconds = time.perf_counter() - t0
        return summary


def _remake_csv(out_dir: Path, class_names, failing: bool) -> None:
    """results.csv anew from results.jsonl; when the run is already failing, a CSV that cannot be written
    either is left as it was (the run's own error is the one reported)."""
    try:
        with output_errors(out_dir / RESULTS_CSV):
            write_results_csv(out_dir / RESULTS_FILE, out_dir / RESULTS_CSV, class_names)
    except OutputWriteError:
        if not failing:
            raise


def _finished(f: Future) -> bool:
    """True (after re-raising any error) when a background write is done."""
    if f.done():
        f.result()
        return True
    return False
