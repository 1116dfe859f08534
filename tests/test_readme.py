"""The README's example runs exactly as written and prints what the README shows."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from ferkit.cli import app

ROOT = Path(__file__).resolve().parents[1]


def test_readme_example_output_matches_a_real_run(monkeypatch):
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"```bash\n(fer detect-and-classify docs/example.jpg)\n```", readme).group(1)
    shown = readme.split("<!-- example-output -->\n```\n", 1)[1].split("\n```", 1)[0]
    monkeypatch.chdir(ROOT)
    # shown at fp32: the default (auto) computes in bfloat16 where the CPU can, which moves a box by a pixel
    r = CliRunner().invoke(app, [*command.split()[1:], "--device", "cpu", "--precision", "fp32"])
    assert r.exit_code == 0, r.output
    got = r.stdout.strip().splitlines()
    want = shown.strip().splitlines()
    assert got[:2] == want[:2]  # the header line and the column names
    # each face: same box and emotion; scores may differ in the last digit across CPUs
    for g, w in zip(got[2:], want[2:], strict=True):
        assert g.split()[:7] == w.split()[:7] and g.split()[8] == w.split()[8]


def test_the_development_guide_names_every_module_once():
    guide = (ROOT / "docs" / "development.md").read_text()
    layout = guide.split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^  - `([\w/]+\.py)`: ", layout, flags=re.M)
    package = ROOT / "src" / "ferkit"
    files = [p for p in package.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    modules = sorted(str(p.relative_to(package)) for p in files)
    assert sorted(listed) == modules  # a new module is described here, a removed one leaves
