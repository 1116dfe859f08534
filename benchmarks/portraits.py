"""Single-face portraits through the whole command, as a user with a folder of them would run it.

300 portraits of 350x350 px: a FER2013 val face enlarged to 170-250 px, pasted at a random place on a
blurred noise background, saved as JPEG. ``fer detect FOLDER -f jsonl`` is timed as a whole process, minus
the same command on one of the photos (start-up and model loading), at each ``--precision``.

    python -m benchmarks.portraits [--n 300] [--precisions auto fp32]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import SHARED, environment, write_result
from ferkit.device import Device


def make_portraits(out: Path, n: int, labels: list[str] | None = None, seed: int = 0) -> list[Path]:
    """``n`` pasted-face portraits in ``out`` (``labels``: gets each pasted face's class, in order)."""
    rng = np.random.default_rng(seed)
    faces = sorted((SHARED / "fer2013" / "val").rglob("*.jpg"))
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, k in enumerate(rng.choice(len(faces), n, replace=False)):
        side = int(rng.integers(170, 250))
        photo = cv2.GaussianBlur(rng.integers(60, 200, (350, 350, 3)).astype(np.uint8), (0, 0), 15)
        y, x = rng.integers(0, 350 - side, 2)
        face = cv2.resize(cv2.imread(str(faces[k])), (side, side), interpolation=cv2.INTER_CUBIC)
        photo[y : y + side, x : x + side] = face
        if labels is not None:
            labels.append(faces[k].parent.name)
        paths.append(out / f"p{i:03d}.jpg")
        cv2.imwrite(str(paths[-1]), photo, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return paths


def timed(*args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "ferkit", *args], capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--precisions", nargs="+", default=["auto", "fp32"])
    args = ap.parse_args()
    result = {"environment": environment(Device("cpu")), "portraits": args.n, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_portraits(Path(tmp) / "portraits", args.n)
        one = Path(tmp) / "one"
        one.mkdir()
        (one / paths[0].name).write_bytes(paths[0].read_bytes())
        for precision in args.precisions:
            options = ("-f", "jsonl", "--quiet", "--precision", precision)
            total, out = timed("detect", str(paths[0].parent), *options)
            start, _ = timed("detect", str(one), *options)
            records = [json.loads(line) for line in out.splitlines()]
            result["runs"][precision] = {
                "portraits_per_s": round((args.n - 1) / (total - start), 1),
                "whole_process_s": round(total, 2),
                "one_photo_process_s": round(start, 2),
                "exactly_one_face": sum(len(r["faces"]) == 1 for r in records),
            }
            print(precision, result["runs"][precision])
    write_result("portraits", result)


if __name__ == "__main__":
    main()
