"""The one module that touches ultralytics: offline set-up, architectures, training, prediction.

Everything it returns is ferkit's own types (``Detection``) or plain Python values; the rest of ferkit never
sees an ultralytics object.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from ferkit.errors import ConfigError, WeightsError
from ferkit.types import Box, Detection

# Architectures built by name: (ultralytics base config, depth multiple, width multiple).
ARCHITECTURES: dict[str, tuple[str, float, float]] = {
    "yolo11p-face": ("11/yolo11.yaml", 0.50, 0.125),  # ~0.8M params: the CPU-trainable default
    "yolo11n-face": ("11/yolo11.yaml", 0.50, 0.25),  # ~2.6M params: nano, for GPU training
    "yolo11s-face": ("11/yolo11.yaml", 0.50, 0.50),  # ~9.4M params
}


@cache
def _ultralytics():
    """Import ultralytics with everything that could touch the network switched off."""
    os.environ.setdefault("YOLO_OFFLINE", "1")  # no events, no update checks, no hub
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")  # never pip-install at run time
    with contextlib.redirect_stdout(io.StringIO()):
        import ultralytics
        from ultralytics.utils import USER_CONFIG_DIR

    _ensure_fonts(Path(USER_CONFIG_DIR))
    return ultralytics


def _ensure_fonts(config_dir: Path) -> None:
    """ultralytics downloads Arial for its plots when missing; give it matplotlib's bundled DejaVu instead."""
    from matplotlib import font_manager

    font = Path(font_manager.findfont("DejaVu Sans", fallback_to_default=True))
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        target = config_dir / name
        if not target.exists() and font.is_file():
            with contextlib.suppress(OSError):
                config_dir.mkdir(parents=True, exist_ok=True)
                target.symlink_to(font)


def ultralytics_device(device: Any) -> str:
    """ultralytics' spelling of a torch device: 'cpu', 'mps' or a CUDA index."""
    text = str(device)
    if text in ("cpu", "mps"):
        return text
    return text.split(":", 1)[1] if ":" in text else "0"


def architecture_yaml(name: str, out_dir: Path, nc: int = 1) -> Path:
    """Write the model config of a registered architecture into ``out_dir`` and return its path."""
    if name not in ARCHITECTURES:
        raise ConfigError(f"unknown detector architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    base, depth, width = ARCHITECTURES[name]
    cfg_root = Path(_ultralytics().__file__).parent / "cfg" / "models"
    d = yaml.safe_load((cfg_root / base).read_text())
    d.pop("scales", None)
    d.update(nc=nc, depth_multiple=depth, width_multiple=width)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.yaml"
    path.write_text(
        f"# ferkit detector architecture {name}, derived from ultralytics {base}\n" + yaml.safe_dump(d)
    )
    return path


def resolve_model_spec(model: str, out_dir: Path) -> str:
    """Turn ``--model`` into what ultralytics takes: registered name, YAML (path or known name), .pt."""
    if model in ARCHITECTURES:
        return str(architecture_yaml(model, out_dir))
    path = Path(model)
    if path.suffix == ".pt":
        if not path.is_file():
            raise WeightsError(f"detector checkpoint to fine-tune not found: {model}")
        return str(path)
    if path.suffix in (".yaml", ".yml"):
        if path.is_file():
            return str(path)
        from ultralytics.utils.checks import check_yaml

        _ultralytics()
        with contextlib.suppress(Exception):
            if check_yaml(model, hard=False):
                return model
        raise ConfigError(f"model config not found: {model} (neither a file nor an ultralytics model name)")
    raise ConfigError(
        f"--model {model!r}: expected one of {', '.join(ARCHITECTURES)}, a model .yaml or a .pt checkpoint"
    )


@contextlib.contextmanager
def _offline_amp_check():
    """ultralytics checks AMP on CUDA against a reference model it downloads; offline, skip that check."""
    from ultralytics.engine import trainer

    original = trainer.check_amp
    trainer.check_amp = lambda model: True
    try:
        yield
    finally:
        trainer.check_amp = original


def train(model_spec: str, overrides: dict[str, Any]) -> Path:
    """Run ultralytics training and return its run folder."""
    yolo = _ultralytics().YOLO(model_spec)
    with _offline_amp_check():
        yolo.train(**overrides)
    return Path(yolo.trainer.save_dir)


def resume(last_pt: Path) -> Path:
    """Resume an interrupted ultralytics run from its ``last.pt``."""
    yolo = _ultralytics().YOLO(str(last_pt))
    with _offline_amp_check():
        yolo.train(resume=True)
    return Path(yolo.trainer.save_dir)


def export_weights(src: str | Path, dst: str | Path) -> Path:
    """Write a deployable copy of a training checkpoint (EMA weights in float16, no optimizer state)."""
    from ultralytics.utils.torch_utils import strip_optimizer

    _ultralytics()
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    if not strip_optimizer(str(src), str(dst)):
        raise WeightsError(f"cannot export detector weights: {src} is not an ultralytics checkpoint")
    return Path(dst)


@contextlib.contextmanager
def _keep_torch_threads():
    """ultralytics' CPU device set-up drops the whole process to cpu_count - 1 torch threads; undo that."""
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class YoloModel:
    """A loaded ultralytics detector that returns ferkit Detections."""

    def __init__(self, weights: Path, device: Any):
        try:
            self._model = _ultralytics().YOLO(str(weights), task="detect")
        except Exception as exc:  # ultralytics raises many types for a bad file
            raise WeightsError(f"cannot load detector weights {weights}: {exc}") from None
        if getattr(self._model, "task", "detect") != "detect":
            raise WeightsError(f"{weights} is a {self._model.task} model, not a detector")
        self._device = ultralytics_device(device)
        self.names: dict[int, str] = dict(getattr(self._model, "names", {}) or {})

    def predict(
        self,
        images: Sequence[np.ndarray],
        conf: float,
        iou: float,
        imgsz: int,
        max_det: int,
        half: bool = False,
    ) -> list[list[Detection]]:
        """Detect faces in BGR uint8 images; one list of Detections per image, boxes in original pixels."""
        if not images:
            return []
        # half precision only when asked: recent ultralytics warns whenever 'half' is passed at all
        extra = {"half": True} if half else {}
        with _keep_torch_threads():
            results = self._model.predict(
                list(images),
                conf=conf,
                iou=iou,
                imgsz=imgsz,
                max_det=max_det,
                device=self._device,
                verbose=False,
                **extra,
            )
        out = []
        for r in results:
            xyxy = r.boxes.xyxy.cpu().numpy().astype(float)
            scores = r.boxes.conf.cpu().numpy().astype(float)
            out.append([Detection(Box(*map(float, b)), float(s)) for b, s in zip(xyxy, scores, strict=True)])
        return out

    def val_map50(self, data_yaml: Path, imgsz: int, batch: int = 16) -> dict[str, float]:
        """ultralytics' own mAP on a YOLO dataset's val split (printed beside ferkit's P/R/F1)."""
        with _keep_torch_threads():
            metrics = self._model.val(
                data=str(data_yaml), imgsz=imgsz, batch=batch, device=self._device, plots=False, verbose=False
            )
        return {"map50": float(metrics.box.map50), "map50_95": float(metrics.box.map)}
