import cv2
import numpy as np
import pytest
import yaml

from ferkit.datasets.closeups import COVER, FILL, MIN_FACE, cover_face, make_closeups, paste_face, zoom_in
from ferkit.datasets.yolo import check_yolo_dataset, read_labels, read_split
from ferkit.errors import DataError
from tests.helpers import write_yolo


@pytest.fixture
def photos(tmp_path):
    """A YOLO data set of 200 x 160 photos, each with one 60 x 70 face and one 10 px face."""
    img = np.full((160, 200, 3), 60, np.uint8)
    cv2.rectangle(img, (100, 40), (160, 110), (200, 190, 180), -1)
    labels = "0 0.65 0.46875 0.3 0.4375\n0 0.1 0.1 0.05 0.0625\n"
    split = "ferkit_split: {val_fraction: 0.1, val_events: [7--Cheering]}\n"
    return write_yolo(tmp_path / "wider_yolo", {"train": 3, "val": 3}, img, labels, split)


def face_fill(photo, boxes):
    h, w = photo.shape[:2]
    return max(boxes[0][2] - boxes[0][0], boxes[0][3] - boxes[0][1]) / min(w, h)


def test_zoom_in_makes_the_face_fill_the_frame():
    rng = np.random.default_rng(0)
    image = np.zeros((400, 600, 3), np.uint8)
    boxes = np.array([[300.0, 100.0, 360.0, 170.0], [10.0, 10.0, 20.0, 20.0]])
    for _ in range(20):
        photo, out = zoom_in(image, boxes, rng)
        assert photo.shape[0] == photo.shape[1] and len(out) == 1  # the 10 px face is far outside
        assert FILL[0] - 0.02 <= face_fill(photo, out) <= 1.0 + 1e-6
        assert (out >= 0).all() and (out <= photo.shape[0]).all()
    assert zoom_in(image, np.array([[0.0, 0.0, MIN_FACE - 1, MIN_FACE - 1]]), rng) is None


def test_pasted_face_fills_the_frame_and_is_grey():
    rng = np.random.default_rng(1)
    face = np.random.default_rng(2).integers(0, 255, (48, 48)).astype(np.uint8)
    for background in (None, np.full((300, 300, 3), (0, 0, 255), np.uint8)):
        photo, boxes = paste_face(face, background, rng)
        assert photo.ndim == 3 and (photo[..., 0] == photo[..., 2]).all()  # grey, like the face
        assert FILL[0] * 0.9 <= face_fill(photo, boxes) <= 1.0


def test_make_closeups_adds_to_train_and_keeps_val(tmp_path, photos, fer_folder):
    report = make_closeups(photos, tmp_path / "close", [fer_folder], n=6, seed=0)
    assert (report.zoom_ins, report.pasted) == (3, 3) and report.faces >= 6
    cfg = yaml.safe_load((tmp_path / "close" / "data.yaml").read_text())
    assert len(cfg["train"]) == 2 and cfg["val"].endswith("images/val")
    assert cfg["ferkit_split"]["val_events"] == ["7--Cheering"]  # carried over from the source
    assert len(read_split(report.data_yaml, "train").images) == 3 + 6
    assert check_yolo_dataset(report.data_yaml) == {"train": 9, "val": 3}
    for label in sorted((tmp_path / "close" / "labels" / "train").glob("*.txt")):
        img = cv2.imread(str(label.parent.parent.parent / "images" / "train" / f"{label.stem}.jpg"))
        boxes = read_labels(label, img.shape[1], img.shape[0])
        assert len(boxes) >= 1 and face_fill(img, boxes) >= FILL[0] * 0.9


def test_make_closeups_is_reproducible(tmp_path, photos):
    a = make_closeups(photos, tmp_path / "a", n=3, seed=4)
    b = make_closeups(photos, tmp_path / "b", n=3, seed=4)
    assert a.zoom_ins == 3 and a.pasted == 0
    for name in ("closeup_000000.txt", "closeup_000002.txt"):
        assert (tmp_path / "a" / "labels" / "train" / name).read_text() == (
            tmp_path / "b" / "labels" / "train" / name
        ).read_text()
    assert b.faces == a.faces


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n must be >= 1"),
        ({"cover_share": 1.5}, "cover_share must be in"),
        ({"face_roots": ["/no/faces"]}, "face folder not found: /no/faces"),
    ],
)
def test_make_closeups_bad_input(tmp_path, photos, kwargs, message):
    with pytest.raises(DataError, match=message):
        make_closeups(photos, tmp_path / "c", **{"n": 2, **kwargs})


def test_make_closeups_needs_large_enough_faces(tmp_path, tiny_yolo):
    with pytest.raises(DataError, match=f"no train faces of {MIN_FACE} px"):
        make_closeups(tiny_yolo, tmp_path / "c", n=1)


def test_a_covered_face_keeps_its_whole_label_and_a_band_covers_one_side_of_it():
    photo = np.full((300, 300, 3), 200, np.uint8)
    box = np.array([50.0, 60.0, 250.0, 260.0])
    for seed in range(8):
        covered = cover_face(photo, box, np.random.default_rng(seed))
        dark = (covered[..., 0] < 60).astype(int)
        ys, xs = np.nonzero(dark)
        assert xs.min() >= 50 and xs.max() < 250 and ys.min() >= 60 and ys.max() < 260  # inside the face
        share = dark.sum() / (200 * 200)
        assert COVER[0] - 0.01 <= share <= COVER[1] + 0.01
        assert (photo == 200).all()  # the input is left as it was


def test_make_closeups_covers_the_share_asked(tmp_path, photos):
    report = make_closeups(photos, tmp_path / "c", n=8, seed=0, cover_share=1.0)
    plain = make_closeups(photos, tmp_path / "p", n=8, seed=0)
    assert report.covered == 8 and plain.covered == 0
    for name in ("closeup_000000", "closeup_000005"):
        labels = (tmp_path / "c" / "labels" / "train" / f"{name}.txt").read_text()
        assert labels == (tmp_path / "p" / "labels" / "train" / f"{name}.txt").read_text()  # whole faces
