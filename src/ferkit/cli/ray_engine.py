"""The ``--engine ray`` branch of ``fer detect-and-classify``."""

from __future__ import annotations

import importlib.util
import logging
import sys

import typer

from ferkit.cli.app import _error
from ferkit.errors import ConfigError, FailedInputs


def run_ray_command(
    paths, recursive, out, overwrite, fmt, quiet, address, num_workers, gpus_per_worker, config
) -> None:
    """List the inputs, load the pipeline here once (bad weights fail before Ray starts), run on Ray."""
    from ferkit.pipeline import Pipeline
    from ferkit.pipeline.batch import torn_note
    from ferkit.pipeline.ray_engine import check_address, list_sources, run_ray
    from ferkit.pipeline.writers import ResultPrinter

    if importlib.util.find_spec("ray") is None:
        raise ConfigError("--engine ray needs Ray, which is not installed: pip install 'ferkit[ray]'")
    if out is None:
        raise ConfigError("--engine ray writes results.jsonl and results.parquet: give --out DIR")
    if address:
        check_address(address)
    sources = list_sources(paths, recursive)
    if not sources:
        raise ConfigError("no images to process")
    pipe = Pipeline.from_config(config)
    quiet_ray()
    printer = ResultPrinter(fmt.value, pipe.class_names, sys.stdout)
    summary = run_ray(
        config,
        pipe.settings(),
        sources,
        out,
        pipe.class_names,
        address=address,
        num_workers=num_workers,
        gpus_per_worker=gpus_per_worker,
        overwrite=overwrite,
        progress=not quiet,
        on_result=printer,
    )
    printer.close()
    if not quiet:
        parts = [
            f"{summary.processed} image(s) processed, {summary.faces} face(s) in {summary.seconds:.1f}s "
            f"on Ray ({summary.workers} worker(s), {summary.images_per_s:.1f} img/s)",
            f"results in {out}",
        ]
        if summary.skipped:
            parts.insert(1, f"{summary.skipped} already done (use --overwrite to redo)")
        if summary.torn_lines:
            parts.append(torn_note(summary.torn_lines))
        typer.secho("; ".join(parts), err=True, fg=typer.colors.GREEN if not summary.failed else None)
    if summary.failed:
        for f in summary.failed:
            _error(f)
        raise FailedInputs(f"{len(summary.failed)} input(s) failed, {summary.processed} processed")


def quiet_ray() -> None:
    """The CLI owns its process: Ray Data reports through ferkit's progress bar and summary, not its own."""
    import ray.data

    for name in ("ray", "ray.data"):  # Ray's info and notices; its errors still show
        logging.getLogger(name).setLevel(logging.ERROR)
    ray.data.DataContext.get_current().enable_progress_bars = False
    ray.data.DataContext.get_current().print_on_execution_start = False
