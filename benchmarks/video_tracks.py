"""Do video tracks mean people? Tracks per scene, one-frame tracks and tracks across cuts, on clips with cuts.

Two 10 s clips at 25 frames/s, each of five photos shown 2 s apiece while the 640x360 window pans across
them (four hard cuts): ``scenes``, the clip of ``benchmarks.video_speed`` (3-8 faces per photo), and
``crowds``, five WIDER FACE crowd photos (Parade, Demonstration, Riot, Stock Market, Shoppers) with many small
faces. The pipeline runs once per frame at its defaults; its per-frame results are then tracked again
under each tracker setting (``confirm``: processed frames before a track is reported; ``scene_cut``: the
histogram distance that ends every track, 0 off), every frame processed and every 5th (``--fps 5``).

For each setting: confirmed tracks, tracks per scene against the faces seen per frame there (median),
the share of tracks seen in one frame, and tracks that span a cut.

    python -m benchmarks.video_tracks
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import SHARED, environment, write_result
from benchmarks.video_speed import SIZE, make_clip
from ferkit.datasets.wider import find_wider_layout, parse_wider_gt
from ferkit.device import select_device
from ferkit.pipeline import Pipeline
from ferkit.types import FrameResult
from ferkit.video.config import VideoOptions
from ferkit.video.scenes import SceneCuts
from ferkit.video.summary import TrackLog
from ferkit.video.tracker import IouTracker

CROWD_EVENTS = ("0--Parade", "2--Demonstration", "3--Riot", "15--Stock_Market", "23--Shoppers")
SCENE_S = 2.0


def crowd_photos() -> list[Path]:
    """Per event, the first photo (by name) with 15 to 60 faces: a crowd."""
    images, gt = find_wider_layout(SHARED / "wider_face")
    picks = {}
    for im in sorted(parse_wider_gt(gt), key=lambda im: im.path):
        event = im.path.split("/")[0]
        if event in CROWD_EVENTS and event not in picks and 15 <= len(im.boxes) <= 60:
            picks[event] = images / im.path
    return [picks[e] for e in CROWD_EVENTS if e in picks]


def write_crowd_clip(path: Path, seconds: float, fps: int) -> int:
    photos = crowd_photos()
    per_photo, n = round(SCENE_S * fps), round(seconds * fps)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, SIZE)
    for i in range(n):
        img = cv2.imread(str(photos[(i // per_photo) % len(photos)]))
        scale = max(SIZE[0] / img.shape[1], SIZE[1] / img.shape[0]) * 1.15
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        t = (i % per_photo) / per_photo
        x, y = round(t * (img.shape[1] - SIZE[0])), round(t * (img.shape[0] - SIZE[1]))
        writer.write(np.ascontiguousarray(img[y : y + SIZE[1], x : x + SIZE[0]]))
    writer.release()
    return n


def detect_frames(pipe: Pipeline, clip: Path) -> tuple[list, list[float]]:
    """(per-frame ImageResult, time) and each frame's scene distance from the one before."""
    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS)
    images = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        images.append(frame)
    cap.release()
    results = []
    for i in range(0, len(images), 8):
        batch = images[i : i + 8]
        results += pipe.run_arrays(["clip"] * len(batch), batch)
    times = [i / fps for i in range(len(images))]
    return list(zip(results, times, images, strict=True)), times


def replay(frames: list, class_names, every: int, confirm: int, scene_cut: float) -> dict:
    """Track the cached results as ``iter_video`` does; the track figures."""
    opts = VideoOptions(confirm=confirm, scene_cut=scene_cut)
    tracker = IouTracker(class_names, opts.track_iou, opts.max_lost, opts.smooth, confirm)
    cuts, log = SceneCuts(scene_cut), TrackLog(class_names)
    faces_per_frame: dict[int, list[int]] = {}
    for res, t, image in frames[::every]:
        if cuts.is_cut(image):
            tracker.reset()
        faces = tracker.update(res.faces, t)
        for tid, before in tracker.take_confirmed():
            log.add_before(tid, before)
        log.add(FrameResult("clip", 0, t, 640, 360, faces))
        faces_per_frame.setdefault(int(t // SCENE_S), []).append(len(res.faces))
    tracks = log.summaries()
    scene_of = {t.track_id: (int(t.first_s // SCENE_S), int(t.last_s // SCENE_S)) for t in tracks}
    per_scene = {
        str(s): {
            "tracks": sum(1 for a, _ in scene_of.values() if a == s),
            "faces_per_frame_median": float(np.median(n)),
        }
        for s, n in sorted(faces_per_frame.items())
    }
    n = len(tracks)
    return {
        "every": every,
        "confirm": confirm,
        "scene_cut": scene_cut,
        "tracks": n,
        "one_frame_tracks": sum(t.frames_seen == 1 for t in tracks),
        "one_frame_share": round(sum(t.frames_seen == 1 for t in tracks) / n, 3) if n else 0.0,
        "tracks_across_cuts": sum(a != b for a, b in scene_of.values()),
        "per_scene": per_scene,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--fps", type=int, default=25)
    args = ap.parse_args()
    pipe = Pipeline.from_pretrained(device="cpu")
    result: dict = {"what": __doc__.split("\n")[0], "clips": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in (("scenes", make_clip), ("crowds", write_crowd_clip)):
            clip = Path(tmp) / f"{name}.mp4"
            make(clip, args.seconds, args.fps)
            frames, _ = detect_frames(pipe, clip)
            rows = []
            for every in (1, 5):
                for confirm, cut in ((1, 0.0), (1, 0.4), (2, 0.4), (3, 0.4), (4, 0.4), (5, 0.4)):
                    r = replay(frames, pipe.class_names, every, confirm, cut)
                    rows.append(r)
                    print(name, {k: v for k, v in r.items() if k != "per_scene"}, flush=True)
            result["clips"][name] = rows
    defaults = VideoOptions()
    result["defaults"] = {"confirm": defaults.confirm, "scene_cut": defaults.scene_cut}
    result["environment"] = environment(select_device("cpu"))
    write_result("video_tracks", result)


if __name__ == "__main__":
    main()
