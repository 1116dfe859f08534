"""Helpers shared by the tests: tiny synthetic data and stand-ins, built in tmp folders (one home)."""

from __future__ import annotations

import struct
import threading
import time
import zlib
from pathlib import Path

import cv2
import numpy as np

from ferkit.types import Box, Detection, ImageResult


def fer(*args):
    """Run the ``fer`` command in-process (Typer's CliRunner); every argument is passed as a string."""
    from typer.testing import CliRunner

    from ferkit.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def make_face(rng: np.random.Generator, size: int = 48, cls: int = 0) -> np.ndarray:
    """A random gray image with a class-dependent bright blob, so tiny models can learn something."""
    img = rng.integers(0, 120, (size, size)).astype(np.uint8)
    cx = int((cls + 0.5) * size / 7)
    cv2.circle(img, (cx, size // 2), size // 8, 250, -1)
    return img


def write_fer_csv(path: Path, rows: list[tuple[int, str, str]]) -> Path:
    path.write_text("emotion,pixels,Usage\n" + "".join(f"{e},{p},{u}\n" for e, p, u in rows))
    return path


def png_with_size(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims ``width`` x ``height`` (to test huge-image handling cheaply)."""
    _, buf = cv2.imencode(".png", np.zeros((1, 1), np.uint8))
    data = bytearray(buf.tobytes())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))
    return path


def draw_faces(rng, size=96):
    """A noisy image with 1-2 bright ellipses ('faces'), and their YOLO labels."""
    img = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
    labels = []
    for _ in range(rng.integers(1, 3)):
        w, h = rng.integers(16, 32, 2)
        cx, cy = rng.integers(w // 2 + 2, size - w // 2 - 2), rng.integers(h // 2 + 2, size - h // 2 - 2)
        cv2.ellipse(img, (int(cx), int(cy)), (int(w // 2), int(h // 2)), 0, 0, 360, (210, 200, 190), -1)
        labels.append(f"0 {cx / size:.5f} {cy / size:.5f} {w / size:.5f} {h / size:.5f}")
    return img, labels


def tiny_detector_config(data: Path, project: Path, name: str):
    """One epoch at imgsz 64 on the tiny dataset: seconds on a CPU."""
    from ferkit.detector.train import DetectorTrainConfig

    return DetectorTrainConfig(
        data=str(data),
        imgsz=64,
        epochs=1,
        batch=4,
        device="cpu",
        workers=0,
        cache=False,
        project=str(project),
        name=name,
    )


def write_face_folder(root: Path, classes: tuple[str, ...], per_split: dict[str, int], seed: int = 0) -> Path:
    """ROOT/<split>/<class>/<i>.png of synthetic faces (see :func:`make_face`)."""
    rng = np.random.default_rng(seed)
    for split, n in per_split.items():
        for k, cls in enumerate(classes):
            d = root / split / cls
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                cv2.imwrite(str(d / f"{i}.png"), make_face(rng, cls=k % 7))
    return root


GT = """0--Parade/a.jpg
2
10 10 40 40 0 0 0 0 0 0
60 20 4 4 2 0 0 0 0 0
0--Parade/b.jpg
0
0 0 0 0 0 0 0 0 0 0
1--Handshaking/c.jpg
3
5 5 30 30 0 0 0 1 0 0
70 70 0 10 0 0 0 0 0 0
50 50 80 80 0 0 0 0 0 0
"""


def make_wider(root: Path, gt: str = GT, size=(100, 120)) -> Path:
    for rel in ("0--Parade/a.jpg", "0--Parade/b.jpg", "1--Handshaking/c.jpg"):
        p = root / "WIDER_train" / "images" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(p), np.full((*size, 3), 90, np.uint8))
    (root / "wider_face_split").mkdir(parents=True, exist_ok=True)
    (root / "wider_face_split" / "wider_face_train_bbx_gt.txt").write_text(gt)
    return root


class FixedDetector:
    """Stands in for FaceDetector: the same boxes (scaled to each image) for every image."""

    def __init__(self, boxes: list[tuple[float, float, float, float, float]], conf: float = 0.0):
        self.boxes = boxes  # fractions of width/height, and a score
        self.conf = conf  # boxes scored below are dropped, as the detector's conf does

    def detect(self, images, conf: float | None = None):
        conf = self.conf if conf is None else conf
        out = []
        for im in images:
            h, w = im.shape[:2]
            out.append(
                [
                    Detection(Box(x1 * w, y1 * h, x2 * w, y2 * h), s)
                    for x1, y1, x2, y2, s in self.boxes
                    if s >= conf
                ]
            )
        return out


TWO_FACES = [(0.1, 0.1, 0.4, 0.5, 0.6), (0.5, 0.2, 0.9, 0.8, 0.9)]


def write_yolo(root: Path, splits: dict[str, int], image: np.ndarray, labels: str, extra: str = "") -> Path:
    """A YOLO data set: ``splits[name]`` copies of ``image`` with ``labels`` per split; its data.yaml."""
    for split, n in splits.items():
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(root / "images" / split / f"{i}.jpg"), image)
            (root / "labels" / split / f"{i}.txt").write_text(labels)
    keys = "".join(f"{s}: images/{s}\n" for s in splits)
    if "train" not in splits:
        keys = f"train: images/{next(iter(splits))}\n" + keys
    data = root / "data.yaml"
    data.write_text(f"path: {root}\n{keys}names:\n  0: face\n{extra}")
    return data


def copy_yolo(data_yaml: Path, dst: Path) -> Path:
    """A copy of a YOLO data set (folder and data.yaml) that a test may damage; its data.yaml."""
    import shutil

    shutil.copytree(data_yaml.parent, dst)
    text = (dst / data_yaml.name).read_text().replace(str(data_yaml.parent), str(dst))
    (dst / data_yaml.name).write_text(text)
    return dst / data_yaml.name


def write_clip(path: Path, frames, fps: float = 25.0) -> Path:
    """Write BGR frames as a video (.mp4: MPEG-4; .avi: MJPEG, which also streams over plain HTTP)."""
    frames = list(frames)
    h, w = frames[0].shape[:2]
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def numbered_frames(n: int, size=(96, 64)):
    """Plain frames whose brightness encodes their index (index * 8), to check sampling."""
    return [np.full((size[1], size[0], 3), min(255, 8 * i), np.uint8) for i in range(n)]


def moving_faces_frames(portrait: Path, n: int, size=(320, 240)):
    """Two copies of a real portrait's face moving in opposite directions over a grey background."""
    face = cv2.resize(cv2.imread(str(portrait))[60:460, 110:470], (100, 110))
    frames = []
    for i in range(n):
        f = np.full((size[1], size[0], 3), 190, np.uint8)
        x1, x2 = 10 + 4 * i, size[0] - 110 - 3 * i
        f[10:120, x1 : x1 + 100] = face
        f[125:235, x2 : x2 + 100] = face
        frames.append(f)
    return frames


def jpeg(w: int = 80, h: int = 60) -> bytes:
    """A JPEG of seeded noise (the same bytes every call)."""
    rng = np.random.default_rng(0)
    return cv2.imencode(".jpg", rng.integers(0, 255, (h, w, 3)).astype(np.uint8))[1].tobytes()


class SlowPipeline:
    """Stands in for Pipeline: each run takes ``delay`` s (or waits for ``gate``); records batch sizes."""

    class_names = ("happy", "sad")
    detector = None

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None):
        self.delay, self.gate, self.batches = delay, gate, []

    def settings(self) -> dict:
        return {}

    def run_arrays(self, sources, arrays, options=None):
        self.batches.append(len(arrays))
        if self.gate is not None:
            self.gate.wait(10)
        time.sleep(self.delay)
        return [ImageResult(s, a.shape[1], a.shape[0]) for s, a in zip(sources, arrays, strict=True)]
