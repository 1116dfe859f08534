"""Detector checkpoints are checked before ultralytics unpickles them: no weights file may run code.

ultralytics loads a ``.pt`` with ``weights_only=False``, so a crafted pickle would run whatever it names.
Every ``.pt`` that ferkit hands to ultralytics first passes :func:`check_detector_checkpoint`: torch's
restricted (``weights_only=True``) unpickler loads the file with an allow-list of the classes a YOLO
checkpoint is made of (network layers of torch and ultralytics, nothing else). A file that names any other
global (``os.system``, ``builtins.eval``, a class with side effects) is refused before it is unpickled.

Allowed classes must also never be *called*: a pickle may rebuild a layer the way ``torch.save`` writes it
(``__new__`` then its saved attributes), but a crafted one could call ``DetectionModel(cfg)``, whose
constructor evaluates strings of the config. So the check unpickles with inert stand-ins under the
allowed names, which refuse construction with arguments; the real classes are never touched by it. The
allow-list is scoped to the check (``torch.serialization.safe_globals``): torch's process-wide list is left
as it was.
"""

from __future__ import annotations

import importlib
import io
import pickle
from pathlib import Path

import torch
from torch import nn

from ferkit.errors import UnsafeWeightsError, WeightsError, first_line

# modules whose nn.Module classes a YOLO detector checkpoint may name (the network and its layers)
LAYER_MODULES = ("torch.nn.modules.", "ultralytics.nn.modules.")
MODEL_MODULES = ("ultralytics.nn.tasks",)
# plain data containers besides: the training arguments that a run's last.pt holds until the run ends
# (ultralytics turns them into a dict then); rebuilt by a call without arguments, then filled in
CONTAINERS = ("ultralytics.utils.IterableSimpleNamespace",)


def allowed_class(name: str) -> type | None:
    """The class a checkpoint global ``module.Name`` stands for, if a detector checkpoint may hold it."""
    module, _, attr = name.rpartition(".")
    if not (module.startswith(LAYER_MODULES) or module in MODEL_MODULES):
        return None
    try:
        obj = getattr(importlib.import_module(module), attr, None)
    except ImportError:
        return None
    if isinstance(obj, type) and issubclass(obj, nn.Module) and obj.__module__ == module:
        return obj
    return None


class _Called(Exception):
    """A checkpoint tried to call a class (run its constructor) instead of rebuilding an instance."""


def _stand_in(name: str) -> type:
    """An inert class standing for ``name`` during the check: rebuilt by ``__new__`` only, never called
    (a container of :data:`CONTAINERS`: called without arguments at most)."""

    def new(cls, *args, **kwargs):
        if args or kwargs:
            raise _Called(name)
        return object.__new__(cls)

    def init(self, *args, **kwargs):
        if name not in CONTAINERS or args or kwargs:
            raise _Called(name)

    return type(name.rpartition(".")[2], (), {"__new__": new, "__init__": init, "__module__": "ferkit"})


def check_detector_checkpoint(path: str | Path) -> None:
    """Refuse a detector ``.pt`` that would run code when unpickled, or that is not a checkpoint at all.

    Raises :class:`UnsafeWeightsError` (naming the first global outside the allow-list) or
    :class:`WeightsError` (missing, empty, damaged or not a torch file). Returns quietly for a file that
    torch's restricted unpickler loads with only network classes.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"detector weights not found: {path}")
    data = path.read_bytes()
    if not data:
        raise WeightsError(f"detector weights {path} are an empty file")
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(data))
    except Exception:  # not a torch zip archive (a legacy or plain pickle, text, an image...)
        names = None
    if names is None:
        raise WeightsError(f"{path} is not a PyTorch checkpoint (damaged, or another kind of file)")
    refused = [name for name in names if allowed_class(name) is None and name not in CONTAINERS]
    if refused:
        raise UnsafeWeightsError(
            f"refused to load {path}: it names {refused[0]}, which a detector checkpoint never holds "
            "(loading it could run code)"
        )
    stand_ins = [(_stand_in(name), name) for name in names]
    try:
        with torch.serialization.safe_globals(stand_ins):
            torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except _Called as exc:
        raise UnsafeWeightsError(
            f"refused to load {path}: it calls {exc} with arguments, which a saved checkpoint never does "
            "(loading it could run code)"
        ) from None
    except pickle.UnpicklingError as exc:
        raise UnsafeWeightsError(f"refused to load {path}: {first_line(exc)}") from None
    except Exception as exc:
        raise WeightsError(f"{path} is a damaged checkpoint ({type(exc).__name__})") from None
