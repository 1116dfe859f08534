"""From photos and videos to a labelled face set: every readable face cut out the classifier's way.

``fer datasets faces PHOTOS --out DIR`` writes each face the pipeline finds (big enough to read) as a PNG,
framed by the classifier's own crop recipe, into ``DIR/unsorted/`` or, with ``sort``, into
``DIR/<predicted class>/`` so that a person only moves the mistakes. ``DIR/faces.csv`` records, per face,
its file, its source (photo or video, and the time in a video), its box and the prediction. A rerun skips
the sources already done (``sources_done.txt``); the folder then trains as
``fer train-classifier --data DIR`` (class folders, val held out), once ``unsorted/`` is sorted or removed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferkit.fsnames import escape_surrogates
from ferkit.imaging.crop import crop_face
from ferkit.imaging.images import read_image
from ferkit.pipeline.writers import write_image
from ferkit.runs import absolute_source
from ferkit.types import ImageResult

FACES_CSV = "faces.csv"
DONE_FILE = "sources_done.txt"
UNSORTED = "unsorted"
CSV_COLUMNS = ("file", "source_abs", "time_s", "face_index", "box_x1", "box_y1", "box_x2", "box_y2",
               "det_score", "predicted", "predicted_score")  # fmt: skip


@dataclass
class HarvestSummary:
    """What a harvest did: sources read, faces written, faces too small to read (left out), sources that
    failed (with why) and sources skipped as already done."""

    sources: int = 0
    faces: int = 0
    too_small: int = 0
    skipped: int = 0
    failed: list[str] | None = None


def harvest_faces(
    pipeline, photos: list[Path], videos: list[str], out: Path, sort: bool = False, fps: float = 1.0
) -> HarvestSummary:
    """Cut every readable face of ``photos`` and ``videos`` (sampled at ``fps`` frames a second) into
    ``out``, as this module's doc says; returns what was done. Each source is recorded as done once all of
    its faces are written (``sources_done.txt``), so a rerun goes on where a stopped one ended."""
    out.mkdir(parents=True, exist_ok=True)
    done_file = out / DONE_FILE
    done = set(done_file.read_text(encoding="utf-8").splitlines()) if done_file.is_file() else set()
    summary = HarvestSummary(failed=[])
    new_csv = not (out / FACES_CSV).is_file()
    with (out / FACES_CSV).open("a", newline="", encoding="utf-8") as fh, done_file.open("a") as dh:
        rows = csv.DictWriter(fh, CSV_COLUMNS, lineterminator="\n")
        if new_csv:
            rows.writeheader()
        for source, frames in _sources(photos, videos, fps):
            key = escape_surrogates(absolute_source(source))
            if key in done:
                summary.skipped += 1
                continue
            summary.sources += 1
            for stem, t, image, error in frames:
                if error is not None:
                    summary.failed.append(error)
                    continue
                (result,) = pipeline.run_arrays([source], [image])
                for row in _write_faces(pipeline, out, stem, image, result, sort, summary):
                    rows.writerow({**row, "source_abs": key, "time_s": t})
            fh.flush()
            dh.write(key + "\n")
            dh.flush()
    return summary


def _sources(photos, videos, fps: float) -> Iterator[tuple[str, Iterator]]:
    """(source, its frames as (file stem, time, image, error)) for each photo and video."""
    for p in photos:
        yield str(p), _photo(p)
    for v in videos:
        yield v, _video_frames(v, fps)


def _photo(path: Path) -> Iterator:
    from ferkit.errors import DataError

    try:
        yield Path(path).stem, "", read_image(path), None
    except DataError as exc:
        yield Path(path).stem, "", None, str(exc)


def _video_frames(source: str, fps: float) -> Iterator:
    from ferkit.errors import DataError
    from ferkit.video.config import VideoOptions
    from ferkit.video.source import VideoSource

    stem = Path(source).stem
    try:
        with VideoSource(source) as video:
            for fr in video.frames(VideoOptions(fps=fps)):
                yield f"{stem}_t{fr.timestamp_s:07.2f}s", round(fr.timestamp_s, 3), fr.image, None
    except DataError as exc:
        yield stem, "", None, str(exc)


def _write_faces(pipeline, out: Path, stem: str, image: np.ndarray, result: ImageResult, sort: bool, summary):
    """Write each readable face of ``result``; yield its CSV row (without source and time)."""
    for i, face in enumerate(result.faces):
        if face.emotion is None:
            summary.too_small += 1
            continue
        name = f"{face.emotion if sort else UNSORTED}/{stem}_face{i}.png"
        write_image(out / name, crop_face(image, face.box_xyxy, pipeline.crop))
        summary.faces += 1
        x1, y1, x2, y2 = face.box_xyxy.as_list()
        yield {
            "file": escape_surrogates(name), "face_index": i, "box_x1": x1, "box_y1": y1, "box_x2": x2,
            "box_y2": y2, "det_score": round(face.det_score, 4), "predicted": face.emotion,
            "predicted_score": round(face.emotion_score, 4),
        }  # fmt: skip
