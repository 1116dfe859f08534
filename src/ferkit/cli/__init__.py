"""The ``fer`` command: a thin Typer layer over the library. FerError -> one red line, exit code 1."""

from __future__ import annotations

# isort: off
# each module registers its commands; import order is the order of `fer --help`
from ferkit.cli import pipeline  # noqa: F401
from ferkit.cli import classifier, classifier_weights, detector  # noqa: F401
from ferkit.cli import datasets, export, serve  # noqa: F401

# isort: on
from ferkit.cli.app import EXIT_FAILED_INPUTS, app, use_plain_help
from ferkit.cli.classifier import eval_classifier, train_classifier
from ferkit.cli.pipeline import detect_and_classify

use_plain_help(app)

__all__ = ["EXIT_FAILED_INPUTS", "app", "detect_and_classify", "eval_classifier", "main", "train_classifier"]


def main() -> None:
    """The ``fer`` entry point (the app's root callback sets up the process, see ferkit.offline)."""
    app()
