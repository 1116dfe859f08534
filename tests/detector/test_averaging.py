"""Averaging detector weights (ferkit.detector.yolo.average_weights)."""

from __future__ import annotations

import pytest
import torch

from ferkit.detector.face_detector import FaceDetector
from ferkit.errors import WeightsError
from ferkit.weights import packaged_weights


def _conv(path) -> torch.Tensor:
    model = torch.load(path, map_location="cpu", weights_only=False)["model"]
    return next(m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)).float()


def _shifted(tmp_path, src, name: str, by: float, split=None):
    """A deployable copy of ``src`` with every conv weight moved by ``by`` (and another split if given)."""
    from ferkit.detector.yolo import export_weights

    dst = export_weights(src, tmp_path / name)
    ckpt = torch.load(dst, map_location="cpu", weights_only=False)
    with torch.no_grad():
        for m in ckpt["model"].modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight += by
    if split is not None:  # as if trained on other data, whose data.yaml is gone
        ckpt["ferkit"] = {"split": split}
        ckpt["train_args"]["data"] = str(tmp_path / "gone.yaml")
    torch.save(ckpt, dst)
    return dst


def test_average_is_the_mean_and_keeps_a_shared_split(tmp_path, tiny_detector_run):
    from ferkit.detector.yolo import average_weights

    last = tiny_detector_run / "weights" / "last.pt"
    base = _conv(_shifted(tmp_path, last, "base.pt", 0.0))  # last's weights as deployed (EMA, float16)
    a, b = _shifted(tmp_path, last, "a.pt", -0.25), _shifted(tmp_path, last, "b.pt", 0.5)
    out = average_weights([a, b, last], tmp_path / "avg" / "det.pt")
    assert torch.allclose(_conv(out), base + (-0.25 + 0.5 + 0.0) / 3, atol=2e-3)
    assert not torch.allclose(_conv(out), _conv(a), atol=1e-2)
    det = FaceDetector(out, conf=0.0, imgsz=64, device="cpu")  # loads as a detector: its split read back
    assert det.recorded_split == {"val_fraction": 0.9, "val_events": ["1--Handshaking"]}
    meta = torch.load(out, map_location="cpu", weights_only=False)["ferkit"]
    assert meta["averaged_from"] == [str(a), str(b), str(last)]


def test_sources_with_different_splits_give_an_average_without_one(tmp_path, tiny_detector_run):
    from ferkit.detector.yolo import average_weights

    last = tiny_detector_run / "weights" / "last.pt"
    other = _shifted(tmp_path, last, "o.pt", 0.0, split={"val_fraction": 0.5, "val_events": []})
    out = average_weights([last, other], tmp_path / "avg.pt")
    assert FaceDetector(out, device="cpu").recorded_split is None


@pytest.mark.parametrize(
    ("sources", "message"),
    [(["last"], "at least two"), (["last", "shipped"], "another architecture"), (["last", "dir"], "not an")],
)
def test_bad_sources_are_refused_and_write_nothing(tmp_path, tiny_detector_run, sources, message):
    from ferkit.detector.yolo import average_weights

    last = tiny_detector_run / "weights" / "last.pt"
    paths = {"last": last, "shipped": packaged_weights("detector"), "dir": tmp_path}
    with pytest.raises(WeightsError, match=message):
        average_weights([paths[s] for s in sources], tmp_path / "avg.pt")
    assert not (tmp_path / "avg.pt").exists()
