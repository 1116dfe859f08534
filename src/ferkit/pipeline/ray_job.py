"""The Ray branch of :func:`ferkit.pipeline.jobs.run_job`: list the inputs, load the pipeline here once
(bad weights fail before Ray starts), run it over the cluster (:func:`ferkit.pipeline.ray_engine.run_ray`).

Ray's own logging and progress bars are the caller's to set: ``fer`` quiets them in its own process
(:func:`ferkit.cli.ray_engine.quiet_ray`); a library call leaves them as the user has them.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, TextIO

from ferkit.config import PipelineConfig
from ferkit.errors import ConfigError

if TYPE_CHECKING:
    from ferkit.pipeline.jobs import JobInputs, OutputOptions, Reporter
    from ferkit.pipeline.ray_engine import RayOptions


def run_ray_job(
    config: PipelineConfig,
    inputs: JobInputs,
    output: OutputOptions,
    ray: RayOptions,
    stdout: TextIO,
    reporter: Reporter,
) -> None:
    """Run on Ray; results printed as they arrive, one summary line, failed inputs listed."""
    from ferkit.pipeline import Pipeline
    from ferkit.pipeline.jobs import raise_if_failed, summary_line
    from ferkit.pipeline.ray_engine import check_address, list_sources, run_ray
    from ferkit.pipeline.writers import ResultPrinter

    if importlib.util.find_spec("ray") is None:
        raise ConfigError("--engine ray needs Ray, which is not installed: pip install 'ferkit[ray]'")
    if output.out is None:
        raise ConfigError("--engine ray writes results.jsonl and results.parquet: give --out DIR")
    if ray.address:
        check_address(ray.address)
    sources = list_sources(list(inputs.paths), inputs.recursive)
    if not sources:
        raise ConfigError("no images to process")
    pipe = Pipeline.from_config(config)
    printer = ResultPrinter(output.format, pipe.class_names, stdout)
    summary = run_ray(
        config,
        pipe.settings(),
        sources,
        output.out,
        pipe.class_names,
        ray,
        overwrite=output.overwrite,
        progress=output.progress,
        on_result=printer,
    )
    printer.close()
    if output.progress:
        head = (
            f"{summary.processed} image(s) processed, {summary.faces} face(s) in {summary.seconds:.1f}s "
            f"on Ray ({summary.workers} worker(s), {summary.images_per_s:.1f} img/s)"
        )
        line = summary_line(head, out=output.out, skipped=summary.skipped, torn_lines=summary.torn_lines)
        reporter.done(line, not summary.failed)
    raise_if_failed(summary, reporter)
