import numpy as np
import pytest

from ferkit.boxes import contained_in_higher, iou_matrix
from ferkit.detector.metrics import FP, IGNORED, SIZE_BINS, TP, match_image, pr_curve

FACE = [10, 10, 50, 50]
FACE2 = [100, 100, 140, 140]
SMALL = [200, 200, 210, 210]  # shorter side 10 px


@pytest.mark.parametrize(
    ("case", "dets", "scores", "gts", "invalid", "min_size", "expected", "n_faces"),
    [
        ("perfect", [FACE, FACE2], [0.9, 0.8], [FACE, FACE2], None, 0, [TP, TP], 2),
        ("shifted a little", [[14, 14, 54, 54]], [0.9], [FACE], None, 0, [TP], 1),  # IoU 0.68
        ("shifted too far", [[30, 30, 70, 70]], [0.9], [FACE], None, 0, [FP], 1),  # IoU 0.14
        ("duplicate", [FACE, [11, 11, 51, 51]], [0.8, 0.9], [FACE], None, 0, [FP, TP], 1),
        ("miss", [], [], [FACE], None, 0, [], 1),
        ("empty image", [FACE], [0.5], [], None, 0, [FP], 0),
        ("nothing at all", [], [], [], None, 0, [], 0),
        ("small face ignored", [SMALL], [0.9], [SMALL], None, 24, [IGNORED], 0),
        ("small unmatched det ignored", [SMALL], [0.9], [FACE], None, 24, [IGNORED], 1),
        ("invalid face ignored", [FACE], [0.9], [FACE], [True], 0, [IGNORED], 0),
        ("ignored absorbs duplicates", [FACE, FACE], [0.9, 0.8], [FACE], [True], 0, [IGNORED, IGNORED], 0),
        ("valid beats ignored", [FACE], [0.9], [FACE, FACE], [True, False], 0, [TP], 1),
        ("best IoU wins", [[12, 12, 52, 52]], [0.9], [[30, 30, 70, 70], FACE], None, 0, [TP], 2),
    ],
)
def test_match_image(case, dets, scores, gts, invalid, min_size, expected, n_faces):
    status, n = match_image(np.array(dets), np.array(scores), np.array(gts), invalid, 0.5, min_size)
    assert status.tolist() == expected
    assert n == n_faces


def test_greedy_order_is_by_score_not_input_order():
    # the higher-scored, worse-overlapping detection takes the face first
    status, _ = match_image(np.array([FACE, [14, 14, 54, 54]]), np.array([0.5, 0.9]), np.array([FACE]))
    assert status.tolist() == [FP, TP]


def test_iou_matrix():
    m = iou_matrix(np.array([FACE]), np.array([FACE, [30, 10, 70, 50], [60, 60, 70, 70]]))
    np.testing.assert_allclose(m, [[1.0, 1 / 3, 0.0]])
    assert iou_matrix(np.zeros((0, 4)), np.array([FACE])).shape == (0, 1)


def test_pr_curve_counts_and_best_threshold():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.3])
    status = np.array([TP, TP, FP, IGNORED, TP])
    curve = pr_curve(scores, status, n_faces=4)
    assert curve.at(0.75) == {
        "conf": 0.75,
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "tp": 2,
        "fp": 0,
        "fn": 2,
    }
    assert curve.at(0.0)["tp"] == 3 and curve.at(0.0)["fp"] == 1
    assert curve.best()["conf"] == 0.3  # F1 0.75 beats 0.667
    assert curve.at(0.95) == {
        "conf": 0.95,
        "precision": 1.0,
        "recall": 0.0,
        "f1": 0.0,
        "tp": 0,
        "fp": 0,
        "fn": 4,
    }


def test_pr_curve_ties_are_kept_together():
    curve = pr_curve(np.array([0.5, 0.5]), np.array([TP, FP]), n_faces=1)
    assert curve.thresholds.tolist() == [0.5] and curve.at(0.5)["fp"] == 1


def test_pr_curve_empty():
    curve = pr_curve(np.zeros(0), np.zeros(0), n_faces=3)
    assert curve.best()["recall"] == 0.0 and curve.best()["fn"] == 3


LARGE = [0, 0, 120, 140]  # shorter side 120 px
MEDIUM = [300, 300, 340, 350]  # 40 px
TINY = [400, 400, 428, 428]  # 28 px


@pytest.mark.parametrize(
    ("case", "dets", "gts", "size_bin", "expected", "n_faces"),
    [
        ("medium face counted in its bin", [MEDIUM], [MEDIUM, LARGE], "medium", [TP], 1),
        ("hit on a face of another bin is ignored", [LARGE], [MEDIUM, LARGE], "medium", [IGNORED], 1),
        ("stray box of another size: ignored", [[500, 0, 620, 130]], [MEDIUM], "medium", [IGNORED], 1),
        ("stray box of the bin size: false alarm", [[500, 0, 540, 40]], [MEDIUM], "medium", [FP], 1),
        ("small bin starts at min_size", [TINY], [TINY, SMALL], "small", [TP], 1),
        ("large bin is open-ended", [LARGE], [LARGE], "large", [TP], 1),
    ],
)  # fmt: skip
def test_match_image_by_size(case, dets, gts, size_bin, expected, n_faces):
    scores = np.linspace(0.9, 0.5, len(dets))
    status, n = match_image(np.array(dets), scores, np.array(gts), None, 0.5, 24, SIZE_BINS[size_bin])
    assert (status.tolist(), n) == (expected, n_faces)


@pytest.mark.parametrize(
    ("status", "n_faces", "ap"),
    [
        ([TP, TP], 2, 1.0),  # every face found before any false alarm
        ([TP, FP], 2, 0.5),  # half the faces, at precision 1
        ([FP, TP], 1, 0.5),  # the one face at precision 1/2
        ([TP, FP, TP], 2, 0.5 + 0.5 * 2 / 3),  # second face at precision 2/3
        ([FP, FP], 2, 0.0),
        ([], 2, 0.0),
    ],
)
def test_average_precision(status, n_faces, ap):
    scores = np.linspace(0.9, 0.1, len(status))
    curve = pr_curve(scores, np.array(status, dtype=np.int8), n_faces)
    assert curve.average_precision() == pytest.approx(ap)


def test_average_precision_uses_the_precision_envelope():
    # precision 1, 1/2, 2/3: the second face's step counts at the best precision from there on (2/3)
    curve = pr_curve(np.array([0.9, 0.8, 0.7]), np.array([TP, FP, TP]), n_faces=3)
    assert curve.average_precision() == pytest.approx(1 / 3 + 1 / 3 * 2 / 3)


def test_average_precision_without_faces_is_undefined():
    assert np.isnan(pr_curve(np.array([0.9]), np.array([FP]), n_faces=0).average_precision())


OUTER = [0, 0, 100, 120]


@pytest.mark.parametrize(
    ("case", "boxes", "scores", "share", "keep"),
    [
        ("a part inside the face", [OUTER, [50, 10, 100, 60]], [0.9, 0.7], 0.8, [True, False]),
        ("a part that scores higher stays", [OUTER, [50, 10, 100, 60]], [0.6, 0.7], 0.8, [True, True]),
        ("half inside is kept", [OUTER, [80, 10, 120, 60]], [0.9, 0.7], 0.8, [True, True]),
        ("separate faces", [FACE, FACE2], [0.9, 0.8], 0.8, [True, True]),
        ("a dropped box removes nothing", [OUTER, [10, 10, 90, 110], [20, 20, 80, 100]], [0.9, 0.8, 0.7], 0.8,
         [True, False, False]),
        ("off above 1", [OUTER, [50, 10, 100, 60]], [0.9, 0.7], 1.5, [True, True]),
        ("none", [], [], 0.8, []),
    ],
)  # fmt: skip
def test_contained_in_higher(case, boxes, scores, share, keep):
    assert contained_in_higher(np.array(boxes), np.array(scores), share).tolist() == keep


def test_a_weighted_curve_counts_a_photo_drawn_twice_twice():
    scores, status = np.array([0.9, 0.8, 0.7]), np.array([TP, FP, TP])
    twice = pr_curve(np.r_[scores, scores[:1]], np.r_[status, status[:1]], 4)  # detection 0's photo again
    weighted = pr_curve(scores, status, 4, weights=np.array([2, 1, 1]))
    np.testing.assert_array_equal(weighted.thresholds, twice.thresholds)  # the repeat ties with its original
    np.testing.assert_array_equal(weighted.tp, twice.tp)
    np.testing.assert_array_equal(weighted.fp, twice.fp)
    assert weighted.at(0.5) == twice.at(0.5) and weighted.average_precision() == twice.average_precision()


def _photos(hits: list[list[int]], faces: list[int]):
    """Photos of detections (1: hit, 0: false alarm), scored from 0.99 down in input order."""
    out, score = [], 0.99
    for h, n in zip(hits, faces, strict=True):
        sc = score - 0.01 * np.arange(len(h))
        score -= 0.01 * len(h)
        out.append((np.array([TP if v else FP for v in h], dtype=np.int8), sc, n))
    return out


@pytest.mark.parametrize(
    ("hits_a", "hits_b", "f1_diff", "significant"),
    [
        ([[1, 1]] * 40, [[1, 1]] * 40, 0.0, False),  # the same detections: no difference, no interval
        ([[1, 0]] * 40, [[1, 1]] * 40, 0.5, True),  # B finds every face; A half of them, with false alarms
        ([[1, 0]] * 20 + [[1, 1]] * 20, [[1, 1]] * 20 + [[1, 0]] * 20, 0.0, False),  # as good, other photos
    ],
)
def test_paired_photo_bootstrap(hits_a, hits_b, f1_diff, significant):
    from ferkit.detector.metrics import paired_photo_bootstrap

    a, b = _photos(hits_a, [2] * len(hits_a)), _photos(hits_b, [2] * len(hits_b))
    r = paired_photo_bootstrap(a, b, conf=0.0, resamples=300)
    f1 = r["f1"]
    assert f1.difference == pytest.approx(f1_diff, abs=1e-9) and f1.b - f1.a == pytest.approx(f1.difference)
    assert f1.low <= f1.difference + 1e-12 and f1.difference <= f1.high + 1e-12
    assert (f1.low > 0 or f1.high < 0) is significant
    assert r["ap"].low <= r["ap"].high and r["ap"].b - r["ap"].a == pytest.approx(r["ap"].difference)


def test_paired_photo_bootstrap_needs_the_same_photos():
    from ferkit.detector.metrics import paired_photo_bootstrap

    with pytest.raises(ValueError, match="same, non-empty"):
        paired_photo_bootstrap(_photos([[1]], [1]), _photos([[1], [1]], [1, 1]), 0.35)
    with pytest.raises(ValueError, match="different faces"):
        paired_photo_bootstrap(_photos([[1]], [1]), _photos([[1]], [2]), 0.35)
