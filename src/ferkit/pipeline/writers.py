"""Turning results into text (table, JSON, JSONL, CSV) and files (annotated images, crops)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from ferkit.atomic import atomic_path
from ferkit.fsnames import escape_surrogates, json_text
from ferkit.imaging.crop import CropRecipe, crop_face
from ferkit.imaging.draw import image_scale
from ferkit.types import SCHEMA_VERSION, ImageResult

CSV_FIELDS = (
    "schema_version",
    "source",
    "source_abs",
    "width",
    "height",
    "face_index",
    "box_x1",
    "box_y1",
    "box_x2",
    "box_y2",
    "det_score",
    "emotion",
    "emotion_score",
    "unreadable",
)
NO_EMOTION = "-"  # the table's cell for a face without an emotion


def error_reason(result: ImageResult) -> str:
    """The error of a failed result without the input's name in front (file readers' errors start with it)."""
    err = result.error or ""
    prefix = f"{result.source}: "
    return err[len(prefix) :] if err.startswith(prefix) else err


def format_table(result: ImageResult) -> str:
    """A readable block per image: one row per face with its box, scores and the top-3 emotions."""
    source = escape_surrogates(result.source)
    if result.error:
        return f"{source}: ERROR {escape_surrogates(error_reason(result))}"
    n = len(result.faces)
    lines = [f"{source} ({result.width}x{result.height}): {n} face{'s' if n != 1 else ''}"]
    if n:
        cols = f"{'box_xyxy':<22}{'det_score':>10}  {'emotion':<10}{'emotion_score':>14}"
        lines.append(f"  {'face_index':>10}  {cols}  top-3")
        for i, f in enumerate(result.faces):
            box = ", ".join(f"{v:.0f}" for v in f.box_xyxy.as_list())
            if f.emotion is None:
                emotion, score, top = NO_EMOTION, NO_EMOTION, f"({f.unreadable}: no emotion)"
            else:
                emotion, score = f.emotion, f"{f.emotion_score:.2f}"
                top = ", ".join(f"{k} {v:.2f}" for k, v in f.top(3))
            lines.append(f"  {i:>10}  {box:<22}{f.det_score:>10.2f}  {emotion:<10}{score:>14}  {top}")
    return "\n".join(lines)


def format_jsonl(result: ImageResult) -> str:
    return json_text(result.to_dict())


def csv_header(class_names: Sequence[str]) -> list[str]:
    return [*CSV_FIELDS, *(f"emotion_prob_{c}" for c in class_names), "error"]


def csv_rows(result: ImageResult, class_names: Sequence[str]) -> list[list]:
    """One row per face; an image with no faces (or an error) still gets one row."""
    source, source_abs = escape_surrogates(result.source), escape_surrogates(result.source_abs or "")
    base = [SCHEMA_VERSION, source, source_abs, result.width, result.height]
    if not result.faces:
        error = escape_surrogates(result.error or "")
        return [base + [""] * (len(CSV_FIELDS) - len(base) + len(class_names)) + [error]]
    rows = []
    for i, f in enumerate(result.faces):
        rows.append(
            [
                *base,
                i,
                *f.box_xyxy.as_list(),
                round(f.det_score, 4),
                f.emotion or "",
                "" if f.emotion_score is None else round(f.emotion_score, 4),
                f.unreadable or "",
                *(("" if f.emotion is None else round(f.emotion_probs.get(c, 0.0), 4)) for c in class_names),
                "",
            ]
        )
    return rows


def write_results_csv(results_jsonl: Path, csv_path: Path, class_names: Sequence[str]) -> int:
    """``csv_path`` (one row per face, the ``-f csv`` columns) made anew from every whole line of
    ``results_jsonl``, written atomically (never half a file); returns the number of images in it."""
    images = 0
    with atomic_path(csv_path) as tmp, tmp.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(csv_header(class_names))
        raw = results_jsonl.read_bytes() if results_jsonl.is_file() else b""
        for line in raw.split(b"\n"):
            try:
                result = ImageResult.from_dict(json.loads(line.decode("utf-8")))
            except (UnicodeDecodeError, ValueError, KeyError, TypeError):
                continue  # blank, or torn by a killed run (resume drops it too)
            out.writerows(csv_rows(result, class_names))
            images += 1
    return images


class ResultPrinter:
    """Prints results as they arrive in one of the formats table, json, jsonl or csv (json is one array,
    printed by :meth:`close`). Every input gets exactly one record, failed ones with their error."""

    def __init__(self, fmt: str, class_names: Sequence[str], stream: TextIO):
        if fmt not in ("table", "json", "jsonl", "csv"):
            raise ValueError(f"unknown format {fmt!r}")
        self.fmt, self.class_names, self.stream = fmt, list(class_names), stream
        self.collected: list[dict] = []
        self.csv = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
        if self.csv is not None:
            self.csv.writerow(csv_header(self.class_names))

    def __call__(self, result: ImageResult) -> None:
        if self.fmt == "table":
            self.stream.write(format_table(result) + "\n\n")
        elif self.fmt == "jsonl":
            self.stream.write(format_jsonl(result) + "\n")
        elif self.csv is not None:
            self.csv.writerows(csv_rows(result, self.class_names))
        else:
            self.collected.append(result.to_dict())
        self.stream.flush()

    def close(self) -> None:
        if self.fmt == "json":
            self.stream.write(json_text(self.collected, indent=2) + "\n")
            self.stream.flush()


def write_image(path: Path, image: np.ndarray) -> None:
    """Encode and write atomically (a killed run never leaves half a file under the final name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix or ".jpg", image)
    if not ok:
        raise OSError(f"cannot encode {path}")
    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_bytes(buf.tobytes())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


def save_crops(folder: Path, stem: str, image: np.ndarray, result: ImageResult, recipe: CropRecipe) -> None:
    """Each face as the classifier saw it (framed by ``recipe``): ``STEM_face<index>_<emotion>.png``
    (``<unreadable>`` in place of the emotion for a face without one, e.g. ``_small``)."""
    sx, sy = image_scale(image, result)
    for i, f in enumerate(result.faces):
        crop = crop_face(image, f.box_xyxy.scaled(sx, sy), recipe)
        write_image(folder / f"{stem}_face{i}_{f.emotion or f.unreadable}.png", crop)
