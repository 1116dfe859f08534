"""Ensembles average their members; crops are framed and normalised the one way the checkpoint says."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ferkit.classifier.checkpoint import export_checkpoint, load_checkpoint
from ferkit.classifier.ensemble import EnsembleClassifier, load_classifier
from ferkit.classifier.predictor import EmotionClassifier
from ferkit.classifier.train import ClassifierTrainConfig, fit
from ferkit.errors import WeightsError
from ferkit.imaging.crop import CropRecipe
from ferkit.pipeline import Pipeline
from tests.helpers import FixedDetector

RNG = np.random.default_rng(3)
CROPS = [RNG.integers(0, 255, (60, 50, 3)).astype(np.uint8), RNG.integers(0, 255, (30, 30)).astype(np.uint8)]


@pytest.fixture(scope="module")
def small_input_classifier(tmp_path_factory, fer_folder):
    """A member of another architecture and input size (alexnet_m at 24 px)."""
    project = tmp_path_factory.mktemp("ens")
    cfg = ClassifierTrainConfig(
        data=[str(fer_folder)],
        arch="alexnet_m",
        input_size=24,
        epochs=1,
        batch_size=8,
        device="cpu",
        project=str(project),
        name="m24",
    )
    return fit(cfg, log=lambda *_: None) / "weights" / "best.pt"


def test_ensemble_is_the_mean_of_members_of_any_size(tiny_classifier, small_input_classifier):
    a = EmotionClassifier.from_pretrained(tiny_classifier, device="cpu")
    b = EmotionClassifier.from_pretrained(small_input_classifier, device="cpu")
    ens = load_classifier([tiny_classifier, small_input_classifier], device="cpu")
    assert isinstance(ens, EnsembleClassifier) and ens.class_names == a.class_names
    expected = (a.predict_proba(CROPS) + b.predict_proba(CROPS)) / 2
    np.testing.assert_allclose(ens.predict_proba(CROPS), expected, atol=1e-6)
    label, probs = ens.predict(CROPS)[0]
    assert label == max(probs, key=probs.get)


def test_one_weight_in_a_list_is_a_plain_classifier(tiny_classifier):
    assert isinstance(load_classifier([tiny_classifier], device="cpu"), EmotionClassifier)


def test_members_must_share_classes(tiny_classifier, tmp_path, fer_folder):
    run = fit(
        ClassifierTrainConfig(
            data=[str(fer_folder)],
            grouping="fer6",
            epochs=1,
            batch_size=8,
            device="cpu",
            project=str(tmp_path),
        ),
        log=lambda *_: None,
    )
    with pytest.raises(WeightsError, match="ensemble members must share their classes"):
        load_classifier([tiny_classifier, run / "weights" / "best.pt"], device="cpu")


def test_pipeline_ensemble(tiny_classifier, small_input_classifier):
    pipe = Pipeline.from_pretrained(
        classifier_weights=[tiny_classifier, small_input_classifier], device="cpu", detect=False
    )
    r = pipe.run(CROPS[0])
    assert r.ok and len(r.faces) == 1
    ens = load_classifier([tiny_classifier, small_input_classifier], device="cpu")
    want = ens.predict_proba([CROPS[0]])[0]
    assert [r.faces[0].emotion_probs[c] for c in ens.class_names] == pytest.approx(want.tolist(), abs=1e-5)


def test_pipeline_frames_faces_with_the_checkpoint_recipe(tiny_classifier, tmp_path):
    wide = export_checkpoint(tiny_classifier, tmp_path / "wide.pt", crop=CropRecipe(margin=0.3, square=False))
    clf = EmotionClassifier.from_pretrained(wide, device="cpu")
    assert clf.crop == CropRecipe(margin=0.3, square=False)
    box = [(0.25, 0.25, 0.5, 0.75, 0.9)]
    seen = []

    class Spy:
        def __init__(self, inner):
            self.inner, self.crop, self.class_names = inner, inner.crop, inner.class_names

        def predict(self, crops, tta=False):
            seen.extend(c.shape[:2] for c in crops)
            return self.inner.predict(crops, tta)

    image = np.zeros((100, 100, 3), np.uint8)
    Pipeline(Spy(clf), FixedDetector(box)).run(image)
    assert (
        abs(seen[-1][0] - 80) <= 1 and abs(seen[-1][1] - 40) <= 1
    )  # 25x50 box grown by 30 % of its size on each side, not squared
    Pipeline(Spy(clf), FixedDetector(box), margin=0.0).run(image)
    assert abs(seen[-1][0] - 50) <= 1 and abs(seen[-1][1] - 25) <= 1  # an explicit margin wins
    old = load_checkpoint(tiny_classifier)[1]
    assert old.crop == CropRecipe()  # a checkpoint without a recipe gets the defaults


def test_crop_recipe_rejects_nonsense():
    from ferkit.errors import ConfigError

    for bad in ({"margin": 9.0}, {"interpolation": "nearest"}, {"color": "rgb"}):
        with pytest.raises(ConfigError):
            dataclasses.replace(CropRecipe(), **bad)


@pytest.mark.parametrize(
    ("crop", "same_as"),
    [
        (np.full((48, 48), 0.5, np.float32), np.full((48, 48), 128, np.uint8)),  # float in [0, 1]
        (np.full((48, 48), 128.0, np.float64), np.full((48, 48), 128, np.uint8)),  # float in 0..255
        (np.full((48, 48), 128 * 257, np.uint16), np.full((48, 48), 128, np.uint8)),  # 16-bit
        (np.full((48, 48, 1), 128, np.uint8), np.full((48, 48), 128, np.uint8)),  # one channel
    ],
)
def test_one_array_normalisation_for_crops(tiny_classifier, crop, same_as):
    from ferkit.imaging.images import to_bgr8, to_gray8

    clf = EmotionClassifier.from_pretrained(tiny_classifier, device="cpu")
    np.testing.assert_array_equal(clf.preprocess([crop]), clf.preprocess([same_as]))
    # the pipeline's image path gives the same pixels
    np.testing.assert_array_equal(to_gray8(to_bgr8(crop)), to_gray8(crop))


def test_folder_data_is_resized_as_inference_resizes(tmp_path):
    import cv2

    from ferkit.imaging.crop import resize_square
    from ferkit.imaging.images import read_gray

    img = np.random.default_rng(0).integers(0, 255, (96, 96)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "f.png"), img)
    np.testing.assert_array_equal(read_gray(tmp_path / "f.png", 48), resize_square(img, 48))


def test_validation_and_inference_preprocess_alike(tiny_classifier, fer_folder):
    """The tensors training scores val with are the ones EmotionClassifier makes from the image files."""
    import cv2

    from ferkit.classifier.preprocess import Preprocess
    from ferkit.classifier.splits import load_split

    clf = EmotionClassifier.from_pretrained(tiny_classifier, device="cpu")
    split = load_split(str(fer_folder), "val", clf.meta.grouping, clf.meta.input_size)
    photos = [cv2.imread(s, cv2.IMREAD_COLOR) for s in split.sources]  # as the pipeline reads photos
    np.testing.assert_array_equal(Preprocess(clf.meta).tensor(split.images), clf.preprocess(photos))


@pytest.mark.parametrize(
    ("backends", "named"), [(["torch", "torch"], "torch"), (["torch", "onnx"], "torch + onnx")]
)
def test_ensemble_names_each_members_backend_once(tiny_classifier, backends, named):
    members = [EmotionClassifier.from_pretrained(tiny_classifier, "cpu", b) for b in backends]
    ensemble = EnsembleClassifier(members)
    assert (ensemble.backend, ensemble.precision) == (named, "fp32")


def test_single_models_and_ensembles_are_classifiers_that_agree(tiny_classifier, small_input_classifier):
    from ferkit.classifier.protocol import Classifier

    a = EmotionClassifier.from_pretrained(tiny_classifier, device="cpu")
    b = EmotionClassifier.from_pretrained(small_input_classifier, device="cpu")
    both = EnsembleClassifier([a, b])
    assert isinstance(a, Classifier) and isinstance(both, Classifier)
    assert both.input_sizes == {a.meta.input_size, b.meta.input_size} and len(both.input_sizes) == 2
    rng = np.random.default_rng(0)
    images = {s: rng.integers(0, 255, (3, s, s)).astype(np.uint8) for s in both.input_sizes}
    mean = (a.predict_images(images) + b.predict_images(images)) / 2
    np.testing.assert_allclose(both.predict_images(images), mean, atol=1e-6)
