"""The Ray engine against the local engine on the same photos, one machine, in one run.

Both run the same pipeline (shipped weights, default backend) over N WIDER FACE photos (640 px) into an
output folder. Reported per engine: wall time with start-up (Ray: starting the local instance and the
actors, which load the models; local: loading the models) and steady throughput (images/s from the first
result to the last); and whether the records are identical.

    python -m benchmarks.ray_engine [--n 300] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks.common import SHARED, environment, write_result
from ferkit.config import PipelineConfig
from ferkit.device import select_device
from ferkit.pipeline import Pipeline
from ferkit.pipeline.batch import run_items
from ferkit.pipeline.inputs import collect_inputs
from ferkit.pipeline.ray_engine import RayOptions, run_ray, start_ray

CONFIG = PipelineConfig(device="cpu", batch_size=8)


def timed(run) -> dict:
    stamps: list[float] = []
    t0 = time.perf_counter()
    run(lambda _r: stamps.append(time.perf_counter()))
    wall = time.perf_counter() - t0
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    return {
        "wall_s": round(wall, 2),
        "images_per_s_with_startup": round(len(stamps) / wall, 2),
        "images_per_s_steady": round(steady, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    items = collect_inputs([str(SHARED / "wider_face" / "WIDER_train" / "images")], recursive=True).items[
        : args.n
    ]
    with tempfile.TemporaryDirectory() as tmp:
        out_local, out_ray = Path(tmp) / "local", Path(tmp) / "ray"
        holder = {}

        def local(cb):
            holder["pipe"] = pipe = Pipeline.from_config(CONFIG)
            run_items(pipe, items, out=out_local, save_annotated=False, progress=False, on_result=cb)

        res_local = timed(local)
        pipe = holder["pipe"]

        def on_ray(cb):
            start_ray(None)
            run_ray(
                CONFIG,
                pipe.settings(),
                [str(i.path) for i in items],
                out_ray,
                pipe.class_names,
                RayOptions(num_workers=args.workers),
                progress=False,
                on_result=cb,
            )

        res_ray = timed(on_ray)
        a = {
            r["source_abs"]: r
            for r in map(json.loads, (out_local / "results.jsonl").read_text().splitlines())
        }
        b = {
            r["source_abs"]: r for r in map(json.loads, (out_ray / "results.jsonl").read_text().splitlines())
        }
    result = {
        "photos": len(items),
        "local": res_local,
        "ray": res_ray,
        "ray_to_local_steady": round(res_ray["images_per_s_steady"] / res_local["images_per_s_steady"], 3),
        "identical_records": a == b,
        "backend": pipe.settings()["detector_backend"],
        "environment": environment(select_device("cpu")),
    }
    print(json.dumps(result, indent=2))
    write_result("ray_engine", result)


if __name__ == "__main__":
    main()
