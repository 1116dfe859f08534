"""``fer export``: both models as ONNX (or OpenVINO IR) files, with what ferkit needs to use them inside
(the metadata format is described in :mod:`ferkit.weights`). Each model package makes its own ONNX
(:func:`ferkit.classifier.onnx.classifier_onnx`, :func:`ferkit.detector.exported.detector_onnx`); this
module only writes them, and quantizes classifiers to int8.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ferkit.classifier.onnx import classifier_onnx
from ferkit.detector.defaults import TRACE_IMGSZ
from ferkit.detector.exported import detector_onnx
from ferkit.errors import ConfigError, WeightsError
from ferkit.extras import require
from ferkit.weights import EXPORT_FORMATS, IR_META

FORMATS = EXPORT_FORMATS


def weights_kind(path: Path) -> str:
    """'classifier' for a ferkit classifier checkpoint, else 'detector' (ultralytics checks the rest)."""
    from ferkit.classifier.checkpoint import read_checkpoint

    try:
        read_checkpoint(path)
        return "classifier"
    except WeightsError:
        return "detector"


def export(
    weights: str | Path,
    fmt: str = "onnx",
    out: str | Path | None = None,
    imgsz: int = TRACE_IMGSZ,
    int8_calibration: Sequence[str | Path] | None = None,
    calibration_size: int = 300,
) -> Path:
    """Export a classifier or detector checkpoint (told apart by its contents) to ``fmt``; returns the file
    (ONNX) or folder (OpenVINO). ``out`` defaults to the checkpoint's name with .onnx / _openvino.

    ``int8_calibration`` (OpenVINO, classifiers): folders of face images; the model is quantized to int8 by
    NNCF's post-training static quantization, calibrated on ``calibration_size`` of them, drawn at random.
    """
    if int8_calibration and fmt != "openvino":
        raise ConfigError(f"must be openvino for int8 quantization, got {fmt}", option="format")
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    require("export", f"exporting to {fmt}")
    if fmt == "openvino" and importlib.util.find_spec("openvino") is None:
        raise ConfigError("exporting to openvino needs OpenVINO, not installed here: pip install openvino")
    src = Path(weights).expanduser()
    if not src.is_file():
        raise WeightsError(f"weights not found: {src}")
    kind = weights_kind(src)
    if int8_calibration and kind != "classifier":
        raise ConfigError("int8 export is for classifiers (the detector's accuracy loss is not measured)")
    if int8_calibration:
        require("int8", "int8 export")
    data, meta = classifier_onnx(src) if kind == "classifier" else detector_onnx(src, imgsz)
    dst = (
        Path(out)
        if out is not None
        else src.with_name(src.stem + (".onnx" if fmt == "onnx" else "_openvino"))
    )
    dst.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "onnx":
        dst.write_bytes(data)
        return dst
    import openvino as ov

    dst.mkdir(parents=True, exist_ok=True)
    model = ov.Core().read_model(data)
    if int8_calibration:
        folders = [Path(f) for f in int8_calibration]
        model = _quantize_classifier(model, meta, folders, calibration_size)
        calib = {"folders": [str(f) for f in folders], "images": calibration_size}
        meta = {**meta, "precision": "int8", "calibration": calib}
    ov.save_model(model, str(dst / "model.xml"), compress_to_fp16=False)
    (dst / IR_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return dst


def _quantize_classifier(model, meta: dict[str, Any], folders: list[Path], n: int):
    """NNCF static int8 quantization, calibrated on ``n`` images of ``folders``, preprocessed as in use."""
    import nncf
    import numpy as np

    from ferkit.classifier.meta import meta_from_dict
    from ferkit.classifier.preprocess import Preprocess
    from ferkit.imaging.images import is_image_file, read_gray

    files = []
    for folder in folders:
        found = sorted(p for p in folder.rglob("*") if is_image_file(p)) if folder.is_dir() else []
        if not found:
            raise ConfigError(f"{folder} holds no images", option="calibration")
        files += found
    cmeta = meta_from_dict(meta["meta"])
    picked = [files[i] for i in np.random.default_rng(0).permutation(len(files))[:n]]
    crops = np.stack([read_gray(f, cmeta.input_size, cmeta.crop.interpolation) for f in picked])
    x = Preprocess(cmeta).array(crops)
    return nncf.quantize(model, nncf.Dataset([x[i : i + 1] for i in range(len(x))]), subset_size=len(x))
