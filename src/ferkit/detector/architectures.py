"""Detector architectures by name, and what ``--model`` means: a registered name, a model YAML, a .pt.

ultralytics' bundled model configs are read as files: nothing here imports ultralytics, so resolving a
``--model`` cannot touch the network or the user's folders.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

from ferkit.errors import ConfigError, WeightsError

# Architectures built by name: (ultralytics base config, depth multiple, width multiple).
ARCHITECTURES: dict[str, tuple[str, float, float]] = {
    "yolo11p-face": ("11/yolo11.yaml", 0.50, 0.125),  # ~0.8M params: the CPU-trainable default
    "yolo11n-face": ("11/yolo11.yaml", 0.50, 0.25),  # ~2.6M params: nano, for GPU training
    "yolo11s-face": ("11/yolo11.yaml", 0.50, 0.50),  # ~9.4M params
}


def _models_dir() -> Path:
    """ultralytics' bundled model configs, found without importing ultralytics."""
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("ultralytics is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "cfg" / "models"


def architecture_yaml(name: str, out_dir: Path, nc: int = 1) -> Path:
    """Write the model config of a registered architecture into ``out_dir`` and return its path."""
    if name not in ARCHITECTURES:
        raise ConfigError(f"unknown detector architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    base, depth, width = ARCHITECTURES[name]
    d = yaml.safe_load((_models_dir() / base).read_text())
    d.pop("scales", None)
    d.update(nc=nc, depth_multiple=depth, width_multiple=width)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.yaml"
    path.write_text(
        f"# ferkit detector architecture {name}, derived from ultralytics {base}\n" + yaml.safe_dump(d)
    )
    return path


def bundled_yaml(name: str) -> Path | None:
    """The ultralytics model config a name refers to: 'yolo11.yaml', or with a scale letter 'yolo11n.yaml'."""
    root = _models_dir()
    unscaled = re.sub(r"^(.*?\d+)[nslmx]((?:-[a-z0-9]+)*\.ya?ml)$", r"\1\2", name)
    for candidate in dict.fromkeys((name, unscaled)):
        hits = sorted(root.rglob(candidate))
        if hits:
            return hits[0]
    return None


def resolve_model_spec(model: str, out_dir: Path) -> str:
    """Turn ``--model`` into what ultralytics takes: registered name, YAML (path or bundled name), .pt.

    Needs no import of ultralytics, so it cannot touch the network or the user's folders.
    """
    if model in ARCHITECTURES:
        return str(architecture_yaml(model, out_dir))
    if model == "default":  # the shipped detector, fine-tuned (as the classifier's --init default)
        from ferkit.weights import resolve_weights

        return str(resolve_weights("detector", "default"))
    path = Path(model)
    if path.suffix == ".pt":
        if not path.is_file():
            raise WeightsError(f"detector checkpoint to fine-tune not found: {model}")
        return str(path)
    if path.suffix in (".yaml", ".yml"):
        if path.is_file():
            return str(path)
        if path.name == model and bundled_yaml(model) is not None:
            return model  # ultralytics finds its own configs and reads the scale letter from the name
        raise ConfigError(
            f"model config not found: {model} (not a file, nor a model config under {_models_dir()})"
        )
    raise ConfigError(
        f"must be one of {', '.join(ARCHITECTURES)}, a model .yaml, a .pt checkpoint or default; "
        f"got {model!r}",
        option="model",
    )
