"""Shared fixtures: tiny synthetic datasets built in tmp folders, a tiny trained classifier, no network."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

# ultralytics reads its settings and cached assets (fonts) from here: start every test session from an empty
# folder, so the tests show that nothing needs to be downloaded.
os.environ["YOLO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="ferkit-tests-yolo-")

from tests.helpers import (
    FER_CLASSES,
    TWO_FACES,
    FixedDetector,
    draw_faces,
    make_face,
    png_with_size,
    tiny_detector_config,
    write_face_folder,
    write_fer_csv,
)


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
    return fit(cfg, log=lambda *_: None) / "weights" / "best.pt"


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
    # as wider-to-yolo records its split; weights exported from runs on this data carry it
    split = "ferkit_split:\n  val_fraction: 0.9\n  val_events: [1--Handshaking]\n"
    data.write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n  0: face\n{split}")
    return data


@pytest.fixture(scope="session")
def tiny_detector_run(tmp_path_factory, tiny_yolo) -> Path:
    """A one-epoch detector run at imgsz 64 (the run folder)."""
    from ferkit.detector.train import train_detector

    return train_detector(tiny_detector_config(tiny_yolo, tmp_path_factory.mktemp("det_runs"), "tiny"))


@pytest.fixture(scope="session")
def wild_folder(tmp_path_factory) -> Path:
    """A second 7-class folder dataset (an ExpW stand-in) with its own val split."""
    return write_face_folder(tmp_path_factory.mktemp("wild") / "wild", FER_CLASSES, {"train": 4, "val": 2}, 5)


@pytest.fixture(scope="session")
def classifier(tiny_classifier):
    """The tiny classifier, loaded."""
    from ferkit.classifier.predictor import EmotionClassifier

    return EmotionClassifier.from_pretrained(tiny_classifier, device="cpu")


@pytest.fixture(scope="session")
def two_face_pipeline(classifier):
    """The tiny classifier behind a stand-in detector that always finds the same two faces (a pipeline is
    immutable: one for the whole session)."""
    from ferkit.pipeline import Pipeline

    return Pipeline(classifier, FixedDetector(TWO_FACES))


@pytest.fixture(scope="session")
def default_pipeline():
    """The shipped models on the CPU, as ``Pipeline.from_pretrained`` gives them to a user."""
    from ferkit.pipeline import Pipeline

    return Pipeline.from_pretrained(device="cpu")


@pytest.fixture
def photo_folder(tmp_path) -> Path:
    """Five small generated photos, one in a subfolder."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i in range(4):
        cv2.imwrite(str(folder / f"p{i}.jpg"), rng.integers(0, 255, (60, 80, 3)).astype(np.uint8))
    cv2.imwrite(str(folder / "sub" / "deep.png"), rng.integers(0, 255, (50, 50, 3)).astype(np.uint8))
    return folder
