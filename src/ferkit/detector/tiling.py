"""Very large photos in overlapping tiles (``--tile``), for faces that are tiny against the photo.

The detector's input size has a ceiling (960 px for ``auto``), so a 4000 px crowd photo is shrunk four
times and its 40 px faces become 10 px. With tiling, the photo is also cut into tiles of the ceiling's size
that overlap by a quarter, each run at its own full resolution. Tiles are there for the small faces only:
a tile box is kept when the whole-photo pass would have seen it under ``SMALL_PX`` (below which that pass
misses faces), and when it does not touch a tile's inner edge (the overlap shows such a face whole in a
neighbouring tile). The whole-photo pass keeps the large faces, and overlapping boxes of the passes are
merged by NMS. On upscaled 2560 px mosaics, keeping every tile box instead tripled the false alarms (large
boxes on hands and clothes seen at full resolution; benchmarks/tiling.py). Photos that fit the ceiling are
run as without tiling. No torch here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ferkit.boxes import detection_arrays, nms
from ferkit.types import Detection

TILE_OVERLAP = 0.25  # share of a tile shared with its neighbour
EDGE_PX = 2.0  # a box this close to a tile's inner edge is taken as cut by it
SMALL_PX = 32.0  # tile boxes are kept only if the whole-photo pass would have seen them smaller than this


def tile_starts(length: int, tile: int, overlap: float = TILE_OVERLAP) -> list[int]:
    """Start offsets of tiles of ``tile`` px covering ``length`` px, neighbours sharing ``overlap``."""
    if length <= tile:
        return [0]
    step = max(1, int(tile * (1 - overlap)))
    return sorted({*range(0, length - tile, step), length - tile})


Region = tuple[int, int, int, int]  # x1, y1, x2, y2 in photo pixels


def tiles(width: int, height: int, tile: int, overlap: float = TILE_OVERLAP) -> list[Region]:
    """The tiles (x1, y1, x2, y2) of a ``width`` x ``height`` photo; one (the photo) if it fits a tile."""
    return [
        (x, y, min(x + tile, width), min(y + tile, height))
        for y in tile_starts(height, tile, overlap)
        for x in tile_starts(width, tile, overlap)
    ]


def _shifted(det: Detection, x: float, y: float) -> Detection:
    b = det.box
    return Detection(type(b)(b.x1 + x, b.y1 + y, b.x2 + x, b.y2 + y), det.score)


def merge_tiles(
    whole: Sequence[Detection],
    per_tile: Sequence[tuple[Region, Sequence[Detection]]],
    width: int,
    height: int,
    iou: float,
    max_det: int,
    max_tile_side: float = float("inf"),
) -> list[Detection]:
    """One photo's detections from its whole-photo pass and its tiles (boxes in tile pixels): tile boxes
    cut by an inner tile edge, or with a shorter side above ``max_tile_side``, dropped; the rest in photo
    pixels, merged by NMS, best first."""
    found = list(whole)
    for (x1, y1, x2, y2), dets in per_tile:
        inner = (x1 > 0, y1 > 0, x2 < width, y2 < height)  # which edges of this tile lie inside the photo
        for d in dets:
            b = d.box
            cut = (b.x1 <= EDGE_PX, b.y1 <= EDGE_PX, b.x2 >= x2 - x1 - EDGE_PX, b.y2 >= y2 - y1 - EDGE_PX)
            small = min(b.width, b.height) <= max_tile_side
            if small and not any(i and c for i, c in zip(inner, cut, strict=True)):
                found.append(_shifted(d, x1, y1))
    if not found:
        return []
    boxes, scores = detection_arrays(found)
    return [found[i] for i in nms(boxes, scores, iou)[:max_det]]


def crop_tiles(image: np.ndarray, boxes: Sequence[Region]) -> list[np.ndarray]:
    return [np.ascontiguousarray(image[y1:y2, x1:x2]) for x1, y1, x2, y2 in boxes]
