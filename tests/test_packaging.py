"""What the repository promises about itself: licence, terms of the weights, package data, layout."""

from __future__ import annotations

import ast
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


def test_no_function_body_is_longer_than_a_screen():
    """A function you cannot read on one screen is two: no body over 60 lines (docstring not counted)."""
    long = []
    for f in sorted((ROOT / "src" / "ferkit").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body[1:] if ast.get_docstring(node) is not None else node.body
                if body and body[-1].end_lineno - body[0].lineno + 1 > 60:
                    long.append(f"{f.name}:{node.name}")
    assert long == []


def test_benchmarks_say_how_they_run():
    for script in (ROOT / "benchmarks").glob("*.py"):
        text = script.read_text()
        assert "python benchmarks/" not in text, script.name


def test_only_the_app_module_exits():
    """One exit path: commands raise typed errors; cli/app.py alone turns them into exit codes."""
    src = ROOT / "src" / "ferkit"
    exits = [
        f"{p.relative_to(src)}:{i}"
        for p in sorted(src.rglob("*.py"))
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if ("typer.Exit" in line or "sys.exit" in line) and p != src / "cli" / "app.py"
    ]
    assert exits == []
