import numpy as np
import pytest

from ferkit.config import RunOptions
from ferkit.errors import ConfigError
from ferkit.pipeline import Pipeline
from ferkit.types import Face, ImageResult
from tests.helpers import TWO_FACES, FixedDetector

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("image", "color"),
    [
        (RNG.integers(0, 255, (60, 80, 3)).astype(np.uint8), "bgr"),
        (RNG.integers(0, 255, (60, 80, 3)).astype(np.uint8), "rgb"),
        (RNG.integers(0, 255, (60, 80)).astype(np.uint8), "bgr"),
        (RNG.integers(0, 255, (60, 80, 4)).astype(np.uint8), "rgb"),
        (RNG.integers(0, 65535, (60, 80, 3)).astype(np.uint16), "bgr"),
    ],
)
def test_run_on_arrays(two_face_pipeline, image, color):
    r = two_face_pipeline.run(image, color=color)
    assert isinstance(r, ImageResult) and r.ok and (r.width, r.height) == (80, 60)
    assert len(r.faces) == 2 and all(isinstance(f, Face) for f in r.faces)
    names = two_face_pipeline.class_names
    for f in r.faces:
        assert set(f.emotion_probs) == set(names) and f.emotion in names
        assert sum(f.emotion_probs.values()) == pytest.approx(1.0, abs=1e-4)
        assert f.emotion_score == max(f.emotion_probs.values())


def test_faces_are_best_first_and_capped(classifier):
    r = Pipeline(classifier, FixedDetector(TWO_FACES)).run(np.zeros((40, 40, 3), np.uint8))
    assert [f.det_score for f in r.faces] == [0.9, 0.6]
    capped = Pipeline(classifier, FixedDetector(TWO_FACES), max_faces=1).run(np.zeros((40, 40, 3), np.uint8))
    assert [f.det_score for f in capped.faces] == [0.9]


@pytest.mark.parametrize(
    ("min_face", "per_call", "kept"),
    [(0, None, [0.9, 0.6]), (13, None, [0.9]), (17, None, []), (13, 0, [0.9, 0.6]), (0, 13, [0.9])],
)
def test_faces_below_min_face_pixels_are_left_out(classifier, min_face, per_call, kept):
    # on 40x40 the faces are 12x16 (score 0.6) and 16x24 pixels (0.9)
    pipe = Pipeline(classifier, FixedDetector(TWO_FACES), min_face=min_face)
    r = pipe.run_arrays(["a"], [np.zeros((40, 40, 3), np.uint8)], options=RunOptions(min_face=per_call))[0]
    assert [f.det_score for f in r.faces] == kept
    assert pipe.min_face == min_face  # the call did not change the pipeline


def test_min_face_counts_original_pixels_of_a_reduced_decode(classifier):
    pipe = Pipeline(classifier, FixedDetector(TWO_FACES), min_face=26)
    # decoded at 40x40 from an 80x80 file: the faces are 24 and 32 pixels wide there
    r = pipe.run_arrays(["a"], [np.zeros((40, 40, 3), np.uint8)], full_sizes=[(80, 80)])[0]
    assert [f.det_score for f in r.faces] == [0.9]
    with pytest.raises(ConfigError, match="min_face"):
        RunOptions(min_face=-1)


def test_emotions_keeps_only_faces_of_those_emotions(classifier):
    image = np.zeros((200, 200, 3), np.uint8)  # faces big enough to read
    every = Pipeline(classifier, FixedDetector(TWO_FACES)).run(image).faces
    first = every[0].emotion
    kept = Pipeline(classifier, FixedDetector(TWO_FACES), emotions=f" {first.upper()} ").run(image).faces
    assert kept == [f for f in every if f.emotion == first] and kept
    others = [c for c in classifier.class_names if c not in {f.emotion for f in every}]
    assert Pipeline(classifier, FixedDetector(TWO_FACES), emotions=others).run(image).faces == []
    with pytest.raises(ConfigError, match=r"unknown emotion.*joy.*predicts.*happy"):
        Pipeline(classifier, FixedDetector(TWO_FACES), emotions="happy,joy")


def test_the_prior_is_part_of_a_runs_settings(tiny_classifier):
    from ferkit.classifier.predictor import EmotionClassifier

    natural = EmotionClassifier.from_pretrained(tiny_classifier, "cpu", backend="torch")
    balanced = EmotionClassifier.from_pretrained(tiny_classifier, "cpu", backend="torch", prior="balanced")
    a = Pipeline(natural, FixedDetector(TWO_FACES)).settings()
    b = Pipeline(balanced, FixedDetector(TWO_FACES)).settings()
    assert (a["prior"], b["prior"]) == ("natural", "balanced")  # a resumed run never mixes the two


def test_the_classifiers_own_precision_is_part_of_a_runs_settings():
    """Each model's precision is its own (auto measures each): a change of the classifier's alone is caught
    on resume."""
    from ferkit.classifier.predictor import EmotionClassifier

    detector = FixedDetector(TWO_FACES)
    detector.precision = "fp32"
    fp32 = EmotionClassifier.from_pretrained("default", "cpu", backend="openvino", precision="fp32")
    bf16 = EmotionClassifier.from_pretrained("default", "cpu", backend="openvino", precision="bf16")
    a, b = Pipeline(fp32, detector).settings(), Pipeline(bf16, detector).settings()
    assert "classifier_precision" not in a and b["classifier_precision"] == "bf16"
    assert a["precision"] == b["precision"] == "fp32"


def test_boxes_are_in_original_pixels(two_face_pipeline):
    r = two_face_pipeline.run(np.zeros((100, 200, 3), np.uint8))
    assert r.faces[0].box_xyxy.as_list() == [100.0, 20.0, 180.0, 80.0]


def test_no_faces_is_an_empty_list(classifier):
    r = Pipeline(classifier, FixedDetector([])).run(np.zeros((40, 40, 3), np.uint8))
    assert r.ok and r.faces == []


def test_no_detect_classifies_the_whole_image(classifier):
    r = Pipeline(classifier, None).run(np.zeros((30, 20), np.uint8))
    assert (
        len(r.faces) == 1 and r.faces[0].box_xyxy.as_list() == [0, 0, 20, 30] and r.faces[0].det_score == 1.0
    )


def test_batch_mixes_good_and_bad_inputs(two_face_pipeline, tmp_path, bad_images):
    good = tmp_path / "good.png"
    import cv2

    cv2.imwrite(str(good), np.zeros((40, 40, 3), np.uint8))
    results = two_face_pipeline.run_batch([good, bad_images["text"], np.zeros((10, 10), np.uint8)])
    assert [r.ok for r in results] == [True, False, True]
    assert "not an image" in results[1].error and results[1].faces == []
    assert results[2].source == "<array 2>"


def test_same_crop_gives_same_prediction_in_and_out_of_batch(two_face_pipeline):
    img = RNG.integers(0, 255, (60, 80, 3)).astype(np.uint8)
    alone = two_face_pipeline.run(img)
    batched = two_face_pipeline.run_batch([np.zeros((50, 50, 3), np.uint8), img])[1]
    assert alone.faces[0].emotion_probs == pytest.approx(batched.faces[0].emotion_probs, abs=1e-5)


def test_color_says_how_an_array_is_ordered(two_face_pipeline):
    """An RGB array with color='rgb' gives what its BGR twin gives; read as BGR, the faces change."""
    rng = np.random.default_rng(3)
    bgr = np.zeros((60, 80, 3), np.uint8)
    bgr[..., 0] = rng.integers(0, 255, (60, 80))  # a strong blue channel: gray differs when swapped
    rgb = bgr[..., ::-1].copy()

    def probs(result):
        return [f.emotion_probs for f in result.faces]

    assert probs(two_face_pipeline.run(rgb, color="rgb")) == probs(two_face_pipeline.run(bgr))
    assert probs(two_face_pipeline.run(rgb, color="bgr")) != probs(two_face_pipeline.run(bgr))


def test_big_jpegs_are_decoded_reduced_with_boxes_in_full_pixels(classifier, tmp_path):
    """decode_side: a 4000 px JPEG reaches the detector at a fraction of its size; the result still speaks
    in its full pixels, and the timer counts the decode."""
    import cv2

    class Recording(FixedDetector):
        def detect(self, images, conf=None):
            self.shapes = [im.shape[:2] for im in images]
            return super().detect(images, conf)

    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), np.full((3000, 4000, 3), 128, np.uint8))
    det = Recording(TWO_FACES)
    pipe = Pipeline(classifier, det)  # decode_side 1024 by default
    r = pipe.run(path)
    assert max(det.shapes[0]) < 4000 and max(det.shapes[0]) >= 1024  # decoded at 1/2: 2000 x 1500
    assert (r.width, r.height) == (4000, 3000) and r.faces[0].box_xyxy.x2 == pytest.approx(0.9 * 4000)
    Pipeline(classifier, det, decode_side=None).run(path)
    assert det.shapes[0] == (3000, 4000)
    assert pipe.timer.seconds["decode"] > 0 and pipe.timer.seconds["classify"] > 0


@pytest.mark.parametrize(("kw", "message"), [({"max_faces": 0}, "max_faces"), ({"margin": 5.0}, "margin")])
def test_bad_options(classifier, kw, message):
    with pytest.raises(ConfigError, match=message):
        Pipeline(classifier, None, **kw)


def test_stream_yields_in_order_without_reading_all_inputs_first(two_face_pipeline, tmp_path):
    import cv2

    paths = []
    for i in range(7):
        p = tmp_path / f"s{i}.png"
        cv2.imwrite(str(p), np.full((30 + i, 40, 3), 10 * i, np.uint8))
        paths.append(p)
    taken: list[int] = []

    def lazy():
        for i, p in enumerate(paths):
            taken.append(i)
            yield p

    stream = two_face_pipeline.stream(lazy(), batch_size=2)
    first = next(stream)
    assert first.source == str(paths[0]) and first.source_abs == str(paths[0].resolve())
    assert len(taken) <= 4  # this batch and the one decoded ahead, not all seven
    rest = list(stream)
    assert [r.height for r in [first, *rest]] == [30 + i for i in range(7)]


def test_stream_of_arrays_names_them_by_position(two_face_pipeline):
    results = list(
        two_face_pipeline.stream((np.zeros((20, 20, 3), np.uint8) for _ in range(3)), batch_size=2)
    )
    assert [r.source for r in results] == ["<array 0>", "<array 1>", "<array 2>"]
    assert all(r.source_abs is None for r in results)
    with pytest.raises(ConfigError, match="batch_size"):
        next(two_face_pipeline.stream([], batch_size=0))
