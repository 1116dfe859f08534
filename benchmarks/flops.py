"""The limit: FLOPs of each model at the default sizes, this CPU's peak, and the share of it each stage
reaches.

FLOPs are counted by PyTorch's FlopCounterMode on the shipped networks (a multiply-add counts 2). The peak
is a matrix-multiply probe (2048 x 2048, float32 and bfloat16, all threads). Each stage is then timed on
the default backend (OpenVINO) at ``--precision fp32`` and ``auto``: the detector on batches of 8 at each
input size, the classifier on batches of 64 faces; achieved GFLOP/s = FLOPs / time.

    python -m benchmarks.flops
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import environment, write_result
from ferkit.classifier.checkpoint import load_checkpoint
from ferkit.classifier.predictor import EmotionClassifier
from ferkit.detector.face_detector import FaceDetector
from ferkit.detector.sizing import InputSize
from ferkit.device import Device
from ferkit.weights import resolve

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


def main() -> None:
    from ferkit.detector.yolo import YoloModel

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
    }
    for precision in ("fp32", "auto"):
        det = FaceDetector("default", device="cpu", precision=precision)
        clf = EmotionClassifier.from_pretrained("default", device="cpu", precision=precision)
        compute = "bf16" if det.precision == "bf16" else "fp32"
        rows = {}
        for s in SIZES:
            batch = [rng.integers(0, 255, (s, s, 3), dtype=np.uint8) for _ in range(8)]
            seconds = timed(lambda d=det, b=batch, s=s: d._predict(b, 0.35, InputSize(fixed=s), 0), 5) / 8
            rows[f"detector@{s}"] = achieved(det_flops[s], seconds, peaks[compute])
        faces = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(64)]
        seconds = timed(lambda c=clf, f=faces: c.predict_proba(f), 20) / 64
        rows["classifier per face"] = achieved(clf_flops, seconds, peaks[compute])
        result["stages"][f"openvino:{precision} ({compute})"] = rows
        print(precision, rows)
    print(result["peak_gflops"], result["detector_gflops"], result["classifier_mflops_per_face"])
    write_result("flops", result)


if __name__ == "__main__":
    main()
