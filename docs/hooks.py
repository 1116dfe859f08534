"""MkDocs hooks: the CLI and HTTP references are generated from the code at build time, never copied.

``<!-- cli-reference -->`` becomes every ``fer`` command with its options (from the Typer app);
``<!-- http-reference -->`` every route of ``fer serve`` with its parameters and answers (from its OpenAPI
schema).
"""

from __future__ import annotations

import typer.main

from ferkit.cli import app


def on_page_markdown(markdown: str, **_kwargs) -> str:
    if "<!-- cli-reference -->" in markdown:
        markdown = markdown.replace("<!-- cli-reference -->", cli_reference())
    if "<!-- http-reference -->" in markdown:
        markdown = markdown.replace("<!-- http-reference -->", http_reference())
    return markdown


def _commands(group, prefix: str = "fer"):
    for name, command in group.commands.items():
        if getattr(command, "hidden", False):
            continue
        if hasattr(command, "commands"):
            yield from _commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", command


def _cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def cli_reference() -> str:
    """Markdown for every command: its help, then a table of its arguments and options."""
    out = []
    for name, command in _commands(typer.main.get_command(app)):
        out.append(f"## `{name}`\n\n{(command.help or '').strip()}\n")
        rows = ["| option | default | what it does |", "|---|---|---|"]
        for p in command.params:
            if p.name == "help":
                continue
            flags = [*p.opts, *getattr(p, "secondary_opts", [])]
            names = " / ".join(f"`{o}`" for o in flags) or f"`{p.name}`"
            value = getattr(p.default, "value", p.default)  # an Enum's value, as typed on the command line
            default = "required" if p.required else ("" if value in (None, "", ()) else f"`{value}`")
            shown = getattr(p, "show_default", None)
            if isinstance(shown, str):
                default = shown
            rows.append(f"| {names} | {_cell(default)} | {_cell(getattr(p, 'help', '') or '')} |")
        out.append("\n".join(rows) + "\n")
    return "\n".join(out)


def http_reference() -> str:
    """Markdown for every route of ``fer serve``: summary, query parameters, answers."""
    from ferkit.serve.app import create_app

    spec = create_app(None).openapi()
    out = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            out.append(f"## `{method.upper()} {path}`\n\n{op.get('summary', '')}\n")
            if op.get("description"):
                out.append(op["description"].strip() + "\n")
            params = op.get("parameters") or []
            if params:
                rows = ["| query parameter | type | what it does |", "|---|---|---|"]
                for p in params:
                    schema = p.get("schema", {})
                    either = schema.get("anyOf", [])
                    kind = schema.get("type") or " or ".join(a.get("type", "") for a in either)
                    rows.append(f"| `{p['name']}` | {kind} | {_cell(p.get('description', ''))} |")
                out.append("\n".join(rows) + "\n")
            responses = op["responses"].items()
            answers = ", ".join(f"{code} ({_cell(r.get('description', ''))})" for code, r in responses)
            out.append(f"Answers: {answers}.\n")
    return "\n".join(out)
