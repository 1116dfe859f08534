"""A local Ray instance started by ferkit ends with its driver, even a driver killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

psutil = pytest.importorskip("psutil")
pytest.importorskip("ray")

DRIVER = """
import time, psutil
from ferkit.pipeline.ray_engine import start_ray
start_ray(None, num_cpus=1)
print(" ".join(str(p.pid) for p in psutil.Process().children(recursive=True)), flush=True)
time.sleep(120)
"""


def _alive(procs) -> list:
    return [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_killed_driver_leaves_no_ray_process_behind():
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True)
    procs = [psutil.Process(int(pid)) for pid in driver.stdout.readline().split()]
    try:
        names = " ".join(" ".join(p.cmdline()) for p in procs)
        assert "raylet" in names and "DashboardAgent" in names  # what used to outlive the driver
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 15
        while _alive(procs) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(procs), [" ".join(p.cmdline())[:60] for p in _alive(procs)]
    finally:
        for p in _alive(procs):
            p.kill()
