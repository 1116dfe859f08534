"""Helpers shared by the benchmark scripts: environment description and result files."""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from pathlib import Path
from typing import Any

import torch

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"
# the read-only data folder beside the checkout; FERKIT_DATA points elsewhere
SHARED = Path(
    os.environ.get("FERKIT_DATA", Path(__file__).resolve().parent.parent.parent / "shared" / "data")
)


def environment(device: torch.device) -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    env = {
        "date": time.strftime("%Y-%m-%d"),
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(device),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Write ``docs/benchmarks/<name>.json`` and return its path."""
    DOCS.mkdir(parents=True, exist_ok=True)
    path = DOCS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def held_out_entries(split: str = "val_events") -> list:
    """The WIDER FACE ground-truth entries (``ferkit.datasets.wider.WiderImage``) of one val split of the
    shipped detector, as its weights record it: ``val_events`` (the events it never trained on) or ``val``
    (the held-out photos of the others). Paths are relative to ``SHARED/wider_face/WIDER_train/images``."""
    from ferkit.datasets.wider import parse_wider_gt
    from ferkit.datasets.wider_split import WiderSplit, choose_val_events
    from ferkit.detector.face_detector import FaceDetector

    entries = parse_wider_gt(SHARED / "wider_face" / "wider_face_split" / "wider_face_train_bbx_gt.txt")
    recorded = FaceDetector("default", device="cpu").recorded_split or {}
    events = choose_val_events(",".join(recorded.get("val_events", [])) or "none", (e.path for e in entries))
    rule = WiderSplit(float(recorded.get("val_fraction", 0.1)), events)
    return [e for e in entries if rule.of(e.path) == split]
