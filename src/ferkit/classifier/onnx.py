"""The classifier's own ONNX export: a checkpoint as ONNX bytes with its ferkit metadata inside (for ``fer
export``, and for an exported backend given a checkpoint)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ferkit.weights import weights_sha256, with_metadata


def classifier_onnx(weights: Path) -> tuple[bytes, dict[str, Any]]:
    """ONNX bytes (dynamic batch, ferkit metadata inside) of a classifier checkpoint, and that metadata."""
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
    info = {"kind": "classifier", "meta": meta.to_dict(), "source_sha256": weights_sha256(weights)}
    return with_metadata(buf.getvalue(), info), info
