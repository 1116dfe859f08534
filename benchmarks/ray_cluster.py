"""``--engine ray`` on a cluster of several nodes, one of which dies mid-run: every photo exactly once?

A local Ray cluster of a head and two worker nodes is started on this machine, all on loopback
(``ray.cluster_utils``: separate raylets; the head runs no pipeline actor, each worker node has room for
one). The Ray engine runs
the shipped pipeline over N WIDER FACE photos into an output folder through the cluster's address; after
``--kill-after`` results one worker node is killed (no graceful shutdown). If the run does not finish, it is
rerun into the same folder, as a user would (it resumes). Reported: whether the first run finished, how
many photos each run wrote, and whether ``results.jsonl`` ends with every photo exactly once.

    python -m benchmarks.ray_cluster [--n 200] [--kill-after 40]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import SHARED, environment, write_result
from ferkit.config import PipelineConfig
from ferkit.device import select_device
from ferkit.pipeline import Pipeline
from ferkit.pipeline.ray_engine import RayOptions, run_ray

CONFIG = PipelineConfig(device="cpu", batch_size=8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--kill-after", type=int, default=40)
    args = ap.parse_args()
    # every node on loopback: Ray otherwise binds its nodes to the machine's network address
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray
    from ray.cluster_utils import Cluster

    photos = sorted(str(p) for p in (SHARED / "wider_face" / "WIDER_train" / "images").glob("*/*.jpg"))[
        : args.n
    ]
    pipe = Pipeline.from_config(CONFIG)
    settings, names = pipe.settings(), pipe.class_names
    local = {"node_ip_address": "127.0.0.1"}
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False, **local}
    )
    workers = [cluster.add_node(num_cpus=2, **local) for _ in range(2)]
    assert cluster.address.startswith("127.0.0.1:"), cluster.address
    cluster.wait_for_nodes()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        seen = []

        def kill_when_due(_result) -> None:
            seen.append(1)
            if len(seen) == args.kill_after:
                threading.Thread(target=cluster.remove_node, args=(workers[0], False), daemon=True).start()

        for attempt in range(3):
            t0 = time.perf_counter()
            hook = kill_when_due if attempt == 0 else None
            try:
                where = {"progress": False, "on_result": hook}
                summary = run_ray(CONFIG, settings, photos, out, names, RayOptions(cluster.address), **where)
                took = round(time.perf_counter() - t0, 1)
                runs.append({"attempt": attempt, "finished": True, "written": summary.processed,
                             "skipped": summary.skipped, "seconds": took})  # fmt: skip
                break
            except Exception as exc:  # the run broke when its node died: rerun, as a user would
                took = round(time.perf_counter() - t0, 1)
                error = f"{type(exc).__name__}: {exc}"[:300]
                runs.append({"attempt": attempt, "finished": False, "error": error, "seconds": took,
                             "results_seen": len(seen)})  # fmt: skip
            finally:
                ray.shutdown()
            print(runs[-1], flush=True)
        print(runs[-1], flush=True)
        lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
        keys = [json.loads(x)["source_abs"] for x in lines if x.strip()]
    cluster.shutdown()
    result = {
        "what": __doc__.split("\n")[0],
        "photos": len(photos),
        "nodes": "head (0 CPUs) + 2 worker nodes (2 CPUs each), one killed",
        "kill_after_results": args.kill_after,
        "runs": runs,
        "records": len(keys),
        "distinct": len(set(keys)),
        "missing": len(set(photos) - set(keys)),
        "every_photo_exactly_once": len(keys) == len(set(keys)) == len(photos),
        "environment": environment(select_device("cpu")),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "environment"}, indent=1))
    write_result("ray_cluster", result)


if __name__ == "__main__":
    main()
