"""Weight averaging of checkpoints, and the per-epoch snapshots it averages."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ferkit.classifier.averaging import average_checkpoints, record_val_metrics, snapshot_path
from ferkit.classifier.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from ferkit.classifier.models import create_model
from ferkit.classifier.train import ClassifierTrainConfig, fit
from ferkit.errors import ConfigError, WeightsError


def _shifted_copy(src, dst, shift: float, **meta_changes):
    """``src`` with every floating tensor (weights and batch-norm statistics) plus ``shift``."""
    model, meta = load_checkpoint(src)
    with torch.no_grad():
        for v in model.state_dict().values():
            if v.is_floating_point():
                v.add_(shift)
    save_checkpoint(dst, model, dataclasses.replace(meta, **meta_changes))
    return dst


def test_average_is_the_mean_of_weights_and_statistics(tmp_path, tiny_classifier):
    a = _shifted_copy(tiny_classifier, tmp_path / "a.pt", 0.0)
    b = _shifted_copy(tiny_classifier, tmp_path / "b.pt", 0.3)
    c = _shifted_copy(tiny_classifier, tmp_path / "c.pt", 0.9)
    out = average_checkpoints([a, b, c], tmp_path / "avg.pt")
    avg, meta = load_checkpoint(out)
    base, base_meta = load_checkpoint(tiny_classifier)
    for k, v in avg.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, base.state_dict()[k] + 0.4, atol=1e-5), k
    assert (meta.class_names, meta.mean, meta.crop) == (base_meta.class_names, base_meta.mean, base_meta.crop)
    # the first member's val figures describe that member, not the average
    assert meta.metrics == {"averaged_from": [str(a), str(b), str(c)]}


def test_recorded_val_metrics_are_the_averages_own(tmp_path, tiny_classifier, fer_folder):
    from ferkit.classifier.evaluate import evaluate_classifier

    b = _shifted_copy(tiny_classifier, tmp_path / "b.pt", 0.05)
    out = average_checkpoints([tiny_classifier, b], tmp_path / "avg.pt")
    metrics = record_val_metrics(out, [str(fer_folder)], device="cpu")
    report = evaluate_classifier(str(out), str(fer_folder), device="cpu")
    stored = load_checkpoint(out)[1].metrics
    assert stored["val"][fer_folder.name]["accuracy"] == report.accuracy == metrics["val_acc"]
    assert stored["averaged_from"] and set(stored["val"][fer_folder.name]) == {
        "accuracy",
        "macro_f1",
        "per_class_accuracy",
    }


def test_half_stores_float16(tmp_path, tiny_classifier):
    b = _shifted_copy(tiny_classifier, tmp_path / "b.pt", 0.1)
    out = average_checkpoints([tiny_classifier, b], tmp_path / "avg.pt", half=True)
    assert read_checkpoint(out)["state_dict"]["features.0.weight"].dtype == torch.float16


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"class_names": ("a", "b", "c", "d", "e", "f", "g")}, "class names differ"),
        ({"mean": 0.1}, "mean differ"),
        ({"input_size": 64}, "input size differ"),
    ],
)
def test_members_must_agree(tmp_path, tiny_classifier, changes, message):
    _, meta = load_checkpoint(tiny_classifier)
    meta = dataclasses.replace(meta, **changes)
    other = tmp_path / "other.pt"
    save_checkpoint(other, create_model("alexnet_s", 7, input_size=meta.input_size), meta)
    with pytest.raises(WeightsError, match=message) as info:
        average_checkpoints([tiny_classifier, other], tmp_path / "avg.pt")
    assert str(other) in str(info.value)
    assert not (tmp_path / "avg.pt").exists()


def test_needs_two_members(tmp_path, tiny_classifier):
    with pytest.raises(ConfigError, match="at least 2"):
        average_checkpoints([tiny_classifier], tmp_path / "avg.pt")


def test_save_epochs_keeps_each_epochs_weights(tmp_path, fer_folder):
    config = ClassifierTrainConfig(
        data=[str(fer_folder)], epochs=2, batch_size=8, device="cpu", project=str(tmp_path), save_epochs=True
    )
    run = fit(config, log=lambda *_: None)
    first, second = snapshot_path(run, 1), snapshot_path(run, 2)
    assert first.is_file() and second.is_file()
    w1, w2 = (load_checkpoint(p)[0].features[0].weight for p in (first, second))
    assert not torch.allclose(w1, w2)
    assert torch.allclose(w2, load_checkpoint(run / "weights" / "last.pt")[0].features[0].weight)


def test_no_snapshots_by_default(tmp_path, fer_folder):
    config = ClassifierTrainConfig(
        data=[str(fer_folder)], epochs=1, batch_size=8, device="cpu", project=str(tmp_path)
    )
    assert not (fit(config, log=lambda *_: None) / "epochs").exists()


def _steps(model: torch.nn.Module, opt, n: int, *emas) -> None:
    for _ in range(n):
        model(torch.randn(8, 1, 8, 8)).sum().backward()
        opt.step()
        opt.zero_grad()
        for ema in emas:
            ema.update_parameters(model)


def test_ema_matches_torchs_averaged_model_and_resumes_from_its_state():
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from ferkit.classifier.loop import make_ema

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(), torch.nn.Linear(144, 3)
    )
    ours = make_ema(model, 0.9)
    theirs = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    _steps(model, opt, 4, ours, theirs)
    resumed = make_ema(model, 0.9)
    resumed.load_state_dict(theirs.state_dict())  # a run saved by torch's class goes on with ours
    _steps(model, opt, 3, ours, theirs, resumed)
    want = theirs.state_dict()
    for got in (ours.state_dict(), resumed.state_dict()):
        assert got.keys() == want.keys()
        assert all(torch.equal(got[k], want[k]) for k in want)
    assert int(want["n_averaged"]) == 7
