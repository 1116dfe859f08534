"""``--precision auto`` by measurement: bfloat16 only where it is faster on this very CPU.

A CPU that computes bfloat16 natively is not always faster with it: on Xeons with AMX, and on AMD EPYC with
AVX512-BF16, bf16 ran the models about 1.4x faster than float32; on a Xeon with AVX512-BF16 but no AMX it ran
them at 0.7-0.8x. So ``auto`` times both precisions on the loaded model itself, at its first use: a few
warm-up runs, then alternating timed runs of each, about half a second in all. bf16 is chosen only when it
is at least ``MARGIN`` faster; else float32, which is also what every CPU without native bfloat16 gets
without any probe. The choice is cached per CPU model, OpenVINO version and model (SHA-256) for the
process, and in ``$FERKIT_CACHE_DIR`` (default ``~/.cache/ferkit``) as ``precision.json``, so that it is
measured once per machine. Runs record it (``precision`` in run.json and ``GET /v1/models``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

MARGIN = 1.10  # bf16 must be this much faster than fp32 to be chosen (timing noise on a busy machine)
PROBE_SECONDS = 0.25  # timed runs of each precision, alternated
CACHE_FILE = "precision.json"
_memo: dict[str, str] = {}
_lock = threading.Lock()


def cache_dir() -> Path:
    """Where measured choices are kept: ``$FERKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/ferkit``."""
    if os.environ.get("FERKIT_CACHE_DIR"):
        return Path(os.environ["FERKIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ferkit"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def probe_key(model: bytes | Path, shape: tuple[int, ...]) -> str:
    import openvino as ov

    data = model if isinstance(model, bytes) else Path(model).read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    return f"{cpu_name()} | openvino {ov.__version__} | {digest} | {'x'.join(map(str, shape))}"


def measured_precision(core: Any, network: Any, model: bytes | Path, shape: tuple[int, ...]) -> str:
    """``bf16`` or ``fp32`` for ``network`` (read by ``core``) on inputs of ``shape``, measured once per
    machine and model (see this module's doc)."""
    key = probe_key(model, shape)
    with _lock:
        if key in _memo:
            return _memo[key]
        cached = _read_cache().get(key)
        if cached in ("fp32", "bf16"):
            _memo[key] = cached
            return cached
        fp32, bf16 = (_compile(core, network, hint) for hint in ("f32", "bf16"))
        t32, t16 = time_both(fp32, bf16, np.zeros(shape, np.float32))
        choice = "bf16" if t32 >= MARGIN * t16 else "fp32"
        _memo[key] = choice
        _write_cache(key, choice, t32, t16)
        return choice


def _compile(core: Any, network: Any, hint: str):
    config = {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY"}
    return core.compile_model(network, "CPU", config).create_infer_request()


def time_both(a, b, x: np.ndarray) -> tuple[float, float]:
    """Median seconds per run of two compiled requests on ``x``: warmed up, then timed alternately."""
    for request in (a, b, a, b):
        request.infer({0: x})
    times: tuple[list[float], list[float]] = ([], [])
    started = time.perf_counter()
    while time.perf_counter() - started < 2 * PROBE_SECONDS or len(times[0]) < 3:
        for i, request in enumerate((a, b)):
            t0 = time.perf_counter()
            request.infer({0: x})
            times[i].append(time.perf_counter() - t0)
    return float(np.median(times[0])), float(np.median(times[1]))


def _read_cache() -> dict:
    try:
        return json.loads((cache_dir() / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_cache(key: str, choice: str, t32: float, t16: float) -> None:
    """Best effort: a read-only home only means measuring again in the next process."""
    data = _read_cache()
    data[key] = choice
    data[f"{key} | seconds"] = {"fp32": round(t32, 6), "bf16": round(t16, 6)}
    try:
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{CACHE_FILE}.{os.getpid()}.part"
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        tmp.replace(folder / CACHE_FILE)
    except OSError:
        pass
