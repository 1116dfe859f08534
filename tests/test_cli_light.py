"""The ``fer`` command starts without the heavy libraries: help and version never import them."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = (
    "torch",
    "torchvision",
    "cv2",
    "ultralytics",
    "onnxruntime",
    "openvino",
    "matplotlib",
    "albumentations",
)

PROBE = """
import sys
from ferkit.cli import main
sys.argv = ["fer", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("HEAVY:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["detect-and-classify", "--help"],
                                  ["train-classifier", "--help"], ["serve", "--help"]])  # fmt: skip
def test_help_and_version_import_no_heavy_library(args):
    r = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    line = [x for x in r.stdout.splitlines() if x.startswith("HEAVY:")][-1]
    assert line == "HEAVY:", f"fer {' '.join(args)} imported {line[6:]}"
