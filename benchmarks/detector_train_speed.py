"""Detector training speed on a CPU, side by side in one run: one epoch of ``fer train-detector`` (fine-tuning
the shipped detector at 640 px, batch 16, images cached in RAM) with

- ``ultralytics``: ultralytics' own CPU set-up, which ferkit used until 2026-12-07 (it drops torch to
  ``cpu_count - 1`` threads and keeps the weights in the default layout; float32);
- ``float32``: ferkit's CPU set-up (all the process's threads, channels-last weights), ``--no-amp``;
- ``bf16``: the same with the forward pass under bfloat16 autocast (the default where the CPU computes
  bfloat16 natively; skipped elsewhere).

Images/s of the epoch by ultralytics' own clock (``results.csv``: training batches and the epoch's
validation on 16 photos, not the set-up or the RAM caching before it).

python -m benchmarks.detector_train_speed --data DATA.yaml [--images 640] [--imgsz 640] [--name ...]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml

from benchmarks.common import environment, write_result
from ferkit.detector import cpu_training
from ferkit.detector.train import DetectorTrainConfig, train_detector
from ferkit.device import cpu_has_bf16

SETTINGS = ("ultralytics", "float32", "bf16")


def subset_yaml(data: Path, n_train: int, n_val: int, out: Path) -> Path:
    """A data.yaml over the first ``n_train`` training and ``n_val`` val photos of ``data`` (list files)."""
    spec = yaml.safe_load(data.read_text())
    root = Path(spec.get("path") or data.parent)

    def images(key: str, n: int) -> Path:
        dirs = spec[key] if isinstance(spec[key], list) else [spec[key]]
        files = sorted(p for d in dirs for p in (root / d).glob("*") if p.suffix.lower() in (".jpg", ".png"))
        listing = out / f"{key}.txt"
        listing.write_text("".join(f"{p}\n" for p in files[:n]))
        return listing

    y = out / "data.yaml"
    y.write_text(yaml.safe_dump({"train": str(images("train", n_train)), "val": str(images("val", n_val)),
                                 "names": {0: "face"}}))  # fmt: skip
    return y


@contextlib.contextmanager
def ultralytics_setup():
    """Training as ultralytics sets up a CPU: ferkit's thread and layout set-up left out."""
    real = cpu_training.start
    cpu_training.start = lambda model, threads: None
    try:
        yield
    finally:
        cpu_training.start = real


def one_epoch(setting: str, data: Path, weights: str, imgsz: int, batch: int, project: Path) -> float:
    """Seconds from the start of training to the end of its first epoch (ultralytics' clock)."""
    config = DetectorTrainConfig(
        data=str(data), model=weights, imgsz=imgsz, epochs=1, batch=batch, device="cpu", project=str(project),
        name=setting, amp=setting == "bf16", lr0=0.002, warmup_epochs=0, close_mosaic=0,
    )  # fmt: skip
    guard = ultralytics_setup() if setting == "ultralytics" else contextlib.nullcontext()
    with guard:
        run = train_detector(config, log=lambda *_: None)
    row = (run / "results.csv").read_text().strip().splitlines()[1].split(",")
    return float(row[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="a YOLO data.yaml (e.g. from 'fer datasets wider-to-yolo')")
    ap.add_argument("--weights", default="default")
    ap.add_argument("--images", type=int, default=640, help="training photos in the timed epoch")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--name", default="detector_train_speed")
    args = ap.parse_args()
    device = torch.device("cpu")
    result: dict[str, Any] = {"environment": environment(device), "images": args.images, "imgsz": args.imgsz,
                              "batch": args.batch, "images_s": {}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        data = subset_yaml(Path(args.data), args.images, 16, Path(tmp))
        for setting in SETTINGS:
            if setting == "bf16" and not cpu_has_bf16():
                continue
            took = one_epoch(setting, data, args.weights, args.imgsz, args.batch, Path(tmp) / "runs")
            result["images_s"][setting] = round(args.images / took, 2)
            print(setting, result["images_s"][setting], "images/s", flush=True)
    speeds = result["images_s"]
    result["speed-up"] = {k: round(v / speeds["ultralytics"], 2) for k, v in speeds.items()}
    write_result(args.name, result)


if __name__ == "__main__":
    main()
