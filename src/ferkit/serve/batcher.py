"""A bounded queue in front of the model: requests that arrive together are run as one batch, by one
thread that owns the pipeline; a full queue refuses new work at once instead of letting latency grow.

When the queue runs empty, the heap's free memory is handed back to the system (glibc ``malloc_trim``, at
most every few seconds): a burst of uploads otherwise leaves the server hundreds of MB larger for good
(docs/benchmarks.md, "Serve soak with a burst")."""

from __future__ import annotations

import ctypes
import functools
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from ferkit.config import RunOptions
from ferkit.errors import FerError
from ferkit.types import ImageResult

TRIM_EVERY_S = 2.0  # at most this often, and only when no request waits


@functools.cache
def _malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


def release_free_memory() -> bool:
    """Hand the heap's free pages back to the system (glibc); False where that cannot be done."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


class ServerBusyError(FerError):
    """The queue in front of the model is full."""


@dataclass
class _Job:
    image: np.ndarray
    source: str
    options: RunOptions
    future: Future = field(default_factory=Future)


class Batcher:
    """Runs :meth:`Pipeline.run_arrays` on batches of queued images in one background thread."""

    def __init__(self, pipeline, queue_size: int, max_batch: int, batch_wait_s: float):
        self.pipeline, self.max_batch, self.batch_wait_s = pipeline, max_batch, batch_wait_s
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._loop, name="ferkit-serve-model", daemon=True)
        self._thread.start()
        self.batches = 0  # run so far (for /healthz)
        self.images = 0
        self.trims = 0
        self._trimmed = time.monotonic()

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def submit(self, image: np.ndarray, source: str, options: RunOptions) -> Future:
        """A future of the image's ImageResult; ServerBusyError when the queue is full."""
        job = _Job(image, source, options)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise ServerBusyError(f"the server is busy: {self._queue.maxsize} images already wait") from None
        return job.future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _next_batch(self) -> list[_Job] | None:
        first = self._queue.get()
        if first is None:
            return None
        batch, deadline = [first], time.monotonic() + self.batch_wait_s
        while len(batch) < self.max_batch:
            try:
                job = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)  # stop after this batch
                break
            batch.append(job)
        return [j for j in batch if j.future.set_running_or_notify_cancel()]  # drop timed-out requests

    def _loop(self) -> None:
        while (batch := self._next_batch()) is not None:
            groups: dict[RunOptions, list[_Job]] = {}
            for job in batch:
                groups.setdefault(job.options, []).append(job)
            for options, jobs in groups.items():
                try:
                    results = self._run(options, jobs)
                except Exception as exc:  # handed to each request of the batch
                    for j in jobs:
                        j.future.set_exception(exc)
                    continue
                for j, res in zip(jobs, results, strict=True):
                    j.future.set_result(res)
                self.batches += 1
                self.images += len(jobs)
            self._trim_when_idle()

    def _trim_when_idle(self) -> None:
        now = time.monotonic()
        if self._queue.empty() and now - self._trimmed >= TRIM_EVERY_S:
            self._trimmed = now
            self.trims += release_free_memory()

    def _run(self, options: RunOptions, jobs: list[_Job]) -> list[ImageResult]:
        # the options go with the call: the shared pipeline is never changed by a request
        return self.pipeline.run_arrays([j.source for j in jobs], [j.image for j in jobs], options=options)
