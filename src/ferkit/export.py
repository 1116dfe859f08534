"""``fer export``: both models as ONNX (or OpenVINO IR), with what ferkit needs to use them inside (the
metadata format is described in :mod:`ferkit.weights`), and the model an exported backend runs for resolved
weights (:func:`load_exported`).
"""

from __future__ import annotations

import importlib.util
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ferkit.detector.defaults import TRACE_IMGSZ
from ferkit.errors import ConfigError, WeightsError
from ferkit.weights import IR_META, META_KEY, WeightsRef, resolve, shipped_export, weights_sha256

FORMATS = ("onnx", "openvino")


def weights_kind(path: Path) -> str:
    """'classifier' for a ferkit classifier checkpoint, else 'detector' (ultralytics checks the rest)."""
    from ferkit.classifier.checkpoint import read_checkpoint

    try:
        read_checkpoint(path)
        return "classifier"
    except WeightsError:
        return "detector"


def classifier_onnx(weights: Path) -> tuple[bytes, dict[str, Any]]:
    """ONNX bytes of a classifier checkpoint (dynamic batch) and its metadata."""
    import torch

    from ferkit.classifier.checkpoint import load_checkpoint

    model, meta = load_checkpoint(weights, "cpu")
    model = model.to(memory_format=torch.contiguous_format)
    x = torch.zeros(1, 1, meta.input_size, meta.input_size)
    buf = io.BytesIO()
    torch.onnx.export(
        model,
        (x,),
        buf,
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    return buf.getvalue(), {
        "kind": "classifier",
        "meta": meta.to_dict(),
        "source_sha256": weights_sha256(weights),
    }


def detector_onnx(weights: Path, imgsz: int) -> tuple[bytes, dict[str, Any]]:
    """ONNX bytes of a detector checkpoint (dynamic batch and size) and its metadata."""
    from ferkit.detector.yolo import export_onnx

    data, info = export_onnx(weights, imgsz)
    return data, {"kind": "detector", **info, "imgsz": imgsz, "source_sha256": weights_sha256(weights)}


def with_metadata(model: bytes, meta: dict[str, Any]) -> bytes:
    """The ONNX model with ``meta`` stored as its ``ferkit`` metadata entry."""
    import onnx

    proto = onnx.load_from_string(model)
    kept = [p for p in proto.metadata_props if p.key != META_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(meta)
    return proto.SerializeToString()


def exported_bytes(weights: Path, kind: str, imgsz: int) -> tuple[bytes, dict[str, Any]]:
    """ONNX bytes with metadata of a ``kind`` checkpoint, made in memory (for a backend given a .pt)."""
    data, meta = classifier_onnx(weights) if kind == "classifier" else detector_onnx(weights, imgsz)
    return with_metadata(data, meta), meta


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
        raise ConfigError("int8 quantization writes an OpenVINO model: use --format openvino")
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    needs = ("onnx", "onnxruntime") if fmt == "onnx" else ("onnx", "openvino")
    missing = [n for n in needs if importlib.util.find_spec(n) is None]
    if missing:
        raise ConfigError(
            f"exporting to {fmt} needs packages that are not installed: pip install {' '.join(missing)}"
        )
    src = Path(weights).expanduser()
    if not src.is_file():
        raise WeightsError(f"weights not found: {src}")
    kind = weights_kind(src)
    if int8_calibration and kind != "classifier":
        raise ConfigError("int8 export is for classifiers (the detector's accuracy loss is not measured)")
    if int8_calibration and importlib.util.find_spec("nncf") is None:
        raise ConfigError("int8 export needs NNCF, which is not installed: pip install nncf")
    data, meta = exported_bytes(src, kind, imgsz)
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


def load_exported(
    ref: WeightsRef, backend: str, imgsz: int = TRACE_IMGSZ
) -> tuple[bytes | Path, dict[str, Any], Path]:
    """(model to run, its ferkit metadata, the file it came from) of resolved weights for an exported
    backend: an export as it is (an OpenVINO one with OpenVINO only); the shipped default from its shipped
    ONNX export, unless that no longer matches the checkpoint; any other checkpoint exported in memory."""
    if ref.exported:
        if ref.format == "openvino" and backend != "openvino":
            raise WeightsError(f"{ref.spec} is an OpenVINO export: it runs with --backend openvino")
        return ref.model_file, ref.meta, ref.path
    if ref.shipped:
        onnx_file = shipped_export(ref.kind)
        if onnx_file.is_file():
            shipped = resolve(ref.kind, onnx_file)
            if shipped.meta.get("source_sha256") == weights_sha256(ref.path):
                return shipped.model_file, shipped.meta, onnx_file
    return (*exported_bytes(ref.path, ref.kind, imgsz), ref.path)


def _quantize_classifier(model, meta: dict[str, Any], folders: list[Path], n: int):
    """NNCF static int8 quantization, calibrated on ``n`` images of ``folders``, preprocessed as in use."""
    import nncf
    import numpy as np

    from ferkit.classifier.checkpoint import meta_from_dict
    from ferkit.classifier.preprocess import Preprocess
    from ferkit.imaging.images import is_image_file, read_gray

    files = []
    for folder in folders:
        found = sorted(p for p in folder.rglob("*") if is_image_file(p)) if folder.is_dir() else []
        if not found:
            raise ConfigError(f"--calibration {folder}: no images there")
        files += found
    cmeta = meta_from_dict(meta["meta"])
    picked = [files[i] for i in np.random.default_rng(0).permutation(len(files))[:n]]
    crops = np.stack([read_gray(f, cmeta.input_size, cmeta.crop.interpolation) for f in picked])
    x = Preprocess(cmeta).tensor(crops).numpy()
    return nncf.quantize(model, nncf.Dataset([x[i : i + 1] for i in range(len(x))]), subset_size=len(x))
