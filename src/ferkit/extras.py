"""The optional parts of ferkit (``pip install 'ferkit[EXTRA]'``) and the packages each brings; checked
without importing anything, so that a command missing one says so in one line before it loads."""

from __future__ import annotations

import importlib.util

from ferkit.errors import MissingExtraError

# import names, as find_spec looks them up (the pyproject extras install these and their dependencies)
EXTRAS: dict[str, tuple[str, ...]] = {
    "torch": ("torch", "torchvision", "ultralytics"),  # the torch backend, user checkpoints
    "train": ("torch", "torchvision", "ultralytics", "albumentations"),  # fer train-*
    "export": ("torch", "torchvision", "ultralytics", "onnx", "onnxslim", "onnxruntime"),  # fer export
    "onnx": ("onnxruntime",),  # --backend onnx
    "ray": ("ray",),  # --engine ray
    "int8": ("nncf",),  # fer export --int8 (with the export extra)
    "video": ("av",),  # annotated.mp4 in H.264 (without it: MPEG-4 Part 2)
    "wider": ("scipy",),  # the official WIDER FACE val .mat files (fer eval-detector)
}


def missing(extra: str, only: tuple[str, ...] | None = None) -> list[str]:
    """The packages of ``extra`` (or those of them in ``only``) that cannot be imported here."""
    names = [name for name in EXTRAS[extra] if only is None or name in only]
    return [name for name in names if importlib.util.find_spec(name) is None]


def installed(extra: str) -> bool:
    return not missing(extra)


def require(extra: str, what: str, only: tuple[str, ...] | None = None) -> None:
    """A MissingExtraError naming ``what`` and the extra that brings it, unless all of its packages (or
    those in ``only``: the ones a command imports) are importable."""
    absent = missing(extra, only)
    if absent:
        raise MissingExtraError(what + f" needs {', '.join(absent)}", extra=extra)
