import numpy as np
import pytest

from ferkit.datasets.yolo import check_yolo_dataset, label_path, read_labels, read_split
from ferkit.errors import DataError
from tests.helpers import copy_yolo


def make_yolo(root, labels: dict[str, str]):
    import cv2

    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    for name, text in labels.items():
        split = "val" if name.startswith("v") else "train"
        cv2.imwrite(str(root / "images" / split / f"{name}.jpg"), np.zeros((20, 40, 3), np.uint8))
        (root / "labels" / split / f"{name}.txt").write_text(text)
    (root / "data.yaml").write_text(
        f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n  0: face\n"
    )
    return root / "data.yaml"


def test_read_labels_scales_to_pixels(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("0 0.5 0.5 0.5 0.5\n\n")
    np.testing.assert_allclose(read_labels(f, 40, 20), [[10, 5, 30, 15]])
    assert read_labels(tmp_path / "missing.txt", 40, 20).shape == (0, 4)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 0.5 0.5 1.5 0.5", r"a.txt:1: coordinates must be normalised"),
        ("0 0.5 0.5 -0.1 0.5", "normalised"),
        ("0 0.5 0.5 0.5", "expected 'class cx cy w h'"),
        ("0.5 0.5 0.5 0.5 0.5", "non-negative integer"),
        ("0 a 0.5 0.5 0.5", "non-numeric"),
    ],
)
def test_bad_label_lines(tmp_path, line, message):
    f = tmp_path / "a.txt"
    f.write_text(line + "\n")
    with pytest.raises(DataError, match=message):
        read_labels(f, 10, 10)


def test_check_dataset(tmp_path):
    data = make_yolo(tmp_path, {"t1": "0 0.5 0.5 0.2 0.2\n", "t2": "", "v1": "0 0.1 0.1 0.1 0.1\n"})
    assert check_yolo_dataset(data) == {"train": 2, "val": 1}
    assert read_split(data, "val").labels[0] == tmp_path / "labels" / "val" / "v1.txt"


def test_check_dataset_names_bad_label_file(tmp_path):
    data = make_yolo(tmp_path, {"t1": "0 0.5 0.5 2 0.2\n", "v1": ""})
    with pytest.raises(DataError, match=r"t1.txt:1"):
        check_yolo_dataset(data)


def test_missing_split_folder(tmp_path):
    (tmp_path / "data.yaml").write_text("train: images/train\nval: images/val\n")
    with pytest.raises(DataError, match="train folder not found"):
        check_yolo_dataset(tmp_path / "data.yaml")


def test_label_path_convention(tmp_path):
    assert label_path(tmp_path / "images" / "val" / "x.jpg") == tmp_path / "labels" / "val" / "x.txt"


def test_check_can_count_malformed_label_files_instead_of_stopping(tmp_path, tiny_yolo):
    data = copy_yolo(tiny_yolo, tmp_path / "copy").parent
    (data / "labels" / "train" / "3.txt").write_text("0 0.5 0.5 0.2\n")
    with pytest.raises(DataError, match=r"3\.txt:1: expected 'class cx cy w h'"):
        check_yolo_dataset(data / "data.yaml")
    bad: list[str] = []
    assert check_yolo_dataset(data / "data.yaml", bad) == {"train": 8, "val": 4}
    assert len(bad) == 1 and "3.txt:1" in bad[0]
