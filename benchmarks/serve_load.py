"""Load test of ``fer serve`` on loopback: N requests (default 200) at concurrency C (default 8), each one
640 px WIDER FACE photo with several faces; reports p50/p95/max latency, errors, requests/s, and the
server's memory (RSS) sampled during the run, to show it stays flat.

    python -m benchmarks.serve_load [--requests 200] [--concurrency 8] [--workers 1]

The server is started here as a user starts it (``fer serve --port P``) and stopped at the end. Traffic
goes to 127.0.0.1 only; the run is bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tools.servedrive import fer_serve_process, post_image

from benchmarks.common import environment, write_result
from benchmarks.video_speed import scene_photos


def rss_mb(pids: list[int]) -> float:
    """Resident memory of these processes (MB), from /proc."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def server_pids(proc: subprocess.Popen) -> list[int]:
    """The server process and its children (the workers of --workers N)."""
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    except OSError:
        children = []
    return [proc.pid, *map(int, children)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=600)
    ap.add_argument("--name", default="serve_load", help="result file: docs/benchmarks/NAME.json")
    args = ap.parse_args()
    photo = scene_photos()[0]  # a 640 px photo with 3-8 faces (the video benchmark's first scene)
    data = photo.read_bytes()
    with fer_serve_process("--workers", str(args.workers), "--device", "cpu") as (proc, url):
        for _ in range(3):  # warm-up
            post_image(url, data)
        pids = server_pids(proc)
        memory = [round(rss_mb(pids), 1)]
        latencies, statuses, faces = [], [], []
        t_end = time.monotonic() + args.max_seconds

        def one(i: int) -> None:
            if time.monotonic() > t_end:
                return
            t0 = time.perf_counter()
            status, body = post_image(url, data)
            latencies.append(time.perf_counter() - t0)
            statuses.append(status)
            faces.append(len(body.get("faces", [])))
            if i % max(1, args.requests // 8) == 0:
                memory.append(round(rss_mb(pids), 1))

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(one, range(args.requests)))
        wall = time.perf_counter() - t0
        memory.append(round(rss_mb(pids), 1))
    lat = np.asarray(latencies) * 1000
    result = {
        "requests": len(statuses),
        "concurrency": args.concurrency,
        "workers": args.workers,
        "photo": f"{photo.parent.name}/{photo.name}",
        "faces_per_photo": sorted(set(faces)),
        "errors": sum(s != 200 for s in statuses),
        "status_counts": {str(s): statuses.count(s) for s in sorted(set(statuses))},
        "latency_ms": {
            "p50": round(float(np.percentile(lat, 50)), 1),
            "p95": round(float(np.percentile(lat, 95)), 1),
            "max": round(float(lat.max()), 1),
        },
        "requests_per_s": round(len(statuses) / wall, 2),
        "server_rss_mb_during_run": memory,
        "environment": environment(__import__("torch").device("cpu")),
    }
    print(json.dumps(result, indent=2))
    write_result(args.name, result)


if __name__ == "__main__":
    main()
