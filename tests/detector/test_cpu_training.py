"""The detector's CPU training set-up: all threads, channels-last, bf16 forward passes of training batches."""

import copy
import dataclasses
import os
import pickle

import pytest
import torch
import yaml
from torch import nn

from ferkit.detector import cpu_training
from ferkit.detector.train import finished_epochs, resume_detector, train_detector
from ferkit.detector.yolo import checked
from tests.helpers import fer, tiny_detector_config


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.seen: list[torch.dtype] = []

    def predict(self, x):
        y = self.conv(x)
        self.seen.append(y.dtype)
        return {"maps": [y, y.mean()], "count": 3}


def test_autocast_forward_computes_in_bf16_and_hands_back_float32():
    model = Tiny()
    cpu_training.autocast_forward(model, "predict", torch.bfloat16)
    cpu_training.autocast_forward(model, "predict", torch.bfloat16)  # a second call wraps nothing twice
    out = model.predict(torch.rand(2, 3, 8, 8))
    assert model.seen == [torch.bfloat16]
    assert [t.dtype for t in out["maps"]] == [torch.float32, torch.float32] and out["count"] == 3
    out["maps"][1].backward()
    assert model.conv.weight.grad is not None and model.conv.weight.dtype == torch.float32


def test_restore_forward_leaves_a_plain_module_that_copies_and_pickles():
    model = Tiny()
    cpu_training.autocast_forward(model, "predict", torch.bfloat16)
    cpu_training.restore_forward(model)
    cpu_training.restore_forward(model)  # nothing installed: nothing to do
    assert "predict" not in vars(model) and not any(k.startswith("_ferkit") for k in vars(model))
    model.predict(torch.rand(1, 3, 8, 8))
    assert model.seen == [torch.float32]
    assert isinstance(pickle.loads(pickle.dumps(copy.deepcopy(model))), Tiny)


def test_start_sets_threads_and_channels_last():
    model, before = Tiny(), torch.get_num_threads()
    try:
        cpu_training.start(model, 1)
        assert torch.get_num_threads() == 1
        assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def spied(monkeypatch):
    """Records what the trainer's callbacks did; bf16 is 'native' here whatever this CPU is."""
    import ferkit.detector.yolo as yolo

    calls: list[tuple] = []
    real = cpu_training.autocast_forward

    def autocast_forward(model, method, dtype):
        real(model, method, dtype)
        wrapped = model.__dict__[method]

        def counted(*a, **k):
            calls.append(("batch", torch.get_num_threads()))
            return wrapped(*a, **k)

        model.__dict__[method] = counted
        layout = model.model[0].conv.weight.is_contiguous(memory_format=torch.channels_last)
        calls.append(("epoch", dtype, layout))

    monkeypatch.setattr(cpu_training, "autocast_forward", autocast_forward)
    monkeypatch.setattr(yolo, "autocast_dtype", lambda device, amp: torch.bfloat16 if amp else None)
    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    yield calls
    torch.set_num_threads(threads)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="ultralytics' drop to cpu_count - 1 threads is a no-op")
def test_cpu_training_batches_run_bf16_on_all_threads_and_checkpoints_stay_plain(tmp_path, tiny_yolo, spied):
    cfg = dataclasses.replace(tiny_detector_config(tiny_yolo, tmp_path, "bf16"), epochs=2, session_hours=1e-6)
    run = train_detector(cfg)
    assert spied[0] == ("epoch", torch.bfloat16, True)
    batches = [c for c in spied if c[0] == "batch"]
    assert len(batches) == 2, "each of the 2 training batches of the epoch goes through the bf16 forward"
    assert {c[1] for c in batches} == {os.cpu_count()}, "training runs on all the threads it was given"
    checked(run / "weights" / "last.pt")  # the EMA saved is a plain ultralytics model (allow-listed)
    ckpt = torch.load(run / "weights" / "last.pt", weights_only=False)
    assert not any(k.startswith("_ferkit") or k == "predict" for k in vars(ckpt["ema"]))
    spied.clear()
    resume_detector(run, "cpu")  # the run recorded amp: true
    assert finished_epochs(run) == (2, 2) and spied[0][:2] == ("epoch", torch.bfloat16)


def test_no_amp_trains_float32_and_resume_keeps_it_unless_told(tmp_path, tiny_yolo, spied):
    cfg = tiny_detector_config(tiny_yolo, tmp_path, "fp32")
    run = train_detector(dataclasses.replace(cfg, epochs=3, session_hours=1e-6, amp=False))
    assert yaml.safe_load((run / "config.yaml").read_text())["amp"] is False and spied == []
    resume_detector(run, "cpu", session_hours=1e-6)  # the run's own setting
    assert finished_epochs(run) == (2, 3) and spied == []
    r = fer("train-detector", "--resume", run, "--amp", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert finished_epochs(run) == (3, 3) and spied[0][:2] == ("epoch", torch.bfloat16)


class _SetUp(Exception):
    pass


@pytest.mark.filterwarnings("ignore:torch.cuda.amp.GradScaler is enabled")
@pytest.mark.parametrize("recorded, flag", [(False, True), (True, False)])
def test_resume_on_cuda_switches_amp_as_told(tmp_path, tiny_yolo, monkeypatch, recorded, flag):
    """ultralytics keeps a resumed run's recorded amp; ``--resume RUN --amp/--no-amp`` must still decide."""
    import ferkit.detector.yolo as yolo

    monkeypatch.setattr(yolo, "autocast_dtype", lambda device, amp: None)
    monkeypatch.setattr(yolo, "amp_works", lambda device: True)  # float16 AMP works here, as on a GPU
    cfg = tiny_detector_config(tiny_yolo, tmp_path, f"amp{recorded}")
    run = train_detector(dataclasses.replace(cfg, epochs=2, session_hours=1e-6, amp=recorded))
    assert torch.load(run / "weights" / "last.pt", weights_only=False)["train_args"]["amp"] is recorded
    from ultralytics.engine.trainer import BaseTrainer  # imported by ferkit's adapter already

    seen: list[bool] = []
    set_up = BaseTrainer._setup_train

    def spy(trainer):  # the trainer as set up for the resumed run, stopped before it trains
        set_up(trainer)
        seen.append(bool(trainer.amp))
        raise _SetUp

    monkeypatch.setattr(BaseTrainer, "_setup_train", spy)
    with pytest.raises(_SetUp):
        resume_detector(run, "cpu", amp=flag)
    assert seen == [flag]
