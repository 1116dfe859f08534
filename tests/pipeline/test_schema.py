"""The output names are one set: Python types, JSON, CSV, the table and docs/output.md agree."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from ferkit.pipeline.writers import CSV_FIELDS, csv_header, format_table
from ferkit.types import SCHEMA_VERSION, Box, Face, ImageResult

DOC = (Path(__file__).resolve().parents[2] / "docs" / "output.md").read_text()
FACE = Face(Box(1, 2, 3, 4), 0.9, "happy", {"happy": 0.8, "sad": 0.2})
RESULT = ImageResult("a.jpg", 10, 20, [FACE], source_abs="/x/a.jpg")


def documented(section: str) -> list[str]:
    """Field names in the first column of the table under ``## section``."""
    part = DOC.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(\w+)` \|", part, flags=re.M)


def test_record_fields_are_documented_and_match_python():
    assert documented("One record per input") == list(RESULT.to_dict())
    python_fields = {f.name for f in dataclasses.fields(ImageResult)} | {"schema_version"}
    assert set(RESULT.to_dict()) == python_fields
    assert f"version {SCHEMA_VERSION}" in DOC


def test_face_fields_are_documented_and_match_python():
    names = list(FACE.to_dict())
    assert documented("One entry per face") == names
    assert all(hasattr(FACE, n) for n in names)  # fields and the emotion_score property


def test_csv_and_table_use_the_same_names():
    header = csv_header(["happy", "sad"])
    assert header[: len(CSV_FIELDS)] == list(CSV_FIELDS) and header[-1] == "error"
    doc_columns = re.search(r"Columns:\n(.*?)`, then", DOC, flags=re.S).group(1)
    assert re.findall(r"\w+", doc_columns) == list(CSV_FIELDS)
    for name in ("det_score", "emotion", "emotion_score"):
        assert name in header
    table = format_table(RESULT)
    for name in ("face_index", "box_xyxy", "det_score", "emotion", "emotion_score"):
        assert name in table
