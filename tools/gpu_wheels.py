"""Fetch the wheels the lent GPU machine lacks for the detector recipe, grouped into carry-sized calls.

That machine's Python (3.12, x86-64) has PyTorch, OpenCV, NumPy, SciPy, pandas and typer, but neither
ultralytics nor albumentations and their own dependencies, and it cannot reach an index. This downloads them
here, at the versions installed here (polars at a pinned 1.x: its 2.x runtime wheel alone is over 50 MB, more
than a call carries beside the checkout), into ``.whl/`` (ignored by git), and prints the carry list of each
call; ``scripts/gpu_common.sh`` installs whatever is in ``.whl/`` on the GPU machine before the first command.

python -m tools.gpu_wheels            # then carry each printed group in one device call
"""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys
from pathlib import Path

# what the GPU machine lacks (as found there on 2026-12-04), by distribution name
NEEDED = (
    "ultralytics",
    "ultralytics-thop",
    "ultralytics-platform",
    "albumentations",
    "albucore",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-inspection",
    "simsimd",
    "stringzilla",
)
PINNED = {"polars": "1.20.0"}  # ultralytics reads its results.csv with polars (read_csv, to_dict)
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
CALL_MIB = 33.0  # a call carries 64 MiB with the checkout (about 28 MiB), a margin kept


def requirements() -> list[str]:
    """``name==version`` of each wheel to fetch: the installed version here, or the pinned one."""
    return [f"{name}=={importlib.metadata.version(name)}" for name in NEEDED] + [
        f"{name}=={version}" for name, version in PINNED.items()
    ]


def download(out: Path, reqs: list[str]) -> list[Path]:
    """The wheels of ``reqs`` for CPython 3.12 on x86-64 Linux, in ``out`` (no dependencies: all named)."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
           "3.12", "--implementation", "cp", "-d", str(out)]  # fmt: skip
    for p in PLATFORMS:
        cmd += ["--platform", p]
    subprocess.run([*cmd, *reqs], check=True)
    return sorted(out.glob("*.whl"))


def calls(wheels: list[Path], limit_mib: float = CALL_MIB) -> list[list[Path]]:
    """``wheels`` in groups of at most ``limit_mib`` each, largest first (a wheel over it: alone)."""
    groups: list[list[Path]] = []
    sizes: list[float] = []
    for w in sorted(wheels, key=lambda p: p.stat().st_size, reverse=True):
        mib = w.stat().st_size / 2**20
        for i, used in enumerate(sizes):
            if used + mib <= limit_mib:
                groups[i].append(w)
                sizes[i] += mib
                break
        else:
            groups.append([w])
            sizes.append(mib)
    return groups


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path(".whl"))
    args = ap.parse_args(argv)
    wheels = download(args.out, requirements())
    for i, group in enumerate(calls(wheels), 1):
        mib = sum(w.stat().st_size for w in group) / 2**20
        print(f"call {i} ({mib:.1f} MiB): carry {[str(w) for w in group]}")


if __name__ == "__main__":
    sys.exit(main())
