"""eval-detector's scoring on tiny data with a stand-in detector: splits, AP by size, bad input, EXIF."""

import json

import numpy as np
import pytest
from PIL import Image

from ferkit.detector.eval_samples import yolo_val_samples
from ferkit.detector.evaluate import evaluate_detector
from ferkit.errors import DataError
from tests.helpers import FixedDetector, make_wider, write_yolo

# a: 40 px face at (10, 10)-(50, 50) and a 4 px one; c (event 1): invalid, degenerate, 80 px face clipped
A_FACE = (10 / 120, 10 / 100, 50 / 120, 50 / 100, 0.9)
C_FACE = (50 / 120, 50 / 100, 1.0, 1.0, 0.8)


def score(data, boxes, **kw):
    kw = {"min_size": 24, "progress": False, **kw}
    return evaluate_detector("stand-in", data, detector=FixedDetector(boxes), **kw)


def test_wider_root_is_scored_on_held_out_photos_and_held_out_events(tmp_path):
    root = make_wider(tmp_path / "wider")
    report = score(root, [A_FACE], val_fraction=0.9, val_events="Handshaking")
    assert list(report.splits) == ["val", "val_events"]
    photos, events = report.splits["val"], report.splits["val_events"]
    assert (photos.images, photos.faces, events.images, events.faces) == (2, 1, 1, 1)
    assert photos.at_conf["tp"] == 1 and photos.at_conf["fp"] == 1  # the same box on b, which has no face
    assert events.at_conf["tp"] == 0 and events.ap == 0.0


def test_ap_by_size(tmp_path):
    root = make_wider(tmp_path / "wider")
    report = score(root, [A_FACE, C_FACE], val_fraction=0.99, val_events="none")
    s = report.splits["val"]
    assert s.faces_by_size == {"small": 0, "medium": 2, "large": 0}  # a's 40 px face, c's 80 px face
    # both boxes on all 3 photos: at 0.9 one hit in 3 boxes, at 0.8 the second hit in 6: AP 1/3
    assert s.faces == 2 and s.ap == pytest.approx(1 / 3) and s.ap_by_size["medium"] == pytest.approx(1 / 3)
    assert np.isnan(s.ap_by_size["large"]) and np.isnan(s.ap_by_size["small"])
    assert s.f1_by_size["medium"] == pytest.approx(2 * 2 / (2 * 2 + 4 + 0)) and np.isnan(
        s.f1_by_size["large"]
    )


def test_outputs_json_and_a_plot_per_split(tmp_path):
    root = make_wider(tmp_path / "wider")
    report = score(root, [A_FACE], val_fraction=0.9, val_events="1", out_dir=tmp_path / "out")
    data = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert set(data["splits"]) == {"val", "val_events"}
    assert data["splits"]["val"]["ap_by_size"]["large"] is None  # no large faces: undefined, not NaN
    for split in ("val", "val_events"):
        assert (tmp_path / "out" / f"pr_curve_{split}.png").stat().st_size > 0
    assert "event-held-out val" in report.table() and "per-photo val" in report.table()
    assert "medium 32-96 px" in report.table() and "F1 at chosen conf" in report.table()


@pytest.fixture
def yolo_with_events(tmp_path):
    image = np.full((100, 200, 3), 80, np.uint8)
    return write_yolo(tmp_path / "yolo", {"val": 2, "val_events": 2}, image, "0 0.25 0.5 0.3 0.6\n")


def test_yolo_data_with_val_events_reports_both(yolo_with_events):
    report = score(yolo_with_events, [(0.1, 0.2, 0.4, 0.8, 0.9)])
    assert {k: (v.images, v.at_conf["tp"]) for k, v in report.splits.items()} == {
        "val": (2, 2),
        "val_events": (2, 2),
    }


def test_malformed_label_is_an_error_or_skipped_and_counted(yolo_with_events):
    bad = yolo_with_events.parent / "labels" / "val" / "1.txt"
    bad.write_text("0 0.25 0.5 0.3 0.6\n0 0.5 oops 0.1 0.1\n")
    with pytest.raises(DataError, match=r"1\.txt:2: non-numeric"):
        score(yolo_with_events, [])
    report = score(yolo_with_events, [(0.1, 0.2, 0.4, 0.8, 0.9)], skip_bad=True)
    assert report.splits["val"].images == 1 and len(report.skipped) == 1
    assert "1.txt:2" in report.skipped[0]


def test_labels_of_exif_rotated_photos_use_the_displayed_size(tmp_path):
    root = tmp_path / "yolo"
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 200 x 100, shown rotated by 90 degrees: 100 x 200
    Image.new("RGB", (200, 100)).save(root / "images" / "val" / "r.jpg", exif=exif)
    (root / "labels" / "val" / "r.txt").write_text("0 0.5 0.25 0.5 0.1\n")
    data = root / "data.yaml"
    data.write_text(f"path: {root}\ntrain: images/val\nval: images/val\n")
    [sample] = yolo_val_samples(data)
    np.testing.assert_allclose(sample.boxes, [[25, 40, 75, 60]])
