"""Runs longer than a session: stopped and resumed, a run ends exactly where the uninterrupted one does."""

from __future__ import annotations

import pytest
import torch

from ferkit.classifier.train import ClassifierTrainConfig, fit
from ferkit.errors import WeightsError

QUIET = {"log": lambda *_: None}


def _config(data, project, name: str, **kw) -> ClassifierTrainConfig:
    base = {"epochs": 3, "batch_size": 8, "device": "cpu", "ema": 0.9, "data_weights": [2.0, 1.0]}
    opts = {**base, **kw}
    return ClassifierTrainConfig(data=[str(d) for d in data], project=str(project), name=name, **opts)


def _weights(run) -> dict:
    state = torch.load(run / "weights" / "last.pt", weights_only=True)
    return {**state["state_dict"], **{f"ema.{k}": v for k, v in state["ema"].items()}}


@pytest.mark.parametrize(
    "extra",
    [{}, {"mixup": 0.4, "cutmix": 1.0}, {"mixup": 0.4, "distill_online": True}],
    ids=["plain", "mixed", "online-teacher"],
)
def test_stopped_and_resumed_twice_equals_one_go(tmp_path, fer_folder, wild_folder, extra, request):
    data = [fer_folder, wild_folder]  # two datasets weighted 2:1: the weighted sampler's order is resumed too
    if extra.get("distill_online"):
        extra = {**extra, "teachers": [str(request.getfixturevalue("tiny_classifier"))]}
    whole = fit(_config(data, tmp_path, "whole", **extra), **QUIET)
    logs: list[str] = []
    parts = fit(_config(data, tmp_path, "parts", session_hours=1e-9, **extra), log=logs.append)  # 1 epoch
    assert torch.load(parts / "weights" / "last.pt", weights_only=True)["epoch"] == 1
    assert any("session budget" in line and "--resume" in line for line in logs)
    fit(resume=parts, overrides={"session_hours": 1e-9}, **QUIET)
    assert torch.load(parts / "weights" / "last.pt", weights_only=True)["epoch"] == 2
    fit(resume=parts, **QUIET)  # no budget this time: runs to the end of the schedule
    a, b = _weights(whole), _weights(parts)
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"resumed run differs from the uninterrupted one in {differ[:5]}"


def test_resuming_a_finished_run_says_so(tmp_path, fer_folder):
    run = fit(_config([fer_folder], tmp_path, "done", epochs=1, data_weights=[], ema=0.0), **QUIET)
    logs: list[str] = []
    fit(resume=run, log=logs.append)
    assert any("already finished at epoch 1 of 1" in line for line in logs), logs
    assert not any("resuming at epoch 2 of 1" in line for line in logs)


def test_a_run_of_an_earlier_training_loop_is_one_clear_error(tmp_path, fer_folder):
    run = fit(_config([fer_folder], tmp_path, "old", epochs=2, data_weights=[], session_hours=1e-9), **QUIET)
    state = torch.load(run / "weights" / "last.pt", weights_only=True)
    state["rng"] = {"torch": state["rng"]["torch"], "aug_numpy": {}}  # what ferkit wrote before 2026-12-03
    torch.save(state, run / "weights" / "last.pt")
    with pytest.raises(WeightsError, match=r"earlier ferkit's training loop.*--init .*best\.pt"):
        fit(resume=run, **QUIET)
