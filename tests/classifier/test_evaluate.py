import json

import numpy as np
import pytest
import torch

from ferkit.classifier.evaluate import classification_metrics, evaluate_classifier
from ferkit.classifier.predictor import tta_views


def test_metrics_on_known_predictions():
    y = np.array([0, 0, 1, 1, 2])
    probs = np.array([[0.9, 0.1, 0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.3, 0.6, 0.1], [0.1, 0.1, 0.8]])
    m = classification_metrics(y, probs, ("a", "b", "c"))
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["per_class_accuracy"] == {"a": 0.5, "b": 1.0, "c": 1.0}
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [0, 0, 1]]
    assert m["roc_auc"]["c"] == pytest.approx(1.0)
    assert m["macro_f1"] == pytest.approx(np.mean([2 / 3, 0.8, 1.0]))


def test_auc_is_none_for_a_class_absent_from_the_split():
    m = classification_metrics(np.array([0, 0]), np.array([[0.6, 0.4], [0.7, 0.3]]), ("a", "b"))
    assert m["roc_auc"] == {"a": None, "b": None}


@pytest.mark.parametrize("tta", [False, True])
def test_evaluate_writes_json_and_plot(tmp_path, tiny_classifier, fer_folder, tta):
    report = evaluate_classifier(
        str(tiny_classifier), str(fer_folder), "val", tta=tta, device="cpu", out_dir=tmp_path
    )
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 0
    for key in ("accuracy", "macro_f1", "per_class_accuracy", "roc_auc", "confusion", "class_names", "n"):
        assert key in data
    assert data["n"] == 14 and len(data["confusion"]) == 7 and data["tta"] is tta
    assert "accuracy" in report.table() and "surprise" in report.table()
    lines = report.table().splitlines()
    head = lines[lines.index(next(x for x in lines if x.startswith("confusion matrix"))) + 1]
    assert head.split() == list(report.class_names)  # whole names as column heads ("surprise", not "surpris")


def test_tta_views_are_mirrors_and_corner_crops_resized_as_torch_does():
    import torch.nn.functional as F

    x = np.random.default_rng(0).normal(size=(2, 1, 48, 48)).astype(np.float32)
    views = tta_views(x)
    assert len(views) == 10 and all(v.shape == (2, 1, 48, 48) and v.dtype == np.float32 for v in views)
    np.testing.assert_array_equal(views[5], x[..., ::-1])
    corner = torch.from_numpy(x)[..., 3:48, 0:45]  # the (shift, 0) corner: view 3
    want = F.interpolate(corner, size=(48, 48), mode="bilinear", align_corners=False).numpy()
    np.testing.assert_allclose(views[3], want, atol=1e-6)


def test_evaluate_many_loads_on_the_backend_asked_for(tiny_classifier, fer_folder):
    from ferkit.classifier.evaluate import evaluate_many
    from ferkit.errors import FerError

    [report] = evaluate_many(str(tiny_classifier), [str(fer_folder)], device="cpu", backend="torch")
    assert 0 <= report.accuracy <= 1 and report.backend == "torch"
    with pytest.raises(FerError, match="backend"):
        evaluate_many(str(tiny_classifier), [str(fer_folder)], device="cpu", backend="tensorflow")


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_scikit_learn(seed):
    from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 300)
    probs = rng.random((300, 5)).round(1)  # rounded: many tied scores; class 4 never true
    probs[y == 2, 2] += 0.3
    m = classification_metrics(y, probs, ("a", "b", "c", "d", "e"))
    pred = probs.argmax(1)
    np.testing.assert_array_equal(m["confusion"], confusion_matrix(y, pred, labels=range(5)))
    f1 = f1_score(y, pred, labels=range(5), average="macro", zero_division=0)
    assert m["macro_f1"] == pytest.approx(f1)
    for i, c in enumerate("abcd"):
        assert m["roc_auc"][c] == pytest.approx(roc_auc_score(y == i, probs[:, i]))
    assert m["roc_auc"]["e"] is None


@pytest.mark.parametrize(
    ("a", "b", "diff", "only", "significant"),
    [
        ([1] * 50 + [0] * 50, [1] * 50 + [0] * 50, 0.0, (0, 0), False),  # the same answers: no difference
        ([1] * 50 + [0] * 50, [1] * 90 + [0] * 10, 0.4, (0, 40), True),  # B right on 40 more of 100
        ([1, 0] * 50, [0, 1] * 50, 0.0, (50, 50), False),  # as often right, on other images
        ([1] * 90 + [0] * 10, [1] * 60 + [0] * 40, -0.3, (30, 0), True),  # B worse
    ],
)
def test_paired_bootstrap_on_known_answers(a, b, diff, only, significant):
    from ferkit.classifier.evaluate import paired_bootstrap

    r = paired_bootstrap(np.array(a), np.array(b), resamples=500)
    assert r.difference == pytest.approx(diff) and (r.only_a_right, r.only_b_right) == only
    assert r.low <= r.difference <= r.high and r.significant is significant
    assert r.accuracy_b - r.accuracy_a == pytest.approx(diff)


def test_paired_bootstrap_needs_the_same_images():
    from ferkit.classifier.evaluate import paired_bootstrap

    with pytest.raises(ValueError, match="equally long"):
        paired_bootstrap(np.ones(3, bool), np.ones(4, bool))
