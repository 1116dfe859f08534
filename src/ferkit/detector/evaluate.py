"""``fer eval-detector``: precision, recall and F1 at IoU >= 0.5 on faces >= min-size, and the PR curve."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ferkit.datasets.wider import find_wider_layout, is_val, is_wider_root, parse_wider_gt
from ferkit.datasets.yolo import read_labels, read_split
from ferkit.detector.defaults import DEFAULT_CONF, DEFAULT_IMGSZ, DEFAULT_NMS_IOU
from ferkit.detector.face_detector import FaceDetector
from ferkit.detector.metrics import match_image, pr_curve
from ferkit.errors import DataError
from ferkit.imaging.images import read_image
from ferkit.plots import plot_pr_curve

CURVE_FLOOR = 0.01  # detections below this confidence are not scored


@dataclass(frozen=True)
class EvalSample:
    """One image to score: its path, ground-truth boxes (x1, y1, x2, y2 pixels) and invalid flags."""

    image: Path
    boxes: np.ndarray = field(repr=False)
    invalid: np.ndarray = field(repr=False)


def wider_val_samples(root: str | Path, val_fraction: float) -> list[EvalSample]:
    """The val images of a WIDER FACE root under the converter's split, invalid faces kept (as ignored)."""
    images_dir, gt_file = find_wider_layout(root)
    samples = []
    for entry in parse_wider_gt(gt_file):
        if not is_val(entry.path, val_fraction):
            continue
        xywh = entry.boxes.astype(np.float64)
        ok = (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
        xyxy = np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]][ok]
        samples.append(EvalSample(images_dir / entry.path, xyxy, entry.invalid[ok]))
    if not samples:
        raise DataError(f"{root}: no images in the val split (val fraction {val_fraction})")
    return samples


def yolo_val_samples(data_yaml: str | Path) -> list[EvalSample]:
    """The val split of a YOLO data.yaml; label coordinates are scaled by each image's size."""
    from PIL import Image

    split = read_split(data_yaml, "val")
    samples = []
    for img, lab in zip(split.images, split.labels, strict=True):
        try:
            with Image.open(img) as im:
                w, h = im.size
        except OSError:
            w = h = 0  # unreadable: reported when the image is read for detection
        boxes = read_labels(lab, w, h)
        samples.append(EvalSample(img, boxes, np.zeros(len(boxes), dtype=bool)))
    return samples


def load_eval_samples(data: str | Path, val_fraction: float = 0.1) -> list[EvalSample]:
    if is_wider_root(data):
        return wider_val_samples(data, val_fraction)
    if Path(data).suffix in (".yaml", ".yml"):
        return yolo_val_samples(data)
    raise DataError(f"--data must be a YOLO data.yaml or a WIDER FACE root, got {data}")


@dataclass
class DetectorReport:
    """P/R/F1 of a detector at one confidence, the F1-best confidence and the curve summary."""

    weights: str
    data: str
    images: int
    faces: int
    iou: float
    min_size: float
    imgsz: int
    at_conf: dict[str, float]
    best: dict[str, float]
    skipped: list[str] = field(default_factory=list)
    ultralytics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def table(self) -> str:
        a, b = self.at_conf, self.best
        rows = [
            f"{self.weights} on {self.data}: {self.images} images, "
            f"{self.faces} faces >= {self.min_size:g} px, IoU >= {self.iou}, imgsz {self.imgsz}",
            f"{'':<18}{'conf':>6}{'precision':>11}{'recall':>8}{'F1':>8}{'TP':>7}{'FP':>7}{'FN':>7}",
        ]
        for name, r in (("at chosen conf", a), ("best F1", b)):
            rows.append(
                f"{name:<18}{r['conf']:>6.3f}{r['precision']:>11.4f}{r['recall']:>8.4f}{r['f1']:>8.4f}"
                f"{r['tp']:>7}{r['fp']:>7}{r['fn']:>7}"
            )
        if self.ultralytics:
            rows.append("ultralytics: " + "  ".join(f"{k} {v:.4f}" for k, v in self.ultralytics.items()))
        if self.skipped:
            rows.append(f"skipped {len(self.skipped)} unreadable image(s)")
        return "\n".join(rows)


def evaluate_detector(
    weights: str | Path,
    data: str | Path,
    conf: float = DEFAULT_CONF,
    iou: float = 0.5,
    min_size: float = 24.0,
    imgsz: int = DEFAULT_IMGSZ,
    nms_iou: float = DEFAULT_NMS_IOU,
    device: str = "auto",
    val_fraction: float = 0.1,
    out_dir: str | Path | None = None,
    batch_size: int = 8,
    skip_bad: bool = False,
    with_map: bool = True,
    progress: bool = True,
) -> DetectorReport:
    """Score ``weights`` on the val split of ``data`` (a YOLO data.yaml or a WIDER FACE root).

    With ``out_dir``, writes ``metrics.json`` and ``pr_curve.png``.
    """
    samples = load_eval_samples(data, val_fraction)
    det = FaceDetector(
        weights,
        conf=CURVE_FLOOR,
        iou=nms_iou,
        imgsz=imgsz,
        device=device,
        max_det=1000,
        batch_size=batch_size,
    )
    scores, statuses, n_faces, skipped = [], [], 0, []
    bar = tqdm(total=len(samples), desc="evaluating", unit="img", disable=not progress or None)
    for i in range(0, len(samples), batch_size):
        chunk, arrays = [], []
        for s in samples[i : i + batch_size]:
            try:
                arrays.append(read_image(s.image))
                chunk.append(s)
            except DataError as exc:
                if not skip_bad:
                    raise
                skipped.append(str(exc))
        for s, found in zip(chunk, det.detect(arrays) if arrays else [], strict=True):
            boxes = np.array([[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in found]).reshape(-1, 4)
            sc = np.array([d.score for d in found])
            status, n = match_image(boxes, sc, s.boxes, s.invalid, iou, min_size)
            scores.append(sc)
            statuses.append(status)
            n_faces += n
        bar.update(len(samples[i : i + batch_size]))
    bar.close()
    curve = pr_curve(
        np.concatenate(scores) if scores else np.zeros(0),
        np.concatenate(statuses) if statuses else np.zeros(0),
        n_faces,
    )
    report = DetectorReport(
        str(weights),
        str(data),
        len(samples) - len(skipped),
        n_faces,
        iou,
        min_size,
        imgsz,
        curve.at(conf),
        curve.best(),
        skipped,
    )
    if with_map and Path(data).suffix in (".yaml", ".yml"):
        report.ultralytics = det.ultralytics_map(data)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(report.to_dict(), indent=2))
        plot_pr_curve(
            curve.thresholds,
            curve.precision,
            curve.recall,
            curve.f1,
            report.best["conf"],
            out / "pr_curve.png",
        )
    return report
