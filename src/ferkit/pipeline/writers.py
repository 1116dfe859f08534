"""Turning results into text (table, JSON, JSONL, CSV) and files (annotated images, crops)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ferkit.datasets.crop import crop_face
from ferkit.types import ImageResult

FORMATS = ("table", "json", "jsonl", "csv")
CSV_FIELDS = ("source", "width", "height", "face", "x1", "y1", "x2", "y2", "score", "label", "confidence")

# one BGR colour per emotion, stable across runs
_PALETTE = [
    (60, 60, 230),
    (40, 160, 40),
    (150, 60, 150),
    (0, 200, 255),
    (200, 120, 40),
    (255, 200, 0),
    (180, 180, 180),
    (100, 100, 255),
    (0, 128, 255),
    (128, 0, 128),
]


def format_table(result: ImageResult) -> str:
    """A readable block per image: one row per face with box, emotion, confidence and the top-3."""
    if result.error:
        return f"{result.source}: ERROR {result.error}"
    n = len(result.faces)
    lines = [f"{result.source} ({result.width}x{result.height}): {n} face{'s' if n != 1 else ''}"]
    if n:
        lines.append(
            f"  {'#':>2}  {'box (x1, y1, x2, y2)':<26}{'score':>6}  {'emotion':<10}{'conf':>6}  top-3"
        )
        for i, f in enumerate(result.faces):
            box = ", ".join(f"{v:.0f}" for v in f.box.as_list())
            top = ", ".join(f"{k} {v:.2f}" for k, v in f.top(3))
            lines.append(f"  {i:>2}  {box:<26}{f.score:>6.2f}  {f.label:<10}{f.confidence:>6.2f}  {top}")
    return "\n".join(lines)


def format_jsonl(result: ImageResult) -> str:
    return json.dumps(result.to_dict(), ensure_ascii=False)


def csv_header(class_names: Sequence[str]) -> list[str]:
    return [*CSV_FIELDS, *(f"p_{c}" for c in class_names), "error"]


def csv_rows(result: ImageResult, class_names: Sequence[str]) -> list[list]:
    """One row per face; an image with no faces (or an error) still gets one row."""
    base = [result.source, result.width, result.height]
    if not result.faces:
        return [base + [""] * (len(CSV_FIELDS) - 3 + len(class_names)) + [result.error or ""]]
    rows = []
    for i, f in enumerate(result.faces):
        rows.append(
            [
                *base,
                i,
                *f.box.as_list(),
                round(f.score, 4),
                f.label,
                round(f.confidence, 4),
                *(round(f.probs.get(c, 0.0), 4) for c in class_names),
                "",
            ]
        )
    return rows


def format_csv(results: Sequence[ImageResult], class_names: Sequence[str], header: bool = True) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
        w.writerow(csv_header(class_names))
    for r in results:
        w.writerows(csv_rows(r, class_names))
    return buf.getvalue()


def format_results(results: Sequence[ImageResult], fmt: str, class_names: Sequence[str]) -> str:
    if fmt == "table":
        return "\n\n".join(format_table(r) for r in results)
    if fmt == "json":
        return json.dumps([r.to_dict() for r in results], indent=2, ensure_ascii=False)
    if fmt == "jsonl":
        return "\n".join(format_jsonl(r) for r in results)
    if fmt == "csv":
        return format_csv(results, class_names).rstrip("\n")
    raise ValueError(f"unknown format {fmt!r}")


def colour_for(label: str, class_names: Sequence[str]) -> tuple[int, int, int]:
    i = list(class_names).index(label) if label in class_names else len(class_names)
    return _PALETTE[i % len(_PALETTE)]


def annotate(image: np.ndarray, result: ImageResult, class_names: Sequence[str]) -> np.ndarray:
    """A copy of the BGR image with each face's box and 'emotion confidence' drawn."""
    out = image.copy()
    scale = max(out.shape[:2]) / 640
    thick = max(1, round(2 * scale))
    font_scale = max(0.4, 0.5 * scale)
    for f in result.faces:
        c = colour_for(f.label, class_names)
        x1, y1, x2, y2 = (round(v) for v in (f.box.x1, f.box.y1, f.box.x2, f.box.y2))
        cv2.rectangle(out, (x1, y1), (x2, y2), c, thick)
        text = f"{f.label} {f.confidence:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, max(1, thick - 1))
        ty = y1 - 4 if y1 - th - base - 4 >= 0 else y2 + th + 4
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 4, ty + base // 2), c, -1)
        cv2.putText(
            out,
            text,
            (x1 + 2, ty - base // 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (0, 0, 0),
            max(1, thick - 1),
            cv2.LINE_AA,
        )
    return out


def write_image(path: Path, image: np.ndarray) -> None:
    """Encode and write atomically (a killed run never leaves half a file under the final name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix or ".jpg", image)
    if not ok:
        raise OSError(f"cannot encode {path}")
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(buf.tobytes())
    tmp.replace(path)


def save_crops(folder: Path, stem: str, image: np.ndarray, result: ImageResult, margin: float) -> None:
    for i, f in enumerate(result.faces):
        write_image(folder / f"{stem}_face{i}_{f.label}.png", crop_face(image, f.box, margin))
