"""The Ray engine of ``fer detect-and-classify --engine ray``: the same pipeline over a Ray cluster.

Ray Data turns the image list into a dataset; ``map_batches`` runs an actor pool of pipelines (each actor
loads the models once; GPU actors when ``gpus_per_worker`` > 0). Actors read each file themselves (local
paths, or any URI fsspec opens), so an unreadable image becomes a record with an error, never a failed
job. The driver writes each record to ``results.jsonl`` as it arrives (the same records, run.json and
resume rules as the local engine), then ``results.parquet`` with the same fields.

When a worker dies, Ray Data restarts the actor and runs its unfinished batch again (its default for actor
pools); a batch's results reach the driver only once it has finished, and the driver writes each source
once, so no result is lost or duplicated.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ferkit.config import PipelineConfig
from ferkit.errors import ConfigError, DataError
from ferkit.pipeline.batch import RunSummary
from ferkit.pipeline.ray_reaper import reap_with_this_process
from ferkit.runs import RESULTS_FILE, RunFolder, absolute_source
from ferkit.types import ImageResult

PARQUET_FILE = "results.parquet"
DEFAULT_CPUS_PER_WORKER = 2


@dataclass(frozen=True)
class RayOptions:
    """``--engine ray``: the cluster ``address`` (None: start Ray here), pipeline actors, GPUs per actor."""

    address: str | None = None
    num_workers: int | None = None
    gpus_per_worker: float = 0.0


@dataclass
class RaySummary(RunSummary):
    """What a Ray run did, and on how many pipeline actors."""

    workers: int = 0


def list_sources(inputs: Sequence[str], recursive: bool = False) -> list[str]:
    """Image paths or URIs: a ``.txt`` file lists one per line (blank lines and ``#`` comments skipped);
    folders and globs are expanded as by the local engine; anything else (a path or URI) is taken as is."""
    from ferkit.pipeline.inputs import collect_inputs

    out: list[str] = []
    for raw in inputs:
        if raw.endswith(".txt") and "://" not in raw:
            try:
                lines = Path(raw).read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise DataError(f"{raw}: cannot read this list of images ({exc.strerror})") from None
            out += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        elif "://" in raw:
            out.append(raw)
        else:
            found = collect_inputs([raw], recursive)
            if found.errors and not found.items:
                raise DataError(str(found.errors[0]))
            # inputs that gave no image (a looping link, an unlistable subfolder, a GIF) still get their
            # error record: the workers fail to read them, as any bad input
            out += [str(it.path) for it in found.items] + [e.source for e in found.errors]
    return out


def check_address(address: str, timeout: float = 5.0) -> None:
    """Fail at once, naming the address, when a Ray cluster's port does not answer (Ray itself would wait
    for minutes). ``auto`` and ``local`` are left to Ray."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"must be HOST:PORT (or ray://HOST:PORT), got {address!r}", option="address")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(f"cannot reach a Ray cluster at {address}: {exc.strerror or exc}") from None


class _PipelineActor:
    """One pipeline per actor; turns a batch of sources into JSON records."""

    def __init__(self, config: PipelineConfig):
        from ferkit.pipeline import Pipeline

        self.pipe = Pipeline.from_config(config)

    def __call__(self, batch: dict) -> dict:
        sources = [str(s) for s in batch["source"]]
        local = [s for s in sources if "://" not in s]
        results = dict(zip(local, self.pipe.run_batch(local), strict=True)) if local else {}
        for uri in (s for s in sources if "://" in s):
            results[uri] = self._remote(uri)
        return {"record": np.array([json.dumps(results[s].to_dict()) for s in sources], dtype=object)}

    def _remote(self, uri: str) -> ImageResult:
        import fsspec

        from ferkit.imaging.images import decode_image

        try:
            with fsspec.open(uri, "rb") as fh:
                data = fh.read()
            image = decode_image(data, uri)
        except DataError as exc:
            return ImageResult(uri, 0, 0, [], str(exc))
        except Exception as exc:  # any filesystem's error: the record says it
            return ImageResult(uri, 0, 0, [], f"{uri}: cannot read ({type(exc).__name__}: {exc})")
        return self.pipe.run_arrays([uri], [image])[0]


def _records(
    sources: list[str], config: PipelineConfig, workers: int, cpus: float, gpus: float
) -> Iterator[dict]:
    import ray.data

    batch_size = config.batch_size
    ds = ray.data.from_items(
        [{"source": s} for s in sources], override_num_blocks=max(1, len(sources) // batch_size)
    )
    mapped = ds.map_batches(
        _PipelineActor,
        batch_size=batch_size,
        fn_constructor_kwargs={"config": config},
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus,
        num_gpus=gpus or None,
        batch_format="numpy",
    )
    for row in mapped.iter_rows():
        yield json.loads(row["record"])


def start_ray(address: str | None, num_cpus: int | None = None) -> None:
    """Connect to ``address``, or start a local Ray instance (without its dashboard) that ends with this
    process, however it ends (:mod:`ferkit.pipeline.ray_reaper`)."""
    import ray

    if ray.is_initialized():
        return
    if address:
        check_address(address)
        ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    else:
        before = _child_pids()
        ray.init(
            num_cpus=num_cpus or os.cpu_count(),
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
        )
        # the instance started here ends with this process, even a killed one (Ray's agents would not)
        reap_with_this_process(sorted(_child_pids() - before))


def _child_pids() -> set[int]:
    """This process's descendants (psutil comes with the ray extra); empty without psutil."""
    try:
        import psutil
    except ImportError:
        return set()
    return {p.pid for p in psutil.Process().children(recursive=True)}


def run_ray(
    config: PipelineConfig,
    settings: dict,
    sources: list[str],
    out: str | Path,
    class_names: Sequence[str],
    ray_options: RayOptions | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_result=None,
) -> RaySummary:
    """Run the pipeline over ``sources`` on Ray (``ray_options``: the cluster, actors, GPUs each); write
    ``out/results.jsonl``, ``run.json`` and Parquet."""
    import ray

    opts = ray_options or RayOptions()
    out_dir = Path(out)
    folder = RunFolder(out_dir)
    with folder.hold():  # one run per folder
        resumed = folder.start(settings, overwrite, (PARQUET_FILE,))
        todo = [s for s in sources if _key(s) not in resumed.done]
        summary = RaySummary(skipped=len(sources) - len(todo), torn_lines=resumed.torn_lines)
        start_ray(opts.address)
        cpus_total = int(ray.cluster_resources().get("CPU", 1))
        cpus = max(1, min(DEFAULT_CPUS_PER_WORKER, cpus_total))
        summary.workers = opts.num_workers or max(1, cpus_total // cpus)
        written: set[str] = set()
        t0 = time.perf_counter()
        bar = tqdm(
            total=len(todo), unit="img", desc="images (ray)", disable=not progress or None, dynamic_ncols=True
        )
        with folder.log() as log:
            for rec in _records(todo, config, summary.workers, cpus, opts.gpus_per_worker) if todo else []:
                key = rec.get("source_abs") or rec["source"]
                if key in written:
                    continue
                written.add(key)
                log.append(rec)
                result = ImageResult.from_dict(rec)
                summary.count(result)
                if on_result is not None:
                    on_result(result)
                bar.update(1)
        bar.close()
        summary.seconds = time.perf_counter() - t0
        write_parquet(out_dir / RESULTS_FILE, out_dir / PARQUET_FILE, class_names)
        return summary


def _key(source: str) -> str:
    """How results.jsonl names a finished source: a URI as given, a path made absolute."""
    return source if "://" in source else absolute_source(source)


def parquet_schema(class_names: Sequence[str]):
    """The records' fields as a Parquet schema (faces: a list of structs, probabilities by class)."""
    import pyarrow as pa

    face = pa.struct(
        [
            ("box_xyxy", pa.list_(pa.float64())),
            ("det_score", pa.float64()),
            ("emotion", pa.string()),
            ("emotion_score", pa.float64()),
            ("emotion_probs", pa.struct([(c, pa.float64()) for c in class_names])),
            ("unreadable", pa.string()),
        ]
    )
    return pa.schema(
        [
            ("schema_version", pa.int32()),
            ("source", pa.string()),
            ("source_abs", pa.string()),
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("error", pa.string()),
            ("faces", pa.list_(face)),
        ]
    )


def write_parquet(jsonl: Path, parquet: Path, class_names: Sequence[str], chunk: int = 10_000) -> None:
    """``results.parquet`` from ``results.jsonl`` (every record, in chunks: bounded memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema(class_names)
    tmp = parquet.with_name(parquet.name + ".part")
    with pq.ParquetWriter(tmp, schema) as writer, jsonl.open(encoding="utf-8") as fh:
        rows: list[dict] = []
        for line in fh:
            rows.append(json.loads(line))
            if len(rows) >= chunk:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                rows = []
        if rows:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
    tmp.replace(parquet)
