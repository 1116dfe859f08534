"""The package's layers: every import, at the top of a module or inside a function, points down or
sideways, never up (issue 22: one obvious place for each behaviour, no circles)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
# lowest first; a module belongs to the longest name that prefixes it
LAYERS = [
    ("ferkit._version", "ferkit.errors", "ferkit.fsnames"),
    ("ferkit.types", "ferkit.atomic", "ferkit.offline", "ferkit.extras", "ferkit.device", "ferkit.runs",
     "ferkit.plots", "ferkit.boxes", "ferkit.weights", "ferkit.imaging.recipe", "ferkit.detector.defaults"),
    ("ferkit.detector.sizing", "ferkit.detector.config", "ferkit.classifier.config", "ferkit.video.config"),
    ("ferkit.config",),  # the pipeline's options: torch-free, read by every entry point
    ("ferkit.backends", "ferkit.precision"),
    ("ferkit.imaging",),
    ("ferkit.datasets",),
    ("ferkit.classifier", "ferkit.detector"),
    ("ferkit.export",),
    ("ferkit.video",),
    ("ferkit.pipeline",),
    ("ferkit.serve",),
    ("ferkit.cli", "ferkit.__main__", "ferkit"),
]  # fmt: skip


def layer(module: str) -> int:
    found = [
        (len(n), i)
        for i, names in enumerate(LAYERS)
        for n in names
        if module == n or module.startswith(n + ".")
    ]
    assert found, f"{module} is in no layer: add it to LAYERS"
    return max(found)[1]


def imports() -> list[tuple[str, str, int]]:
    """(importing module, imported module, line) for every ferkit import in the package."""
    out = []
    for f in sorted((SRC / "ferkit").rglob("*.py")):
        mod = ".".join(f.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "ferkit":
                names = [f"ferkit.{a.name}" for a in node.names] if node.module == "ferkit" else [node.module]
                out += [(mod, n, node.lineno) for n in names]
            elif isinstance(node, ast.Import):
                out += [(mod, a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "ferkit"]
    return out


def test_every_import_points_down_or_sideways():
    edges = imports()
    assert len(edges) > 200  # the scan really read the package
    upward = [f"{a}:{line} imports {b}" for a, b, line in edges if layer(b) > layer(a)]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize(
    ("low", "high"), [("ferkit.errors", "ferkit.cli"), ("ferkit.classifier.models", "ferkit.export")]
)
def test_layer_order_is_what_it_says(low, high):
    assert layer(low) < layer(high)
