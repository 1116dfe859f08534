"""What the repository promises about itself: licence, terms of the weights, package data, layout."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
ROOT = Path(__file__).resolve().parents[1]


def test_agpl_licence_file_and_metadata():
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("GNU AFFERO GENERAL PUBLIC LICENSE")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "AGPL-3.0-only" and project["license-files"] == ["LICENSE"]


def test_weights_terms_are_stated_beside_the_weights():
    readme = (ROOT / "README.md").read_text()
    weights_doc = (ROOT / "docs" / "weights.md").read_text()
    for text in (readme, weights_doc):
        assert "research use" in text and "ExpW" in text and "FER2013" in text and "WIDER FACE" in text


def test_package_data_names_only_what_exists():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "ferkit"
    ]
    for pattern in data:
        assert list((ROOT / "src" / "ferkit").glob(pattern)), pattern


def test_layout_each_room_holds_what_its_name_says():
    import ferkit.pipeline.writers as writers

    src = ROOT / "src" / "ferkit"
    assert {p.name for p in (src / "imaging").glob("*.py")} >= {"images.py", "crop.py", "sharpness.py"}
    assert not any((src / "datasets" / n).exists() for n in ("images.py", "crop.py", "sharpness.py"))
    for dead in ("format_results", "format_csv", "FORMATS"):
        assert not hasattr(writers, dead), dead
    big = [p.relative_to(src) for p in src.rglob("*.py") if len(p.read_text().splitlines()) > 330]
    assert big == [], f"files over ~300 lines: {big}"


def test_benchmarks_say_how_they_run():
    for script in (ROOT / "benchmarks").glob("*.py"):
        text = script.read_text()
        assert "python benchmarks/" not in text, script.name
