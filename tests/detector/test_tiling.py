"""--tile: overlapping full-resolution tiles for faces tiny against a large photo."""

import itertools
import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from ferkit.cli import app
from ferkit.detector.face_detector import FaceDetector
from ferkit.detector.tiling import merge_tiles, tile_starts, tiles
from ferkit.types import Box, Detection


@pytest.mark.parametrize(("length", "tile"), [(960, 960), (961, 960), (2880, 960), (4000, 960), (1000, 384)])
def test_tiles_cover_the_photo_and_neighbours_overlap_by_a_quarter(length, tile):
    starts = tile_starts(length, tile)
    assert starts[0] == 0 and starts[-1] + tile == max(length, tile)
    assert all(0 < b - a <= 0.75 * tile for a, b in itertools.pairwise(starts))
    assert tiles(length, 500, tile)[-1][2:] == (length, 500)  # clipped to the photo


def det(x1, y1, x2, y2, score=0.9):
    return Detection(Box(x1, y1, x2, y2), score)


def test_merging_drops_boxes_cut_by_an_inner_edge_and_keeps_one_box_per_face():
    # a 2000 x 1000 photo in two tiles of 1000 x 1000 (no overlap, to keep the numbers plain)
    left, right = (0, 0, 1000, 1000), (1000, 0, 2000, 1000)
    per_tile = [
        (left, [det(960, 100, 1000, 150, 0.8), det(10, 0, 50, 40)]),  # cut by the inner edge; on the top
        (right, [det(100, 100, 140, 150, 0.7), det(101, 101, 141, 151, 0.6), det(940, 900, 1000, 1000)]),
    ]
    whole = [det(1100, 100, 1140, 150, 0.95)]  # the same face as right's first box, in photo pixels
    merged = merge_tiles(whole, per_tile, 2000, 1000, iou=0.5, max_det=100)
    boxes = sorted(tuple(round(v) for v in d.box) for d in merged)
    assert boxes == [(10, 0, 50, 40), (1100, 100, 1140, 150), (1940, 900, 2000, 1000)]
    assert max(d.score for d in merged) == 0.95
    # tiles are for small faces: a large tile box (hands, clothes seen at full size) is left to the whole pass
    big = [(right, [det(300, 300, 700, 800, 0.9), det(100, 100, 140, 150, 0.7)])]
    kept = merge_tiles([], big, 2000, 1000, iou=0.5, max_det=100, max_tile_side=85)
    assert [tuple(round(v) for v in d.box) for d in kept] == [(1100, 100, 1140, 150)]


@pytest.fixture(scope="module")
def crowd(real_photo):
    """A 2880 x 1920 grey photo with twelve 40 px faces: at auto (960 px at most) they shrink to 13 px."""
    portrait = cv2.imread(str(real_photo))[60:460, 110:470]
    face = cv2.resize(portrait, (36, 40), interpolation=cv2.INTER_AREA)
    photo = np.full((1920, 2880, 3), 170, np.uint8)
    spots = [(200 + 700 * i, 300 + 600 * j) for i in range(4) for j in range(3)]
    for x, y in spots:
        photo[y : y + 40, x : x + 36] = face
    return photo, spots


def found_spots(dets, spots):
    return sum(any(abs(d.box.x1 - x) < 12 and abs(d.box.y1 - y) < 12 for d in dets) for x, y in spots)


def test_tiles_find_the_small_faces_of_a_large_photo(crowd):
    photo, spots = crowd
    plain = FaceDetector(device="cpu", precision="fp32").detect(photo)
    tiled = FaceDetector(device="cpu", precision="fp32", tile=True).detect(photo)
    assert found_spots(tiled, spots) >= 10 > found_spots(plain, spots) + 4
    assert len(tiled) <= len(spots) + 2  # one box per face, not one per tile that saw it
    small = np.ascontiguousarray(photo[:900, :900])  # fits a tile: tiling changes nothing
    assert FaceDetector(device="cpu", tile=True).detect(small) == FaceDetector(device="cpu").detect(small)


def test_the_cli_takes_tile_for_photos_and_records_it(crowd, tmp_path):
    photo, spots = crowd
    cv2.imwrite(str(tmp_path / "crowd.jpg"), photo, [cv2.IMWRITE_JPEG_QUALITY, 95])
    args = ["detect", str(tmp_path / "crowd.jpg"), "--tile", "--out", str(tmp_path / "o"), "-fjsonl", "-q"]
    r = CliRunner().invoke(app, [*args, "--device", "cpu"])
    assert r.exit_code == 0, r.output
    faces = json.loads(r.stdout)["faces"]
    assert sum(any(abs(f["box_xyxy"][0] - x) < 12 for f in faces) for x, _ in spots) >= 10
    assert json.loads((tmp_path / "o" / "run.json").read_text())["tile"] is True
