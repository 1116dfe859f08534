"""Docs that cannot rot: every Python block of the README and the docs runs, every `fer` command line in
them names options that exist, and the generated references cover every command and route."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main

from ferkit.cli import app

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(path: Path, lang: str) -> list[str]:
    """The fenced blocks of ``lang`` in a Markdown file."""
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(), flags=re.S)


def fer_lines(text: str) -> list[list[str]]:
    """The ``fer`` command lines of a shell block, as argument lists (comments and pipes cut off)."""
    out = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0].split(" | ", 1)[0].split(" > ", 1)[0].strip()
        if line.startswith("fer "):
            out.append(shlex.split(line)[1:])
    return out


def commands() -> dict[str, set[str]]:
    """Every command (``detect-and-classify``, ``datasets faces``, ...) and the options it takes."""
    found = {}

    def walk(group, prefix: str) -> None:
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                walk(cmd, f"{prefix}{name} ")
            else:
                found[f"{prefix}{name}"] = {
                    o for p in cmd.params for o in [*p.opts, *getattr(p, "secondary_opts", [])]
                }

    walk(typer.main.get_command(app), "")
    return found


PY_BLOCKS = [(p, i, b) for p in PAGES for i, b in enumerate(blocks(p, "python"))]


@pytest.mark.parametrize(("page", "index", "code"), PY_BLOCKS, ids=[f"{p.name}-{i}" for p, i, _ in PY_BLOCKS])
def test_every_python_block_runs(page, index, code, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    exec(compile(code, f"{page.name} block {index}", "exec"), {"__name__": "__docs__"})


def test_the_python_blocks_show_what_they_promise(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    for code in blocks(ROOT / "docs" / "guides" / "python.md", "python"):
        exec(compile(code, "python.md", "exec"), {"__name__": "__docs__"})
    out = capsys.readouterr().out
    assert "typo.jpg" in out and "happy" in out  # the error named its input; a face was classified


def test_every_fer_command_line_in_the_docs_names_real_options():
    known = commands()
    lines = [(p.relative_to(ROOT), args) for p in PAGES for b in blocks(p, "bash") for args in fer_lines(b)]
    assert len(lines) > 40
    for page, args in lines:
        two = " ".join(args[:2])
        name = two if two in known else args[0]
        if name in ("--version", "--help"):
            continue
        assert name in known, f"{page}: fer {' '.join(args)}: no command {name!r}"
        used = {a.split("=", 1)[0] for a in args if a.startswith("-") and not re.fullmatch(r"-\d.*", a)}
        unknown = used - known[name] - {"--help"}
        assert not unknown, f"{page}: fer {' '.join(args)}: {name} has no option {', '.join(sorted(unknown))}"


def test_the_generated_references_cover_every_command_and_route():
    import sys

    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import hooks
    finally:
        sys.path.pop(0)
    cli = hooks.cli_reference()
    assert all(f"## `fer {name}`" in cli for name in commands())
    http = hooks.http_reference()
    for route in ("POST /v1/detect", "POST /v1/detect/batch", "GET /v1/models", "GET /healthz"):
        assert f"## `{route}`" in http
    page = hooks.on_page_markdown("a\n<!-- cli-reference -->\nb")
    assert "<!-- cli-reference -->" not in page and "## `fer serve`" in page


def test_the_readme_figures_are_the_measured_ones():
    """The headline table quotes the result files in docs/benchmarks/, not numbers typed by hand."""
    import json

    bench = ROOT / "docs" / "benchmarks"
    table = (ROOT / "README.md").read_text().split("<!-- figures -->", 1)[1].split("\n\n", 1)[0]
    clf = json.loads((bench / "classifier.json").read_text())["by_dataset"]
    fer = next(v["plain"] for k, v in clf.items() if k.endswith("fer2013"))
    expw = next(v["plain"] for k, v in clf.items() if k.endswith("expw"))
    assert f"**{fer['accuracy']:.3f}**" in table and f"**{expw['accuracy']:.3f}**" in table
    assert f"**{json.loads((bench / 'face_size.json').read_text())['readable_size']} px**" in table
    tracks = json.loads((bench / "video_tracks.json").read_text())["clips"]["crowds"]
    now = next(r for r in tracks if (r["every"], r["confirm"], r["scene_cut"]) == (1, 3, 0.4))
    assert f"{now['tracks']} tracks" in table and now["one_frame_tracks"] == now["tracks_across_cuts"] == 0
