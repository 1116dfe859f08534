import cv2
import numpy as np
import pytest

from ferkit.datasets.fer2013 import load_faces, near_constant_mask, read_fer_csv, read_image_folder
from ferkit.errors import DataError
from tests.helpers import write_fer_csv

PIX = " ".join(["7"] * 2304)


@pytest.mark.parametrize(
    ("split", "n"), [("train", 28), ("val", 14), ("test", 7), ("Training", 28), (None, 49)]
)
def test_csv_splits(fer_csv, split, n):
    faces = read_fer_csv(fer_csv, split)
    assert len(faces) == n and faces.images.shape == (n, 48, 48) and faces.images.dtype == np.uint8
    assert set(faces.labels) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}


def test_csv_label_order_follows_fer2013(tmp_path):
    path = write_fer_csv(tmp_path / "a.csv", [(4, PIX, "Training"), (6, PIX, "Training")])
    assert read_fer_csv(path, "train").labels == ["sad", "neutral"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("3,1 2 3,Training", "not a square image"),
        ("9," + PIX + ",Training", "emotion 9 outside"),
        ("x," + PIX + ",Training", "malformed row"),
        ("3," + PIX, "expected 3 fields"),
        ("3," + " ".join(["300"] * 2304) + ",Training", "0..255"),
    ],
)
def test_csv_bad_rows_name_the_row(tmp_path, row, message):
    path = tmp_path / "bad.csv"
    path.write_text(f"emotion,pixels,Usage\n3,{PIX},Training\n{row}\n")
    with pytest.raises(DataError, match=rf"bad.csv:3: .*{message}"):
        read_fer_csv(path, "train")
    faces = read_fer_csv(path, "train", skip_bad=True)
    assert len(faces) == 1 and len(faces.skipped) == 1 and "bad.csv:3" in faces.skipped[0]


def test_csv_without_header(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text(f"3,{PIX},Training\n")
    with pytest.raises(DataError, match="'emotion' and 'pixels'"):
        read_fer_csv(path, "train")


def test_folder_reading(fer_folder):
    faces = read_image_folder(fer_folder, "train")
    assert len(faces) == 42 and faces.counts()["happy"] == 6


def test_folder_resizes_to_input_size(fer_folder):
    assert read_image_folder(fer_folder, "val", size=32).images.shape[1:] == (32, 32)


def test_folder_missing_split_lists_what_exists(fer_folder):
    with pytest.raises(DataError, match=r"split folder not found.*found: train, val"):
        read_image_folder(fer_folder, "test")


@pytest.mark.parametrize("bad", ["text", "truncated", "empty"])
def test_folder_unreadable_file(tmp_path, bad_images, bad):
    root = tmp_path / "ds"
    (root / "train" / "happy").mkdir(parents=True)
    cv2.imwrite(str(root / "train" / "happy" / "ok.png"), np.zeros((48, 48), np.uint8))
    target = root / "train" / "happy" / bad_images[bad].name
    target.write_bytes(bad_images[bad].read_bytes())
    with pytest.raises(DataError, match=bad_images[bad].name):
        read_image_folder(root, "train")
    faces = read_image_folder(root, "train", skip_bad=True)
    assert len(faces) == 1 and len(faces.skipped) == 1


def test_folder_non_image_suffix_and_empty_class(tmp_path):
    root = tmp_path / "ds"
    (root / "train" / "sad").mkdir(parents=True)
    (root / "train" / "sad" / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match="not an image file"):
        read_image_folder(root, "train")
    (root / "train" / "sad" / "readme.txt").unlink()
    with pytest.raises(DataError, match="empty class folder"):
        read_image_folder(root, "train")


def test_load_faces_dispatch(fer_folder, fer_csv, tmp_path):
    assert len(load_faces(fer_csv, "val")) == 14
    assert len(load_faces(fer_folder, "val")) == 14
    with pytest.raises(DataError, match="dataset not found"):
        load_faces(tmp_path / "nope", "train")


def test_near_constant_mask():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (4, 48, 48)).astype(np.uint8)
    imgs[1] = 0
    imgs[2, :30] = 200  # 30 of 48 rows one value: 62% of pixels
    assert near_constant_mask(imgs).tolist() == [False, True, True, False]
