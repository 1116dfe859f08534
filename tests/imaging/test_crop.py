import numpy as np
import pytest

from ferkit.imaging.crop import CropRecipe, crop_face, expand_box
from ferkit.types import Box

IMG = np.arange(100 * 200).reshape(100, 200).astype(np.int64)


@pytest.mark.parametrize(
    ("box", "margin", "square", "expected"),
    [
        (Box(50, 20, 70, 60), 0.0, False, Box(50, 20, 70, 60)),
        (Box(50, 20, 70, 60), 0.0, True, Box(40, 20, 80, 60)),
        (Box(50, 20, 70, 60), 0.25, True, Box(30, 10, 90, 70)),
        (Box(50, 20, 70, 60), -0.25, False, Box(55, 30, 65, 50)),
        (Box(-10, -10, 20, 20), 0.0, True, Box(0, 0, 20, 20)),  # clipped
        (Box(190, 90, 230, 130), 0.0, True, Box(190, 90, 200, 100)),
    ],
)
def test_expand_box(box, margin, square, expected):
    assert expand_box(box, margin, 200, 100, square) == expected


def test_crop_face_takes_the_expanded_pixels():
    crop = crop_face(IMG, Box(50, 20, 70, 60), CropRecipe(margin=0.0, square=False))
    assert crop.shape == (40, 20)
    assert crop[0, 0] == IMG[20, 50]


@pytest.mark.parametrize("box", [Box(10, 10, 10, 10), Box(500, 500, 600, 600), Box(-50, -50, -10, -10)])
def test_degenerate_boxes_still_give_a_crop(box):
    assert crop_face(IMG, box).size >= 1


def test_the_recipe_frames_the_crop():
    box = Box(50, 20, 70, 60)  # 20 x 40
    assert crop_face(IMG, box, CropRecipe(margin=0.25, square=False)).shape == (60, 30)
    assert crop_face(IMG, box, CropRecipe(margin=0.0, square=True)).shape == (40, 40)
