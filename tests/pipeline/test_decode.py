"""Big JPEGs decoded at reduced scale: boxes stay in the full image's pixels."""

import cv2
import numpy as np
import pytest
from PIL import Image

from ferkit.boxes import iou_matrix
from ferkit.imaging.draw import annotate
from ferkit.imaging.images import read_image, read_image_reduced
from ferkit.pipeline import Pipeline
from ferkit.types import Box, Face, ImageResult


def boxes(result):
    return np.array([f.box_xyxy.as_list() for f in result.faces])


@pytest.fixture(scope="module")
def pipes():
    reduced = Pipeline.from_pretrained(device="cpu", imgsz=512)  # one detector view for every photo size
    whole = Pipeline(reduced.classifier, reduced.detector, decode_side=None)
    return reduced, whole


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.jpg"
    big = cv2.resize(cv2.imread("docs/example.jpg"), (3144, 1680), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path


def test_reduced_decode_keeps_a_long_side_of_at_least_decode_side(big_jpeg):
    array, full = read_image_reduced(big_jpeg, 1024)
    assert full == (3144, 1680) and array.shape == (840, 1572, 3)  # decoded at 1/2
    small, full = read_image_reduced("docs/example.jpg", 1024)
    assert full == (786, 420) and small.shape == (420, 786, 3)  # small files are decoded whole


def test_boxes_are_in_full_pixels_and_match_a_whole_decode(pipes, big_jpeg):
    reduced, whole = pipes
    a, b = reduced.run(big_jpeg), whole.run(big_jpeg)
    assert (a.width, a.height) == (b.width, b.height) == (3144, 1680)
    assert len(a.faces) == len(b.faces) == 2
    assert iou_matrix(boxes(a), boxes(b)).max(axis=1).min() >= 0.95
    small = whole.run("docs/example.jpg")  # the same photo at 1/4 of the size
    assert iou_matrix(boxes(a) / 4, boxes(small)).max(axis=1).min() >= 0.9
    assert [f.emotion for f in a.faces] == [f.emotion for f in b.faces]


def test_exif_rotated_big_jpeg(pipes, big_jpeg, tmp_path):
    """Stored landscape with orientation 6 (displayed rotated): sizes and boxes are the displayed ones."""
    reduced, whole = pipes
    rotated = tmp_path / "rotated.jpg"
    stored = Image.open(big_jpeg).transpose(Image.Transpose.ROTATE_90)  # what a camera stores
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(rotated, exif=exif, quality=95)
    assert read_image(rotated).shape[:2] == (1680, 3144)  # displayed upright again
    a, b = reduced.run(rotated), whole.run(rotated)
    assert (a.width, a.height) == (3144, 1680)
    assert iou_matrix(boxes(a), boxes(b)).max(axis=1).min() >= 0.95


def test_annotations_of_a_reduced_image_land_on_the_face():
    image = np.zeros((100, 200, 3), np.uint8)  # a 400x200 photo decoded at 1/2
    face = Face(Box(100, 40, 200, 160), 0.9, "happy", {"happy": 1.0})
    drawn = annotate(image, ImageResult("x.jpg", 400, 200, [face]), ["happy"])
    ys, xs = np.nonzero(drawn[20:].any(axis=2))  # below the label: the box, at half scale
    assert (xs.min(), xs.max(), ys.max() + 20) == (50, 100, 80)
