"""Options of ``fer train-detector``, defined once: the CLI reads its defaults from here."""

from __future__ import annotations

from dataclasses import dataclass

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
    multi_scale: float = 0.0  # > 0: each batch at a random size within imgsz * (1 +- this)
    lr0: float = 0.01
    warmup_epochs: float = 3.0
    freeze: int = 0  # leading model layers kept fixed (10: the YOLO11 backbone), for fine-tuning
    optimizer: str = "SGD"  # "auto" lets ultralytics choose, and then ignore lr0
    skip_bad: bool = False  # leave out images with malformed label files (counted) instead of stopping
    hours: float = 0.0  # > 0: a time budget that overrides epochs (the LR schedule fits the budget)
    session_hours: float = 0.0  # > 0: stop this invocation after the last whole epoch that fits (resumable)
    amp: bool = True  # mixed precision: float16 AMP on CUDA, a bf16 forward pass on a CPU that computes bf16
