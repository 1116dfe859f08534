"""Pipeline: detector + classifier over images and folders, results, writers, resumable batch runs."""

from ferkit.pipeline.pipeline import Pipeline
from ferkit.pipeline.timing import StageTimer

__all__ = ["Pipeline", "StageTimer"]
