"""Training throughput of the classifier, side by side in one run: the bare forward+backward of a model on
random tensors (the ceiling), the per-image albumentations loop ferkit trained with until 2026-12-03
("before"), and today's loop (whole batches augmented as tensors on the device, the training set resident
there). With ``--epochs E`` it also trains ``alexnet_s`` from scratch for E epochs with each loop (same seed)
and reports val accuracy, so that speed is not bought with accuracy.

python -m benchmarks.train_speed [--images 3200] [--epochs 0] [--device auto] [--no-amp] [--name train_speed]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from benchmarks.common import SHARED, environment, write_result
from ferkit.classifier.config import ClassifierTrainConfig
from ferkit.classifier.loop import evaluate, make_scheduler, make_train_loader, train_one_epoch
from ferkit.classifier.models import create_model
from ferkit.classifier.preprocess import to_tensor
from ferkit.classifier.train_data import prepare_data
from ferkit.device import autocast_dtype, select_device
from ferkit.offline import import_albumentations


def albumentations_transform(size: int, s: float = 1.0):
    """The per-image augmentation of the loop before 2026-12-03 (same families and ranges as today's)."""
    A = import_albumentations()
    return A.Compose(
        [
            A.Affine(
                scale=(1 - 0.12 * s, 1 + 0.18 * s),
                translate_percent=(-0.08 * s, 0.08 * s),
                rotate=(-15 * s, 15 * s),
                border_mode=cv2.BORDER_REPLICATE,
                p=0.85,
            ),
            A.HorizontalFlip(p=0.5),
            A.Downscale(
                scale_range=(0.25, 0.9),
                p=0.25,
                interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR},
            ),
            A.ImageCompression(quality_range=(30, 95), p=0.3),
            A.RandomBrightnessContrast(brightness_limit=0.25 * s, contrast_limit=0.3 * s, p=0.6),
            A.RandomGamma(gamma_limit=(70, 140), p=0.3),
            A.GaussianBlur(blur_limit=0, sigma_limit=(0.2, 0.02 * size), p=0.1),
            A.Erasing(scale=(0.02, 0.15), p=0.3),
        ]
    )


class PerImage(Dataset):
    """The loader of the loop before 2026-12-03: one albumentations call per image, in a DataLoader."""

    def __init__(self, images: np.ndarray, soft: np.ndarray, mean: float, std: float) -> None:
        self.images, self.soft, self.mean, self.std = images, torch.from_numpy(soft), mean, std
        self.transform = albumentations_transform(images.shape[-1])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        img = self.transform(image=self.images[i])["image"]
        return to_tensor(img[None], self.mean, self.std)[0], self.soft[i], torch.zeros(0)


def per_image_epoch(model, loader, criterion, optimizer, scheduler, device, amp_dtype) -> None:
    """The training step of the loop before 2026-12-03 (host-to-device copies and a sync every step)."""
    model.train()
    for x, y, _ in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            loss = criterion(model(x).float(), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss.item()


def _setup(arch: str, config: ClassifierTrainConfig, steps: int, device: torch.device):
    torch.manual_seed(config.seed)
    model = create_model(arch, 7).to(device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    return model, opt, make_scheduler(opt, config, steps), nn.CrossEntropyLoss(label_smoothing=0.1)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare(arch: str, config, device, n: int) -> float:
    """Images/s of forward+backward+step on random tensors already on the device."""
    model, opt, _sched, crit = _setup(arch, config, 10**6, device)
    amp = autocast_dtype(device, config.amp)
    x = torch.randn(config.batch_size, 1, 48, 48, device=device)
    y = torch.softmax(torch.randn(config.batch_size, 7, device=device), 1)
    steps = max(2, n // config.batch_size)
    for i in range(steps + 2):
        if i == 2:
            _sync(device)
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            loss = crit(model(x).float(), y)
        loss.backward()
        opt.step()
    _sync(device)
    return steps * config.batch_size / (time.perf_counter() - t0)


def timed_epoch(arch: str, loop: str, data, config, device) -> tuple[float, Any]:
    """Images/s of one epoch over ``data`` with the ``before`` or ``now`` loop, and the trained model."""
    amp = autocast_dtype(device, config.amp)
    if loop == "before":
        random.seed(config.seed)
        np.random.seed(config.seed)
        ds = PerImage(data.train.images, data.train.soft, data.mean, data.std)
        workers = 4 if device.type == "cuda" else 0
        loader = DataLoader(
            ds,
            batch_size=config.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=workers,
            pin_memory=device.type == "cuda",
        )
    else:
        loader = make_train_loader(data, config, 48, device)
    model, opt, sched, crit = _setup(arch, config, len(loader), device)
    _sync(device)
    t0 = time.perf_counter()
    if loop == "before":
        per_image_epoch(model, loader, crit, opt, sched, device, amp)
    else:
        train_one_epoch(model, loader, crit, opt, sched, device, None, amp_dtype=amp)
    _sync(device)
    return len(loader) * config.batch_size / (time.perf_counter() - t0), (model, opt, sched, crit, loader)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(SHARED / "fer2013"))
    ap.add_argument("--images", type=int, default=3200, help="training images per timed epoch (alexnet_s)")
    ap.add_argument("--epochs", type=int, default=0, help="also train E epochs with each loop; compare val")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True, help="bf16 autocast")
    ap.add_argument("--name", default="train_speed")
    args = ap.parse_args()
    device = select_device(args.device)
    config = ClassifierTrainConfig(
        data=[args.data], batch_size=args.batch_size, epochs=max(args.epochs, 1), amp=args.amp
    )
    data = prepare_data(config, 48, log=lambda *_: None)
    rng = np.random.default_rng(0)
    result: dict[str, Any] = {
        "environment": environment(device),
        "batch_size": args.batch_size,
        "autocast": str(autocast_dtype(device, config.amp) or "off (float32)"),
        "speed": {},
    }
    for arch, n in (("alexnet_s", args.images), ("alexnet_m", args.images // 4)):
        keep = np.zeros(len(data.train.targets), bool)
        keep[rng.choice(len(keep), size=min(n, len(keep)), replace=False)] = True
        part = dataclasses.replace(data, train=data.train.subset(keep))
        row = {"bare": bare(arch, config, device, n)}
        for loop in ("before", "now", "before", "now"):  # alternated: a busy moment hits both
            row[loop] = max(row.get(loop, 0.0), timed_epoch(arch, loop, part, config, device)[0])
        row["speed-up"] = row["now"] / row["before"]
        row["now / bare"] = row["now"] / row["bare"]
        result["speed"][arch] = {k: round(v, 2) for k, v in row.items()}
        print(arch, result["speed"][arch], flush=True)
    if args.epochs:
        result["accuracy"] = accuracy_check(data, config, device, args.epochs)
    write_result(args.name, result)


def accuracy_check(data, config, device, epochs: int) -> dict[str, Any]:
    """Val accuracy of alexnet_s after ``epochs`` epochs from scratch with each loop, and their time."""
    vals = {
        n: (
            torch.from_numpy((v.images / 255.0 - data.mean) / data.std).float()[:, None],
            torch.from_numpy(v.targets),
        )
        for n, v in data.vals.items()
    }
    out: dict[str, Any] = {"epochs": epochs, "train_images": len(data.train.targets)}
    for loop in ("before", "now"):
        t0 = time.perf_counter()
        speed, (model, opt, sched, crit, loader) = timed_epoch("alexnet_s", loop, data, config, device)
        amp = autocast_dtype(device, config.amp)
        for _ in range(epochs - 1):
            if loop == "before":
                per_image_epoch(model, loader, crit, opt, sched, device, amp)
            else:
                train_one_epoch(model, loader, crit, opt, sched, device, None, amp_dtype=amp)
        va = evaluate(model, vals, device, data.class_names)
        minutes = round((time.perf_counter() - t0) / 60, 1)
        out[loop] = {"val_accuracy": round(va["mean"]["accuracy"], 4), "minutes": minutes, "images_s": speed}
        print(loop, out[loop], flush=True)
    return out


if __name__ == "__main__":
    main()
