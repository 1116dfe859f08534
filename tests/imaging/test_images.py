import cv2
import numpy as np
import pytest
from PIL import Image

from ferkit.errors import DataError
from ferkit.imaging.images import is_pattern, read_image, to_bgr8


@pytest.mark.parametrize(
    ("array", "color", "expected_pixel"),
    [
        (np.full((4, 4), 100, np.uint8), "bgr", [100, 100, 100]),
        (np.full((4, 4, 1), 100, np.uint8), "bgr", [100, 100, 100]),
        (np.tile(np.array([10, 20, 30], np.uint8), (4, 4, 1)), "bgr", [10, 20, 30]),
        (np.tile(np.array([10, 20, 30], np.uint8), (4, 4, 1)), "rgb", [30, 20, 10]),
        (np.full((4, 4), 65535, np.uint16), "bgr", [255, 255, 255]),
        (np.full((4, 4, 3), 0.5, np.float32), "bgr", [128, 128, 128]),
        (
            np.tile(np.array([0, 0, 0, 0], np.uint8), (4, 4, 1)),
            "bgr",
            [255, 255, 255],
        ),  # transparent -> white
        (np.tile(np.array([10, 20, 30, 255], np.uint8), (4, 4, 1)), "rgb", [30, 20, 10]),
    ],
)
def test_to_bgr8(array, color, expected_pixel):
    out = to_bgr8(array, color)
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    assert out[0, 0].tolist() == expected_pixel


@pytest.mark.parametrize("shape", [(0, 0), (4, 4, 2), (2, 2, 2, 2)])
def test_to_bgr8_rejects_non_images(shape):
    with pytest.raises(DataError, match="not an image array"):
        to_bgr8(np.zeros(shape, np.uint8))


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [("L", 77, [77, 77, 77]), ("I;16", 65535, [255, 255, 255]), ("RGBA", (255, 0, 0, 255), [0, 0, 255])],
)
def test_read_image_modes(tmp_path, mode, value, expected):
    path = tmp_path / "x.png"
    Image.new(mode, (6, 5), value).save(path)
    out = read_image(path)
    assert out.shape == (5, 6, 3) and out[0, 0].tolist() == expected


def test_read_image_applies_exif_orientation(tmp_path):
    im = Image.new("RGB", (8, 4), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = tmp_path / "r.jpg"
    im.save(path, exif=exif)
    assert read_image(path).shape == (8, 4, 3)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("empty", "empty file"),
        ("text", "not an image"),
        ("truncated", "corrupt or truncated"),
        ("huge", "too large"),
    ],
)
def test_read_image_errors_name_the_file(bad_images, bad, message):
    with pytest.raises(DataError, match=message) as exc:
        read_image(bad_images[bad])
    assert bad_images[bad].name in str(exc.value)


def test_read_image_missing_and_folder(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_image(tmp_path / "nope.jpg")
    with pytest.raises(DataError, match="is a folder"):
        read_image(tmp_path)


def test_read_image_matches_opencv(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (10, 12, 3)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), img)


def test_unknown_files_stay_a_data_error_after_ultralytics_patches_pil(bad_images):
    from ferkit.detector.yolo import ultralytics_module

    ultralytics_module()  # replaces PIL.Image.open with a version that looks for a HEIF plugin
    with pytest.raises(DataError, match="not an image"):
        read_image(bad_images["text"])


@pytest.mark.parametrize(
    ("name", "exists", "pattern"),
    [
        ("*.jpg", False, True),
        ("shots/img_?.png", False, True),
        ("img_[0-9].png", False, True),
        ("img_[1].png", True, False),  # a file whose name holds a bracket is that file
        ("plain.jpg", False, False),
    ],
)
def test_is_pattern(tmp_path, monkeypatch, name, exists, pattern):
    monkeypatch.chdir(tmp_path)
    if exists:
        (tmp_path / name).write_bytes(b"")
    assert is_pattern(name) is pattern
