"""The official WIDER FACE val set and its evaluation protocol (AP on the easy / medium / hard subsets).

Layout (as downloaded): ``ROOT/WIDER_val/images/<event>/<name>.jpg`` with the ground truth as
``ROOT/wider_face_split/wider_face_val_bbx_gt.txt`` and/or the evaluation kit's ``.mat`` files
(``wider_face_val.mat``, ``wider_easy_val.mat``, ``wider_medium_val.mat``, ``wider_hard_val.mat``, found
anywhere under ROOT, e.g. ``eval_tools/ground_truth``). With the .mat files the AP is reported for the three
subsets; with the text file alone, for all faces.

The protocol is the one of the evaluation kit, so that figures compare with published tables: scores
min-max normalised over the whole set, detections sorted by score, each matched to the ground-truth box of
highest IoU (pixel-inclusive, +1, as the kit computes it) if that IoU reaches 0.5; a detection on a face
outside the subset is neither a hit nor a false alarm; the PR curve sampled at 1000 score thresholds, summed
over images (images without faces or without detections add only their faces), and VOC's AP (area under the
precision envelope).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ferkit.datasets.wider import parse_wider_gt
from ferkit.errors import DataError
from ferkit.extras import require

LEVELS = ("easy", "medium", "hard")
VAL_IMAGES = Path("WIDER_val") / "images"
VAL_GT = Path("wider_face_split") / "wider_face_val_bbx_gt.txt"
MAT_FILES = {"all": "wider_face_val.mat", **{lv: f"wider_{lv}_val.mat" for lv in LEVELS}}
THRESHOLDS = 1000
OFFICIAL_IOU = 0.5


def _mat_files(root: Path) -> dict[str, Path] | None:
    """The four .mat files under ``root`` (one walk of the tree), or None if any is missing."""
    by_name: dict[str, Path] = {}
    for path in sorted(root.rglob("*.mat")):
        by_name.setdefault(path.name, path)
    found = {key: by_name.get(name) for key, name in MAT_FILES.items()}
    return found if all(found.values()) else None


def is_wider_val_root(path: str | Path) -> bool:
    """A folder in the official val layout (its ground truth is looked for when it is read)."""
    return (Path(path) / VAL_IMAGES).is_dir()


def _cells(value) -> list:
    """The elements of a MATLAB cell array as loaded by scipy (any shape), in order."""
    return list(np.asarray(value, dtype=object).ravel())


def _text(cell) -> str:
    return str(np.asarray(cell).ravel()[0])


def _read_mats(mats: Mapping[str, Path]) -> tuple[list[tuple[str, np.ndarray]], dict[str, list[np.ndarray]]]:
    """(image path, boxes xywh) per image, and per subset the kept faces of each image (1-based indices)."""
    require("wider", "reading the WIDER FACE evaluation .mat files")
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        loaded = {k: loadmat(str(p)) for k, p in mats.items()}
        images: list[tuple[str, np.ndarray]] = []
        events = [_text(e) for e in _cells(loaded["all"]["event_list"])]
        for event, files, boxes in zip(
            events, _cells(loaded["all"]["file_list"]), _cells(loaded["all"]["face_bbx_list"]), strict=True
        ):
            for name, xywh in zip(_cells(files), _cells(boxes), strict=True):
                arr = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
                images.append((f"{event}/{_text(name)}.jpg", arr))
        keep = {}
        for level in LEVELS:
            per_image = [np.asarray(k, dtype=np.int64).ravel() for g in _cells(loaded[level]["gt_list"])
                         for k in _cells(g)]  # fmt: skip
            if len(per_image) != len(images):
                raise ValueError(f"{len(per_image)} images in a gt_list, {len(images)} in wider_face_val.mat")
            keep[level] = per_image
    except (KeyError, ValueError, TypeError, OSError, MatReadError) as exc:
        raise DataError(f"{mats['all'].parent}: not the WIDER FACE evaluation .mat files ({exc})") from None
    return images, keep


def official_val(root: str | Path) -> tuple[Path, list[tuple[str, np.ndarray, np.ndarray]], dict]:
    """(images folder, [(relative path, boxes xyxy, invalid)], {subset: [kept-face masks]}) of a val root.

    With the .mat files the subsets are easy / medium / hard; with only the text ground truth, ``all``
    (every face not marked invalid).
    """
    root = Path(root)
    images_dir = root / VAL_IMAGES
    if not images_dir.is_dir():
        raise DataError(f"{root} is not a WIDER FACE val folder: missing {VAL_IMAGES}")
    mats = _mat_files(root)
    if mats is not None:
        listed, keep_idx = _read_mats(mats)
        entries = [(path, xywh, np.zeros(len(xywh), bool)) for path, xywh in listed]
        keep = {lv: [_mask(idx, len(xywh)) for idx, (_, xywh) in zip(keep_idx[lv], listed, strict=True)]
                for lv in LEVELS}  # fmt: skip
    elif (root / VAL_GT).is_file():
        gt = parse_wider_gt(root / VAL_GT)
        entries = [(e.path, e.boxes.astype(np.float64), e.invalid) for e in gt]
        keep = {"all": [~e.invalid for e in gt]}  # faces marked invalid are outside the set, as in training
    else:
        raise DataError(
            f"{root}: no ground truth (neither {VAL_GT} nor the evaluation kit's {MAT_FILES['all']} and "
            "wider_{easy,medium,hard}_val.mat)"
        )
    out = [(path, np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], invalid) for path, xywh, invalid in entries]
    return images_dir, out, keep


def _mask(indices: np.ndarray, n: int) -> np.ndarray:
    mask = np.zeros(n, bool)
    bad = (indices < 1) | (indices > n)
    if bad.any():
        raise DataError(f"a WIDER FACE subset list names face {int(indices[bad][0])} of an image with {n}")
    mask[indices - 1] = True
    return mask


def _overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` with every box of ``b`` (x1, y1, x2, y2), pixel-inclusive (+1)."""
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def _image_pr(boxes, scores, gt, kept, iou) -> np.ndarray:
    """(THRESHOLDS, 2): proposals counted and faces found at each threshold, for one image."""
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    found = np.zeros(len(gt))  # 1 hit, -1 hit but outside the subset
    counted = np.ones(len(boxes))  # -1: on a face outside the subset (not a proposal)
    recall = np.zeros(len(boxes))
    ov = _overlaps(boxes, gt)
    for h in range(len(boxes)):
        j = int(ov[h].argmax())
        if ov[h, j] >= iou:
            if not kept[j]:
                found[j], counted[h] = -1, -1
            elif found[j] == 0:
                found[j] = 1
        recall[h] = (found == 1).sum()
    thresholds = 1 - (np.arange(THRESHOLDS) + 1) / THRESHOLDS
    last = (scores[None, :] >= thresholds[:, None]).sum(1) - 1  # scores are sorted
    proposals = np.cumsum(counted == 1)
    pr = np.zeros((THRESHOLDS, 2))
    has = last >= 0
    pr[has, 0], pr[has, 1] = proposals[last[has]], recall[last[has]]
    return pr


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope (precision made non-increasing in recall), as VOC computes it."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def official_ap(
    found: Sequence[tuple[np.ndarray, np.ndarray]],
    gt: Sequence[np.ndarray],
    keep: Mapping[str, Sequence[np.ndarray]],
    iou: float = OFFICIAL_IOU,
) -> dict[str, float]:
    """AP per subset of ``keep`` for detections ``found`` ((boxes xyxy, scores) per image) against the
    ground-truth boxes ``gt`` (xyxy) of the same images, by the evaluation kit's protocol."""
    every = np.concatenate([np.asarray(s, np.float64).ravel() for _, s in found] or [np.zeros(0)])
    lo, hi = (float(every.min()), float(every.max())) if len(every) else (0.0, 1.0)
    span = hi - lo if hi > lo else 1.0
    out = {}
    for level, masks in keep.items():
        pr, n_faces = np.zeros((THRESHOLDS, 2)), 0
        for (boxes, sc), g, kept in zip(found, gt, masks, strict=True):
            n_faces += int(kept.sum())
            if len(g) == 0 or len(sc) == 0:
                continue
            pr += _image_pr(np.asarray(boxes, np.float64), (np.asarray(sc) - lo) / span, g, kept, iou)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.nan_to_num(pr[:, 1] / pr[:, 0])
        out[level] = voc_ap(pr[:, 1] / max(n_faces, 1), precision) if n_faces else float("nan")
    return out
