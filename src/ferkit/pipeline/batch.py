"""Running the pipeline over many images: batched, threaded decode and writes, resumable output folders.

Output folder layout (``--out DIR``)::

    DIR/results.jsonl      one line per image, appended as each image completes
    DIR/annotated/NAME     the image with boxes and labels drawn
    DIR/crops/STEM_faceI_LABEL.png   face crops (with --save-crops)

A rerun with the same DIR skips images that already have a result line (unless ``overwrite``); images that
failed are retried. A killed run loses at most the line being written.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ferkit.datasets.images import read_image
from ferkit.errors import DataError
from ferkit.pipeline.inputs import InputItem
from ferkit.pipeline.pipeline import Pipeline
from ferkit.pipeline.writers import annotate, format_jsonl, save_crops, write_image
from ferkit.types import ImageResult

RESULTS_FILE = "results.jsonl"


@dataclass
class RunSummary:
    """What a batch run did."""

    processed: int = 0
    skipped: int = 0  # already done in an earlier run
    faces: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0


def load_done(results_file: Path) -> set[str]:
    """Sources with a successful result in ``results_file``; rewrites it without failed or torn lines."""
    if not results_file.is_file():
        return set()
    kept, done = [], set()
    for line in results_file.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # the last line of a killed run
        if isinstance(rec, dict) and rec.get("source") and not rec.get("error"):
            kept.append(line)
            done.add(_key(rec["source"]))
    tmp = results_file.with_name(results_file.name + ".part")
    tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
    tmp.replace(results_file)
    return done


def _key(source: str) -> str:
    return str(Path(source).resolve())


class _Sink:
    """Writes each finished image: its files first, then its results line (so a line means 'all written')."""

    def __init__(self, out: Path | None, pipeline: Pipeline, annotated: bool, crops: bool):
        self.out, self.pipeline, self.annotated, self.crops = out, pipeline, annotated, crops
        self.lock = threading.Lock()
        self.fh = (out / RESULTS_FILE).open("a", encoding="utf-8") if out else None

    def write(self, item: InputItem, image: np.ndarray | None, result: ImageResult) -> None:
        if self.out is not None and image is not None and result.ok:
            names = self.pipeline.class_names
            if self.annotated:
                write_image(self.out / "annotated" / item.name, annotate(image, result, names))
            if self.crops:
                save_crops(
                    self.out / "crops",
                    Path(item.name).with_suffix("").as_posix(),
                    image,
                    result,
                    self.pipeline.margin,
                )
        if self.fh is not None:
            with self.lock:
                self.fh.write(format_jsonl(result) + "\n")
                self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def _decode(items: Sequence[InputItem]) -> tuple[list[np.ndarray | None], dict[int, str]]:
    arrays, errors = [], {}
    for i, it in enumerate(items):
        try:
            arrays.append(read_image(it.path))
        except DataError as exc:
            arrays.append(None)
            errors[i] = str(exc)
    return arrays, errors


def _batches(items: Sequence[InputItem], size: int) -> Iterator[Sequence[InputItem]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def run_items(
    pipeline: Pipeline,
    items: Sequence[InputItem],
    out: str | Path | None = None,
    overwrite: bool = False,
    save_annotated: bool = True,
    save_crops: bool = False,
    batch_size: int = 8,
    progress: bool = True,
    on_result: Callable[[ImageResult], None] | None = None,
) -> RunSummary:
    """Process ``items`` in batches; the next batch is decoded while this one runs, files are written in the
    background. Every result goes to ``on_result`` (for printing) and, with ``out``, to results.jsonl."""
    summary = RunSummary()
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        if overwrite and out_dir.exists():
            for sub in ("annotated", "crops"):
                shutil.rmtree(out_dir / sub, ignore_errors=True)
            (out_dir / RESULTS_FILE).unlink(missing_ok=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        done = load_done(out_dir / RESULTS_FILE)
        todo = [it for it in items if _key(str(it.path)) not in done]
        summary.skipped = len(items) - len(todo)
    else:
        todo = list(items)
    sink = _Sink(out_dir, pipeline, save_annotated, save_crops)
    bar = tqdm(
        total=len(todo),
        unit="img",
        desc="images",
        disable=(not progress or len(todo) <= 1) or None,
        dynamic_ncols=True,
    )
    t0 = time.perf_counter()
    with (
        ThreadPoolExecutor(1, thread_name_prefix="ferkit-decode") as decoder,
        ThreadPoolExecutor(2, thread_name_prefix="ferkit-write") as writer,
    ):
        pending_writes: list[Future] = []
        batches = list(_batches(todo, batch_size))
        nxt = decoder.submit(_decode, batches[0]) if batches else None
        for b, batch in enumerate(batches):
            with pipeline.timer("decode"):
                arrays, errors = nxt.result()
            nxt = decoder.submit(_decode, batches[b + 1]) if b + 1 < len(batches) else None
            results = pipeline.run_arrays([str(it.path) for it in batch], arrays, errors)
            for it, img, res in zip(batch, arrays, results, strict=True):
                pending_writes.append(writer.submit(sink.write, it, img, res))
                summary.processed += 1
                summary.faces += len(res.faces)
                if res.error:  # reader errors already start with the path
                    named = res.error.startswith(res.source)
                    summary.failed.append(res.error if named else f"{res.source}: {res.error}")
                if on_result is not None:
                    on_result(res)
            with pipeline.timer("write"):
                still = []
                for f in pending_writes:
                    if f.done():
                        f.result()
                    else:
                        still.append(f)
                pending_writes = still
            bar.update(len(batch))
        with pipeline.timer("write"):
            for f in pending_writes:
                f.result()
    sink.close()
    bar.close()
    summary.seconds = time.perf_counter() - t0
    return summary
