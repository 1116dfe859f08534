"""Speed of ``fer detect-and-classify clip.mp4 --out DIR`` on a 640x360 clip of real faces.

The clip is made here from WIDER FACE photos of events the shipped detector never trained on (Award
Ceremony, Picnic, Spa, Waiter/Waitress, Running): each photo is shown for 2 s while the 640x360 window
pans slowly across it, at 25 frames/s. Every frame is processed. The command runs as a user runs it (model
loading included in its wall time); frames/s is also reported for the processing loop alone.

    python -m benchmarks.video_speed [--seconds 10] [--fps 25] [--tracks-png docs/video_tracks.png]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import SHARED, environment, write_result
from ferkit.datasets.wider import find_wider_layout, parse_wider_gt
from ferkit.device import select_device

EVENTS = ("16--Award_Ceremony", "22--Picnic", "27--Spa", "31--Waiter_Waitress", "33--Running")
SIZE = (640, 360)


def scene_photos() -> list[Path]:
    """Per event, the first photo (by name) with 3 to 8 faces, all at least 24 px wide: a scene like a
    video's, not a crowd."""
    images, gt = find_wider_layout(SHARED / "wider_face")
    picks = {}
    for im in sorted(parse_wider_gt(gt), key=lambda im: im.path):
        event = im.path.split("/")[0]
        big = im.boxes[~im.invalid][:, 2] >= 24
        if event in EVENTS and event not in picks and 3 <= big.sum() == len(im.boxes) <= 8:
            picks[event] = images / im.path
    return [picks[e] for e in EVENTS]


def make_clip(path: Path, seconds: float, fps: int) -> int:
    """Write the clip; returns its frame count."""
    photos = scene_photos()
    per_photo = round(2 * fps)
    n = round(seconds * fps)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, SIZE)
    for i in range(n):
        img = cv2.imread(str(photos[(i // per_photo) % len(photos)]))
        scale = max(SIZE[0] / img.shape[1], SIZE[1] / img.shape[0]) * 1.15
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        t = (i % per_photo) / per_photo  # pan from one corner toward the other
        x = round(t * (img.shape[1] - SIZE[0]))
        y = round(t * (img.shape[0] - SIZE[1]))
        writer.write(np.ascontiguousarray(img[y : y + SIZE[1], x : x + SIZE[0]]))
    writer.release()
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--tracks-png", type=Path, help="also copy the command's tracks.png here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip, out = Path(tmp) / "clip.mp4", Path(tmp) / "out"
        frames = make_clip(clip, args.seconds, args.fps)
        cmd = [
            sys.executable,
            "-m",
            "ferkit",
            "detect-and-classify",
            str(clip),
            "--out",
            str(out),
            "-f",
            "json",
            "-q",
        ]
        t0 = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        records = json.loads(run.stdout)
        files = sorted(p.name for p in out.iterdir())
        if args.tracks_png:
            shutil.copyfile(out / "tracks.png", args.tracks_png)
        video = cv2.VideoCapture(str(out / "annotated.mp4"))
        written = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
        video.release()
        # the processing loop alone, in this process
        from ferkit.pipeline import Pipeline
        from ferkit.video.run import run_video

        pipe = Pipeline.from_pretrained(device="cpu")
        loop = run_video(pipe, clip, out=Path(tmp) / "out2", progress=False)
    faces = sum(len(r["faces"]) for r in records)
    result = {
        "clip": {
            "seconds": args.seconds,
            "fps": args.fps,
            "frames": frames,
            "size": list(SIZE),
            "events": EVENTS,
        },
        "command": " ".join(["fer", *cmd[3:5], "--out", "DIR"]),
        "frames_processed": len(records),
        "faces": faces,
        "tracks": loop.tracks.__len__(),
        "command_wall_s": round(wall, 2),
        "command_frames_per_s": round(len(records) / wall, 2),
        "loop_frames_per_s": round(loop.frames_per_s, 2),
        "files": files,
        "annotated_frames": written,
        "environment": environment(select_device("cpu")),
    }
    print(json.dumps(result, indent=2))
    write_result("video_speed", result)


if __name__ == "__main__":
    main()
