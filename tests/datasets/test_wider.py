import cv2
import numpy as np
import pytest

from ferkit.datasets.wider import parse_wider_gt, wider_to_yolo
from ferkit.datasets.yolo import check_yolo_dataset, read_labels, read_split
from ferkit.errors import DataError
from tests.helpers import make_wider


def test_parse_gt(tmp_path):
    images = parse_wider_gt(make_wider(tmp_path) / "wider_face_split" / "wider_face_train_bbx_gt.txt")
    assert [im.path for im in images] == ["0--Parade/a.jpg", "0--Parade/b.jpg", "1--Handshaking/c.jpg"]
    assert [len(im.boxes) for im in images] == [2, 0, 3]
    assert images[2].invalid.tolist() == [True, False, False]
    assert images[0].attributes[1, 0] == 2  # blur of the second face


@pytest.mark.parametrize(
    ("gt", "message"),
    [
        ("0--Parade/a.jpg\n3\n10 10 40 40 0 0 0 0 0 0\n", r"says 3 faces but the file ends"),
        ("0--Parade/a.jpg\n2\n10 10 40 40 0 0 0 0 0 0\n0--Parade/b.jpg\n0\n", r":4: expected 'x1 y1 w h"),
        ("0--Parade/a.jpg\ntwo\n", r":2: expected a face count"),
        ("0--Parade/a.jpg\n1\n10 10 x 40 0 0 0 0 0 0\n", r":3: non-numeric"),
        ("hello\n", r":1: expected an image path"),
    ],
)
def test_parse_gt_errors_name_file_and_line(tmp_path, gt, message):
    path = tmp_path / "gt.txt"
    path.write_text(gt)
    with pytest.raises(DataError, match=rf"gt.txt{message}" if message.startswith(":") else message):
        parse_wider_gt(path)


def test_convert(tmp_path):
    root = make_wider(tmp_path / "wider")
    report = wider_to_yolo(root, tmp_path / "yolo", val_fraction=0.0, min_size=8, val_events="none")
    assert report.images == {"train": 3, "val": 0, "val_events": 0}
    assert report.faces["train"] == 2  # a's 40px face, c's 80px face (clipped)
    assert (report.dropped_invalid, report.dropped_degenerate, report.dropped_small) == (1, 1, 1)
    a = read_labels(tmp_path / "yolo" / "labels" / "train" / "a.txt", 120, 100)
    np.testing.assert_allclose(a, [[10, 10, 50, 50]], atol=1e-3)
    c = read_labels(tmp_path / "yolo" / "labels" / "train" / "c.txt", 120, 100)
    np.testing.assert_allclose(c, [[50, 50, 120, 100]], atol=1e-3)  # clipped to the image
    assert (tmp_path / "yolo" / "labels" / "train" / "b.txt").read_text() == ""
    assert len(read_split(tmp_path / "yolo" / "data.yaml", "train").images) == 3


@pytest.mark.parametrize("mask_small", [False, True])
def test_convert_can_paint_over_small_faces(tmp_path, mask_small):
    root = make_wider(tmp_path / "wider")
    image = np.full((100, 120, 3), 200, np.uint8)
    image[20:24, 60:64] = 0  # a's 4 px face (dropped as small)
    image[10:50, 10:50] = 40  # a's 40 px face (kept)
    cv2.imwrite(str(root / "WIDER_train" / "images" / "0--Parade" / "a.jpg"), image)
    report = wider_to_yolo(
        root, tmp_path / "yolo", val_fraction=0.0, min_size=8, mask_small=mask_small, val_events="none"
    )
    out = cv2.imread(str(tmp_path / "yolo" / "images" / "train" / "a.jpg"))
    assert report.masked_small == (1 if mask_small else 0)
    small = int(out[21:23, 61:63].mean())
    assert small > 100 if mask_small else small < 40
    assert abs(int(out[20:40, 20:40].mean()) - 40) < 8  # the kept face is untouched


def test_converted_dataset_validates(tmp_path):
    report = wider_to_yolo(
        make_wider(tmp_path / "wider"), tmp_path / "yolo", val_fraction=0.2, val_events="1"
    )
    assert check_yolo_dataset(report.data_yaml) == report.images


def test_convert_corrupt_image(tmp_path):
    root = make_wider(tmp_path / "wider")
    (root / "WIDER_train" / "images" / "0--Parade" / "b.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"b\.jpg: not an image"):
        wider_to_yolo(root, tmp_path / "yolo")
    report = wider_to_yolo(root, tmp_path / "yolo2", skip_bad=True)
    assert len(report.skipped_images) == 1 and sum(report.images.values()) == 2


def test_convert_missing_layout(tmp_path):
    with pytest.raises(DataError, match="not a WIDER FACE root"):
        wider_to_yolo(tmp_path, tmp_path / "out")
