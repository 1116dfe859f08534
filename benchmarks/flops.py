"""The limit: FLOPs of each model at the default sizes, this CPU's peak, the share of it each stage reaches,
and where the detect stage spends the time the network does not.

FLOPs are counted by PyTorch's FlopCounterMode on the shipped networks (a multiply-add counts 2). The peak
is a matrix-multiply probe (2048 x 2048, float32 and bfloat16, all threads). Each stage is then timed on
the default backend (OpenVINO) at ``--precision fp32`` and ``auto``: the detector on batches of 8 at each
input size, the classifier on batches of 64 faces; achieved GFLOP/s = FLOPs / time. The result names the
CPU model and how OpenVINO runs the models (performance hint, streams, threads, precision).

The whole detect stage (``FaceDetector.detect``: letterbox, network, decoding, NMS) is timed beside the
network alone on the very same letterboxed batches, on two real inputs: held-out WIDER photos enlarged to
1024 px (as WIDER val photos are) at ``--imgsz 512``, and single-face portraits at the default size. The
network's own time is split by layer type with OpenVINO's per-layer profile (``PERF_COUNT``).

    python -m benchmarks.flops [--photos 150] [--portraits 150]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import environment, write_result
from benchmarks.peers import held_out_photos
from benchmarks.portraits import make_portraits
from ferkit.backends import ExportedModel
from ferkit.classifier.checkpoint import load_checkpoint
from ferkit.classifier.predictor import EmotionClassifier
from ferkit.detector.face_detector import FaceDetector
from ferkit.detector.letterbox import detect_batch, fitted_size, letterbox_batch
from ferkit.detector.sizing import InputSize
from ferkit.device import Device
from ferkit.imaging.images import read_image
from ferkit.weights import resolve, shipped_export

SIZES = (384, 512, 704, 960)  # the detector's input at auto: portraits, 640 px photos, 1024 px, the ceiling


def flops(model: torch.nn.Module, shape: tuple[int, ...]) -> float:
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(shape))
    return float(counter.get_total_flops())


def peak(dtype: torch.dtype, n: int = 2048, seconds: float = 3.0) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.matmul(a, b)
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        torch.matmul(a, b)
        done += 1
    return 2 * n**3 * done / (time.perf_counter() - t0) / 1e9


def timed(fn, repeats: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def achieved(work: float, seconds: float, peak_gflops: float) -> dict[str, float]:
    rate = work / seconds / 1e9
    return {"ms": round(seconds * 1e3, 3), "gflops_per_s": round(rate, 1),
            "share_of_peak": round(rate / peak_gflops, 3)}  # fmt: skip


def stage_split(det: FaceDetector, images: list[np.ndarray], size: InputSize, batch: int = 8) -> dict:
    """ms per image of the whole detect stage, of the network alone on the same letterboxed batches, and of
    letterboxing; the rest is decoding, NMS and grouping."""
    net = ExportedModel(shipped_export("detector"), "openvino", torch.device("cpu"), det.precision)
    chunks = [images[i : i + batch] for i in range(0, len(images), batch)]
    groups = []
    for chunk in chunks:  # the groups the detector runs: images of one letterboxed shape together
        by_shape: dict[tuple[int, int], list[np.ndarray]] = defaultdict(list)
        for im in chunk:
            h, w, _ = fitted_size(*im.shape[:2], size, det.min_side)
            by_shape[(-(-h // 32), -(-w // 32))].append(im)
        groups += [letterbox_batch(g, size, 32, det.min_side)[0] for g in by_shape.values()]
    det.detect(images[:batch])
    for g in groups:  # every shape seen once, as a long run would have
        net(g)
    t0 = time.perf_counter()
    for chunk in chunks:
        det.detect(chunk)
    stage = time.perf_counter() - t0
    t0 = time.perf_counter()
    for g in groups:
        net(g)
    network = time.perf_counter() - t0
    t0 = time.perf_counter()
    for chunk in chunks:
        detect_batch(
            chunk, lambda x: np.zeros((len(x), 5, 0), np.float32), size, 32, det.min_side, 0.35, 0.5, 300
        )
    letterbox = time.perf_counter() - t0
    n = len(images)
    ms = {
        "stage": stage,
        "network": network,
        "letterbox": letterbox,
        "decode_nms_other": stage - network - letterbox,
    }
    return {"images": n, "shapes": len({g.shape[2:] for g in groups}),
            **{k: round(v / n * 1e3, 2) for k, v in ms.items()}}  # fmt: skip


def layer_profile(
    precision: str, shape: tuple[int, ...] = (1, 3, 512, 512), top: int = 8
) -> dict[str, float]:
    """Share of the network's time per layer type (OpenVINO's PERF_COUNT), the largest ``top``."""
    import openvino as ov

    core = ov.Core()
    hint = "bf16" if precision == "bf16" else "f32"
    config = {"PERF_COUNT": True, "INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY"}
    request = core.compile_model(
        core.read_model(str(shipped_export("detector"))), "CPU", config
    ).create_infer_request()
    x = np.zeros(shape, np.float32)
    per_type: dict[str, float] = defaultdict(float)
    for i in range(6):
        request.infer({0: x})
        if i >= 1:
            for info in request.get_profiling_info():
                per_type[info.node_type] += info.real_time.total_seconds()
    total = sum(per_type.values()) or 1.0
    ranked = sorted(per_type.items(), key=lambda kv: -kv[1])[:top]
    return {k: round(v / total, 3) for k, v in ranked}


def real_inputs(tmp: Path, photos: int, portraits: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Held-out WIDER photos enlarged to 1024 px on their long side, and pasted-face portraits."""
    held_out_photos(tmp / "photos", photos)
    wide = []
    for path in sorted((tmp / "photos").iterdir()):
        im = read_image(path)
        r = 1024 / max(im.shape[:2])
        wide.append(
            cv2.resize(im, (round(im.shape[1] * r), round(im.shape[0] * r)), interpolation=cv2.INTER_CUBIC)
        )
    return wide, [read_image(p) for p in make_portraits(tmp / "portraits", portraits)]


def main() -> None:
    from ferkit.detector.yolo import YoloModel

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=150)
    ap.add_argument("--portraits", type=int, default=150)
    args = ap.parse_args()
    net = YoloModel(resolve("detector", "default").path, "cpu")._network(False).float().eval()
    det_flops = {s: flops(net, (1, 3, s, s)) for s in SIZES}
    clf_net, meta = load_checkpoint(resolve("classifier", "default").path)
    clf_flops = flops(clf_net.eval(), (1, 1, meta.input_size, meta.input_size))
    peaks = {"fp32": peak(torch.float32), "bf16": peak(torch.bfloat16)}
    rng = np.random.default_rng(0)
    result = {
        "environment": environment(Device("cpu")),
        "peak_gflops": {k: round(v, 1) for k, v in peaks.items()},
        "detector_gflops": {s: round(f / 1e9, 3) for s, f in det_flops.items()},
        "classifier_mflops_per_face": round(clf_flops / 1e6, 1),
        "stages": {},
        "runtime": {},
        "detect_stage": {},
        "layer_types": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        photos, portraits = real_inputs(Path(tmp), args.photos, args.portraits)
    for precision in ("fp32", "auto"):
        det = FaceDetector("default", device="cpu", precision=precision)
        clf = EmotionClassifier.from_pretrained("default", device="cpu", precision=precision)
        compute = "bf16" if det.precision == "bf16" else "fp32"
        key = f"openvino:{precision} ({compute})"
        result["runtime"][key] = det.runtime_properties()
        rows = {}
        for s in SIZES:
            batch = [rng.integers(0, 255, (s, s, 3), dtype=np.uint8) for _ in range(8)]
            seconds = timed(lambda d=det, b=batch, s=s: d._predict(b, 0.35, InputSize(fixed=s), 0), 5) / 8
            rows[f"detector@{s}"] = achieved(det_flops[s], seconds, peaks[compute])
        faces = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(64)]
        seconds = timed(lambda c=clf, f=faces: c.predict_proba(f), 20) / 64
        rows["classifier per face"] = achieved(clf_flops, seconds, peaks[compute])
        result["stages"][key] = rows
        result["detect_stage"][key] = {
            "wider_photos_1024px_at_512": stage_split(det, photos, InputSize(fixed=512)),
            "portraits_350px_at_default": stage_split(det, portraits, det.input_size),
        }
        result["layer_types"][key] = layer_profile(det.precision)
        print(key, rows, result["detect_stage"][key], result["runtime"][key])
    print(result["peak_gflops"], result["detector_gflops"], result["classifier_mflops_per_face"])
    write_result("flops", result)


if __name__ == "__main__":
    main()
