"""Shared fixtures: tiny synthetic datasets built in tmp folders, a tiny trained classifier, no network."""

from __future__ import annotations

import os
import socket
import struct
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

# ultralytics reads its settings and cached assets (fonts) from here: start every test session from an empty
# folder, so the tests show that nothing needs to be downloaded.
os.environ["YOLO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="ferkit-tests-yolo-")

FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def make_face(rng: np.random.Generator, size: int = 48, cls: int = 0) -> np.ndarray:
    """A random gray image with a class-dependent bright blob, so tiny models can learn something."""
    img = rng.integers(0, 120, (size, size)).astype(np.uint8)
    cx = int((cls + 0.5) * size / 7)
    cv2.circle(img, (cx, size // 2), size // 8, 250, -1)
    return img


@pytest.fixture(scope="session")
def fer_folder(tmp_path_factory) -> Path:
    """ROOT/{train,val}/<class>/*.png with the 7 FER2013 classes."""
    root = tmp_path_factory.mktemp("fer_folder")
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("val", 2)):
        for k, cls in enumerate(FER_CLASSES):
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                cv2.imwrite(str(d / f"{i}.png"), make_face(rng, cls=k))
    return root


def write_fer_csv(path: Path, rows: list[tuple[int, str, str]]) -> Path:
    path.write_text("emotion,pixels,Usage\n" + "".join(f"{e},{p},{u}\n" for e, p, u in rows))
    return path


@pytest.fixture(scope="session")
def fer_csv(tmp_path_factory) -> Path:
    """A Kaggle-style CSV with Training and PublicTest rows of random 48x48 pixels."""
    rng = np.random.default_rng(1)
    rows = []
    for usage, n in (("Training", 4), ("PublicTest", 2), ("PrivateTest", 1)):
        for e in range(7):
            for _ in range(n):
                rows.append((e, " ".join(map(str, make_face(rng, cls=e).ravel())), usage))
    return write_fer_csv(tmp_path_factory.mktemp("fer_csv") / "fer2013.csv", rows)


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory, fer_folder) -> Path:
    """best.pt of a one-epoch alexnet_s run on the tiny folder dataset."""
    from ferkit.classifier.train import ClassifierTrainConfig, fit

    project = tmp_path_factory.mktemp("cls_runs")
    cfg = ClassifierTrainConfig(
        data=str(fer_folder), epochs=1, batch_size=8, device="cpu", project=str(project), name="tiny"
    )
    return fit(cfg, log=lambda *_: None) / "best.pt"


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


@pytest.fixture
def bad_images(tmp_path) -> dict[str, Path]:
    """Files that are not readable images, each failing for a different reason."""
    good = np.full((40, 40, 3), 128, np.uint8)
    _, jpg = cv2.imencode(".jpg", good)
    files = {
        "empty": tmp_path / "empty.jpg",
        "text": tmp_path / "notes.jpg",
        "truncated": tmp_path / "truncated.jpg",
        "huge": tmp_path / "huge.png",
    }
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not an image\n")
    files["truncated"].write_bytes(jpg.tobytes()[: len(jpg) // 2])
    png_with_size(files["huge"], 20000, 20000)
    return files


@pytest.fixture
def no_network(monkeypatch) -> list:
    """Fail any attempt to open a network connection or resolve a host; the list records attempts."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access is disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


@pytest.fixture(scope="session")
def real_photo() -> Path:
    """A real public-domain portrait (Grace Hopper) shipped with matplotlib."""
    from matplotlib import cbook

    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


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


@pytest.fixture(scope="session")
def tiny_yolo(tmp_path_factory) -> Path:
    """A generated YOLO face dataset (8 train, 4 val images) and its data.yaml."""
    root = tmp_path_factory.mktemp("tiny_yolo")
    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("val", 4)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(n):
            img, labels = draw_faces(rng)
            cv2.imwrite(str(root / "images" / split / f"{i}.jpg"), img)
            (root / "labels" / split / f"{i}.txt").write_text("\n".join(labels) + "\n")
    data = root / "data.yaml"
    data.write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n  0: face\n")
    return data


@pytest.fixture(scope="session")
def tiny_detector_run(tmp_path_factory, tiny_yolo) -> Path:
    """A one-epoch detector run at imgsz 64 (the run folder)."""
    from ferkit.detector.train import train_detector

    return train_detector(tiny_detector_config(tiny_yolo, tmp_path_factory.mktemp("det_runs"), "tiny"))


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


@pytest.fixture(scope="session")
def wild_folder(tmp_path_factory) -> Path:
    """A second 7-class folder dataset (an ExpW stand-in) with its own val split."""
    return write_face_folder(tmp_path_factory.mktemp("wild") / "wild", FER_CLASSES, {"train": 4, "val": 2}, 5)
