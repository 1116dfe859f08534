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
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from benchmarks.common import environment, write_result
from benchmarks.video_speed import scene_photos


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def fer_serve_process(*args: str, timeout: float = 120) -> Iterator[tuple[subprocess.Popen, str]]:
    """``fer serve --port P ARGS`` in a subprocess; yields (process, base URL) once /healthz answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "ferkit", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"fer serve exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("fer serve did not answer /healthz in time")
            time.sleep(0.2)
        yield proc, url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def post_image(url: str, data: bytes, name: str = "photo.jpg", timeout: float = 60) -> tuple[int, dict]:
    """POST an image file to /v1/detect as multipart form data; (status, JSON body)."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    req = urllib.request.Request(
        url + "/v1/detect", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


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
