"""Weights specs, resolved in one place: ``resolve(kind, spec)`` turns what a user typed into a
:class:`WeightsRef` (the file, its format, and an exported model's ferkit metadata).

Every command and model reads weights through it (spec -> WeightsRef -> runtime -> predictor): ``default``
is the checkpoint shipped inside the package, ``default-int8`` the shipped classifier quantized to int8, a
folder holds ``best.pt`` (a run) or an OpenVINO export, an ``.onnx`` file is an ONNX export, and any other
file is a checkpoint.

An exported ONNX file carries a ``ferkit`` metadata entry (JSON): its kind (classifier or detector), the
SHA-256 of the checkpoint it came from, and for a classifier the whole checkpoint metadata (classes, input
size, normalisation, crop recipe); for a detector its class names, stride and recorded WIDER split. An
OpenVINO export is a folder with ``model.xml``, ``model.bin`` and the same metadata in ``ferkit.json``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ferkit.errors import WeightsError, first_line
from ferkit.runs import RunFolder

KINDS = ("classifier", "detector")
DEFAULT_FILES = {"classifier": "classifier_default.pt", "detector": "detector_default.pt"}
# the shipped classifier quantized to int8 (OpenVINO only): `--classifier-weights default-int8`
DEFAULT_INT8 = "default-int8"
INT8_FOLDER = "classifier_default_int8"
META_KEY = "ferkit"  # the metadata entry of an exported ONNX file
IR_META = "ferkit.json"  # the metadata file of an OpenVINO export folder
EXPORT_FORMATS = ("onnx", "openvino")  # what `fer export --format` writes
PRODUCED_BY = {
    "classifier": "fer train-classifier --data PATH (then pass --classifier-weights RUN/weights/best.pt)",
    "detector": "fer train-detector --data data.yaml (then pass --detector-weights RUN/weights/best.pt)",
}


@dataclass(frozen=True)
class WeightsRef:
    """Resolved weights: ``path`` (a checkpoint, an .onnx file, or an OpenVINO folder), its ``format``, and
    for an export its ferkit ``meta``. ``spec`` is what was asked for (``default``, a path...)."""

    kind: str
    spec: str
    path: Path
    format: str  # checkpoint, onnx or openvino
    meta: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def exported(self) -> bool:
        return self.format != "checkpoint"

    @property
    def shipped(self) -> bool:
        """The shipped default (or its int8 version): exported backends run it from its shipped export."""
        return self.spec in ("default", DEFAULT_INT8)

    @property
    def model_file(self) -> Path:
        """The file a runtime reads: the .onnx, the OpenVINO .xml, or the checkpoint."""
        return self.path / "model.xml" if self.format == "openvino" else self.path


def file_id(path: str | Path | None) -> dict | None:
    """A weights file (or folder) by absolute path and content hash, as run settings record it."""
    if path is None:
        return None
    return {"path": str(Path(path).resolve()), "sha256": weights_sha256(path)}


def weights_sha256(path: str | Path) -> str:
    """SHA-256 of a weights file, or of the files of a weights folder (an OpenVINO export) in name order."""
    path = Path(path)
    h = hashlib.sha256()
    for f in sorted(path.iterdir()) if path.is_dir() else [path]:
        if f.is_file():
            h.update(f.read_bytes())
    return h.hexdigest()


def packaged_weights(kind: str) -> Path:
    """Where the shipped default of ``kind`` ('classifier' or 'detector') lives inside the package."""
    return Path(str(resources.files("ferkit") / "weights" / DEFAULT_FILES[kind]))


def shipped_export(kind: str) -> Path:
    """Where the shipped default's ONNX export lives inside the package."""
    return packaged_weights(kind).with_suffix(".onnx")


def read_metadata(path: Path) -> dict[str, Any]:
    """The ``ferkit`` metadata of an exported .onnx file or OpenVINO folder; WeightsError when absent."""
    path = Path(path)
    try:
        if path.is_dir():
            return json.loads((path / IR_META).read_text(encoding="utf-8"))
        props = onnx_metadata(path.read_bytes())
        return json.loads(props[META_KEY])
    except (OSError, KeyError, UnicodeDecodeError) as exc:
        raise WeightsError(
            f"{path} carries no ferkit metadata ({type(exc).__name__}): export it with `fer export`"
        ) from None
    except ValueError as exc:
        raise WeightsError(f"{path} is not an ONNX model: {first_line(exc)}") from None


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("truncated or malformed protobuf")
        b = data[i]
        value |= (b & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if b < 0x80:
            return value, i


def _fields(data: bytes):
    """(field number, value) of the top-level protobuf fields of ``data``; length-delimited values as
    bytes, the others as ints (the graph is skipped over, never parsed)."""
    i = 0
    while i < len(data):
        tag, i = _varint(data, i)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = int.from_bytes(data[i : i + size], "little"), i + size
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i : i + size], i + size
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")
        if i > len(data) or number == 0:
            raise ValueError("truncated or malformed protobuf")
        yield number, value


def onnx_metadata(model: bytes) -> dict[str, str]:
    """The ``metadata_props`` of a serialized ONNX ``ModelProto`` (field 14: key 1, value 2), read without
    the onnx package, so the light install can read exported models."""
    props = {}
    for number, value in _fields(model):
        if number == 14 and isinstance(value, bytes):
            entry = dict(_fields(value))
            props[entry.get(1, b"").decode("utf-8")] = entry.get(2, b"").decode("utf-8")
    return props


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


def resolve(kind: str, spec: str | Path | None = "default") -> WeightsRef:
    """The weights ``spec`` names, for a ``kind`` model; a WeightsError naming what was tried otherwise.

    An export's metadata is read and its kind checked here, so that every caller gets the same answer.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown weights kind {kind!r}")
    text = "default" if spec is None else str(spec)
    if text == DEFAULT_INT8:
        if kind != "classifier":
            raise WeightsError(f"{DEFAULT_INT8} is the shipped classifier in int8, not a {kind}")
        return _exported(kind, text, packaged_weights("classifier").parent / INT8_FOLDER, "openvino")
    if text == "default":
        path = packaged_weights(kind)
        if not path.is_file():
            raise WeightsError(
                f"no default {kind} weights: tried {path} (the package was installed without them); "
                f"make some with: {PRODUCED_BY[kind]}"
            )
        return WeightsRef(kind, text, path, "checkpoint")
    path = Path(text).expanduser()
    if path.is_dir() and (path / IR_META).is_file():
        return _exported(kind, text, path, "openvino")
    if path.suffix == ".onnx":
        if not path.is_file():
            raise WeightsError(f"{kind} weights not found: tried {path}")
        return _exported(kind, text, path, "onnx")
    if path.is_dir():
        best = RunFolder(path).find_best()
        if best is not None:
            return WeightsRef(kind, text, best, "checkpoint")
        raise WeightsError(f"no {kind} weights in folder {path}: tried {RunFolder(path).best}")
    if path.is_file():
        return WeightsRef(kind, text, path, "checkpoint")
    raise WeightsError(f"{kind} weights not found: tried {path}; make some with: {PRODUCED_BY[kind]}")


def _exported(kind: str, spec: str, path: Path, fmt: str) -> WeightsRef:
    meta = read_metadata(path)
    if not isinstance(meta, dict) or meta.get("kind") != kind:
        found = meta.get("kind", "unknown") if isinstance(meta, dict) else "unknown"
        raise WeightsError(f"{path} is an exported {found} model, not a {kind}")
    ref = WeightsRef(kind, spec, path, fmt, meta)
    if not ref.model_file.is_file():
        raise WeightsError(f"exported model file missing: {ref.model_file}")
    return ref


def resolve_weights(kind: str, spec: str | Path | None = "default") -> Path:
    """The checkpoint file ``spec`` names (training and export start from checkpoints, not exports)."""
    ref = resolve(kind, spec)
    if ref.exported:
        raise WeightsError(f"{ref.path} is an exported {ref.format} model: give a checkpoint (.pt) here")
    return ref.path
