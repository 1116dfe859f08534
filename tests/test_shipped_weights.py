"""The weights shipped inside the package load offline and give sane outputs."""

import numpy as np
import pytest

from ferkit.classifier.predictor import EmotionClassifier
from ferkit.detector.exported import ExportedYolo
from ferkit.detector.face_detector import FaceDetector
from ferkit.pipeline import Pipeline
from ferkit.types import Box, Detection
from ferkit.weights import packaged_weights, resolve_weights


@pytest.mark.parametrize("kind", ["classifier", "detector"])
def test_default_weights_are_in_the_package(kind):
    path = resolve_weights(kind, "default")
    assert path == packaged_weights(kind) and path.stat().st_size < 8 * 2**20


def test_shipped_classifier_predicts_seven_probabilities():
    clf = EmotionClassifier.from_pretrained(device="cpu")
    assert clf.class_names == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert clf.meta.grouping.name == "fer7" and clf.meta.input_size == 48
    probs = clf.predict_proba([np.random.default_rng(0).integers(0, 255, (48, 48)).astype(np.uint8)])
    assert probs.shape == (1, 7) and probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_shipped_detector_finds_no_face_in_noise_and_one_in_a_portrait(no_network, real_photo):
    det = FaceDetector(device="cpu")
    assert det.detect(np.random.default_rng(0).integers(0, 255, (240, 320, 3)).astype(np.uint8)) == []
    found = det.detect(real_photo)
    assert len(found) == 1 and isinstance(found[0], Detection) and found[0].score > 0.5
    assert no_network == []


def test_shipped_pipeline_finds_the_face_in_a_real_photo(real_photo):
    result = Pipeline.from_pretrained(device="cpu").run(real_photo)
    assert result.ok and len(result.faces) == 1
    face = result.faces[0]
    # Grace Hopper's face is in the upper middle of the 512x600 portrait
    assert (
        150 < (face.box_xyxy.x1 + face.box_xyxy.x2) / 2 < 350
        and 80 < (face.box_xyxy.y1 + face.box_xyxy.y2) / 2 < 330
    )
    assert face.box_xyxy.width > 100 and face.det_score > 0.5


def test_shipped_classifier_is_the_sharp_two_dataset_model():
    clf = EmotionClassifier.from_pretrained(device="cpu")
    names = {p.rstrip("/").rsplit("/", 1)[-1] for p in clf.meta.train_config["data"]}
    assert names == {"fer2013", "expw"}
    assert clf.meta.blur_sigma == 0.0  # no train/val blur mismatch on the sharp data: no input blur
    assert clf.crop.margin == 0.05 and clf.crop.square
    val = clf.meta.metrics["val"]
    assert val["fer2013"]["accuracy"] > 0.6 and val["expw"]["accuracy"] > 0.6


def test_shipped_detector_finds_one_face_in_a_frame_filling_portrait(real_photo):
    """A face cropped to fill the whole photo: one face, not the face and a part of it, at the photo's own
    size and enlarged to 512 (a fixed size with min_side 512), with or without the `contained` rule."""
    import cv2

    from ferkit.imaging.images import read_image

    image = read_image(real_photo)
    box = FaceDetector(device="cpu").detect(image)[0].box
    side = max(box.x2 - box.x1, box.y2 - box.y1)
    x, y = int((box.x1 + box.x2 - side) / 2), int((box.y1 + box.y2 - side) / 2)
    portrait = cv2.resize(image[y : y + int(side), x : x + int(side)], (350, 350))
    for det in (
        FaceDetector(device="cpu"),
        FaceDetector(device="cpu", imgsz=512, min_side=512),
        FaceDetector(device="cpu", imgsz=512, min_side=512, contained=2.0),
    ):
        [face] = det.detect(portrait)
        assert face.box.width > 250 and face.box.height > 250


def test_boxes_inside_a_higher_scored_box_are_dropped_unless_contained_is_off(monkeypatch):
    """Detector v2 also boxed parts of an enlarged frame-filling face; the `contained` rule drops such
    boxes (the rule itself: tests/detector/test_metrics.py)."""
    whole, part = Detection(Box(10, 10, 300, 320), 0.8), Detection(Box(60, 80, 200, 220), 0.5)
    image = np.zeros((350, 350, 3), np.uint8)
    for options, expected in (({}, [whole]), ({"contained": 2.0}, [whole, part])):
        det = FaceDetector(device="cpu", **options)
        monkeypatch.setattr(
            ExportedYolo, "predict", lambda self, arrays, *a, **k: [[whole, part] for _ in arrays]
        )
        assert det.detect(image) == expected


def test_shipped_detector_records_the_events_it_never_trained_on():
    split = FaceDetector(device="cpu").recorded_split
    assert split["val_fraction"] == 0.1
    events = ["16--Award_Ceremony", "22--Picnic", "25--Soldier_Patrol", "27--Spa", "31--Waiter_Waitress"]
    assert split["val_events"] == [*events, "33--Running"]
