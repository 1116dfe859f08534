"""Detector training: a config dataclass and ``train_detector`` over ultralytics, writing a run folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ferkit.datasets.yolo import check_yolo_dataset
from ferkit.detector import yolo
from ferkit.device import select_device
from ferkit.errors import ConfigError, DataError
from ferkit.runs import next_run_dir, save_config

DEFAULT_ARCH = "yolo11p-face"


@dataclass
class DetectorTrainConfig:
    """Options of ``fer train-detector``; saved as ``config.yaml`` in the run folder."""

    data: str
    model: str = DEFAULT_ARCH
    imgsz: int = 416
    epochs: int = 60
    batch: int = 16
    device: str = "auto"
    workers: int = 2
    patience: int = 25
    seed: int = 0
    cache: bool = True
    project: str = "runs/detector"
    name: str = "train"
    close_mosaic: int = 10
    lr0: float = 0.01
    optimizer: str = "auto"
    hours: float = 0.0  # > 0: a time budget that overrides epochs (the LR schedule fits the budget)


def train_detector(config: DetectorTrainConfig) -> Path:
    """Train a face detector from a model YAML / registered architecture (from scratch) or a .pt (fine-tune).

    Returns the run folder (``weights/best.pt`` inside).
    """
    if config.epochs < 1 or config.imgsz < 32 or config.batch < 1 or config.hours < 0:
        raise ConfigError("epochs and batch must be >= 1, imgsz >= 32 and hours >= 0")
    data_yaml = Path(config.data)
    if data_yaml.suffix not in (".yaml", ".yml"):
        raise DataError(
            f"--data must be a YOLO data.yaml (make one with 'fer datasets wider-to-yolo'): {data_yaml}"
        )
    check_yolo_dataset(data_yaml)
    device = select_device(config.device)
    run_dir = next_run_dir(config.project, config.name).resolve()
    save_config(config, run_dir / "config.yaml")
    spec = yolo.resolve_model_spec(config.model, run_dir)
    return yolo.train(
        spec,
        dict(
            data=str(data_yaml.resolve()),
            imgsz=config.imgsz,
            epochs=config.epochs,
            time=config.hours or None,
            batch=config.batch,
            device=yolo.ultralytics_device(device),
            workers=config.workers,
            patience=config.patience,
            seed=config.seed,
            cache="ram" if config.cache else False,
            project=str(run_dir.parent),
            name=run_dir.name,
            exist_ok=True,
            close_mosaic=config.close_mosaic,
            lr0=config.lr0,
            optimizer=config.optimizer,
            amp=device.type == "cuda",
            # a .pt is fine-tuned from its weights; a YAML starts from scratch (nothing to download)
            pretrained=spec.endswith(".pt"),
            plots=True,
        ),
    )


def resume_detector(run_dir: str | Path) -> Path:
    """Resume an interrupted run from its ``weights/last.pt``."""
    last = Path(run_dir) / "weights" / "last.pt"
    if not last.is_file():
        raise DataError(f"cannot resume: {last} not found (is {run_dir} a ferkit detector run folder?)")
    return yolo.resume(last)
