"""COCO JSON to the YOLO face layout, and the training mirror that keeps the user's folder as it was."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import yaml

from ferkit.datasets.coco import coco_to_yolo, mirror_yolo_data
from ferkit.errors import DataError


@pytest.fixture
def coco(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    images, anns = [], []
    for i in range(10):
        cv2.imwrite(str(photos / f"p{i}.jpg"), np.zeros((100, 200, 3), np.uint8))
        images.append({"id": i, "file_name": f"p{i}.jpg", "width": 200, "height": 100})
        anns.append({"id": 2 * i, "image_id": i, "category_id": 1, "bbox": [10, 20, 40, 30]})
        anns.append({"id": 2 * i + 1, "image_id": i, "category_id": 2, "bbox": [180, 90, 50, 50]})  # clipped
    cats = [{"id": 1, "name": "face"}, {"id": 2, "name": "hand"}]
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path, photos


def test_a_coco_export_becomes_a_yolo_data_set(coco, tmp_path):
    path, photos = coco
    report = coco_to_yolo(path, photos, tmp_path / "yolo", val_fraction=0.2, category="face")
    assert report.images == {"val": 2, "train": 8} and report.faces == {"val": 2, "train": 8}
    data = yaml.safe_load(report.data_yaml.read_text())
    assert data["names"] == {0: "face"} and data["val"] == "images/val"
    label = next((tmp_path / "yolo" / "labels" / "train").glob("*.txt")).read_text().split()
    assert label == ["0", "0.150000", "0.350000", "0.200000", "0.300000"]  # centre and size, as fractions
    every = coco_to_yolo(path, photos, tmp_path / "all", val_fraction=0.0)
    assert every.faces == {"train": 20}  # both categories; the box past the edge is clipped to it


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda d: d["images"].append({"id": 99, "file_name": "gone.jpg"}), "gone.jpg' not found"),
        (lambda d: d["annotations"].append({"id": 7, "image_id": 0, "bbox": "x"}), "annotation 7 has no"),
        (lambda d: d.pop("annotations"), "not a COCO file"),
    ],
)
def test_bad_coco_files_are_one_clear_error(coco, tmp_path, damage, says):
    path, photos = coco
    d = json.loads(path.read_text())
    damage(d)
    path.write_text(json.dumps(d))
    with pytest.raises(DataError, match=says):
        coco_to_yolo(path, photos, tmp_path / "out")


def test_the_mirror_links_files_into_folders_of_its_own(coco, tmp_path):
    path, photos = coco
    data = coco_to_yolo(path, photos, tmp_path / "yolo", val_fraction=0.2).data_yaml
    mirrored = mirror_yolo_data(data, tmp_path / "run" / "data")
    cfg = yaml.safe_load(mirrored.read_text())
    assert cfg["path"] == str((tmp_path / "run" / "data").resolve()) and cfg["train"] == "images/train"
    train = tmp_path / "run" / "data" / "images" / "train"
    assert not train.is_symlink() and all(f.is_symlink() for f in train.iterdir())
    assert len(list((tmp_path / "run" / "data" / "labels" / "train").iterdir())) == 8
