"""Soak of ``fer serve`` with a burst: does the server's memory come back down, and is it bounded?

Phases, all on loopback against one ``fer serve`` started as a user starts it: warm-up; ``steady`` (300
requests, 8 at a time, one 640 px WIDER photo each); ``burst`` (160 uploads at once); ``idle`` (20 s, no
traffic); ``steady again`` (100 requests). The server's resident memory (RSS) is sampled every 0.25 s all
along; the result gives each phase's first, peak and last sample, and the whole series.

    python -m benchmarks.serve_soak [--name serve_soak_burst]
"""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tools.servedrive import fer_serve_process, post_image

from benchmarks.common import environment, write_result
from benchmarks.serve_load import rss_mb, server_pids
from benchmarks.video_speed import scene_photos


class Sampler(threading.Thread):
    """RSS of the server every ``period`` s, labelled with the phase it was taken in."""

    def __init__(self, pids: list[int], period: float = 0.25):
        super().__init__(daemon=True)
        self.pids, self.period, self.phase = pids, period, "start"
        self.samples: list[tuple[float, str, float]] = []
        self.stop = threading.Event()
        self.t0 = time.perf_counter()

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append(
                (round(time.perf_counter() - self.t0, 2), self.phase, round(rss_mb(self.pids), 1))
            )
            time.sleep(self.period)


def load(url: str, data: bytes, requests: int, concurrency: int) -> list[int]:
    with ThreadPoolExecutor(concurrency) as pool:
        return [s for s, _ in pool.map(lambda _: post_image(url, data, timeout=300), range(requests))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--name", default="serve_soak_burst")
    ap.add_argument("--queue-size", type=int, default=200, help="fer serve --queue-size (the burst fits)")
    args = ap.parse_args()
    data = scene_photos()[0].read_bytes()
    with fer_serve_process("--device", "cpu", "--queue-size", str(args.queue_size)) as (proc, url):
        load(url, data, 3, 1)
        sampler = Sampler(server_pids(proc))
        sampler.start()
        statuses = {}
        for phase, requests, concurrency in (("steady", 300, 8), ("burst", 160, 160), ("idle", 0, 1),
                                             ("steady again", 100, 8)):  # fmt: skip
            sampler.phase = phase
            if phase == "idle":
                time.sleep(20)
                continue
            codes = load(url, data, requests, concurrency)
            statuses[phase] = {str(c): codes.count(c) for c in sorted(set(codes))}
            print(phase, statuses[phase], "rss", sampler.samples[-1][2], "MB", flush=True)
        time.sleep(1)
        sampler.stop.set()
        sampler.join()
    by_phase = {}
    for _, phase, mb in sampler.samples:
        by_phase.setdefault(phase, []).append(mb)
    summary = {p: {"first": v[0], "peak": max(v), "last": v[-1]} for p, v in by_phase.items()}
    print(summary)
    write_result(
        args.name,
        {
            "what": __doc__.split("\n")[0],
            "statuses": statuses,
            "rss_mb_by_phase": summary,
            "rss_mb_series": sampler.samples,
            "environment": environment(__import__("torch").device("cpu")),
        },
    )


if __name__ == "__main__":
    main()
