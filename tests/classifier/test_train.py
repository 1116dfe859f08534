import csv
import json

import numpy as np
import pytest
import torch
import yaml

from ferkit.classifier.checkpoint import load_checkpoint, read_checkpoint
from ferkit.classifier.predictor import EmotionClassifier
from ferkit.classifier.train import (
    ClassifierTrainConfig,
    _fit_epochs_to_budget,
    class_weights,
    fit,
    prepare_data,
)
from ferkit.errors import ConfigError, DataError, WeightsError

QUIET = {"log": lambda *_: None}


def cfg(data, tmp_path, **kw) -> ClassifierTrainConfig:
    base = dict(data=str(data), epochs=1, batch_size=8, device="cpu", project=str(tmp_path), name="run")
    return ClassifierTrainConfig(**{**base, **kw})


def test_one_epoch_writes_a_loadable_checkpoint(tmp_path, fer_folder):
    run = fit(cfg(fer_folder, tmp_path), **QUIET)
    for f in ("weights/best.pt", "weights/last.pt", "config.yaml", "metrics.csv", "training_curves.png"):
        assert (run / f).is_file(), f
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert len(rows) == 1 and 0.0 <= float(rows[0]["val_acc"]) <= 1.0
    assert yaml.safe_load((run / "config.yaml").read_text())["arch"] == "alexnet_s"
    _, meta = load_checkpoint(run / "weights" / "best.pt")
    assert meta.class_names == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert meta.grouping.name == "fer7" and meta.input_size == 48 and 0 < meta.std < 1
    clf = EmotionClassifier.from_pretrained(run / "weights" / "best.pt", device="cpu")
    probs = clf.predict_proba([np.zeros((60, 50, 3), np.uint8), np.zeros((48, 48), np.uint8)])
    assert probs.shape == (2, 7) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_resume_continues_from_last_epoch(tmp_path, fer_folder):
    run = fit(cfg(fer_folder, tmp_path, epochs=2), **QUIET)
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    # pretend the run stopped after epoch 1 and ask for one more epoch by resuming
    state = torch.load(run / "weights" / "last.pt", weights_only=True)
    assert state["epoch"] == 2
    state["epoch"] = 1
    torch.save(state, run / "weights" / "last.pt")
    logs = []
    fit(cfg(fer_folder, tmp_path), resume=run, log=logs.append)
    assert any("resuming at epoch 2" in line for line in logs)
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]


def test_a_run_being_trained_cannot_be_resumed_a_second_time(tmp_path, fer_folder):
    from ferkit.errors import RunFolderBusyError
    from ferkit.runs import LOCK_FILE, RunFolder

    run = fit(cfg(fer_folder, tmp_path, epochs=2), **QUIET)
    assert not (run / LOCK_FILE).exists()  # released when the run ended
    state = torch.load(run / "weights" / "last.pt", weights_only=True)
    state["epoch"] = 1
    torch.save(state, run / "weights" / "last.pt")
    with RunFolder(run).hold(), pytest.raises(RunFolderBusyError, match="in use by another ferkit run"):
        fit(resume=run, **QUIET)
    assert torch.load(run / "weights" / "last.pt", weights_only=True)["epoch"] == 1  # untouched


def test_resume_needs_a_run_folder(tmp_path, fer_folder):
    with pytest.raises(DataError, match="cannot resume"):
        fit(cfg(fer_folder, tmp_path), resume=tmp_path, **QUIET)


def test_train_from_csv_with_grouping(tmp_path, fer_csv):
    run = fit(cfg(fer_csv, tmp_path, grouping="valence3", balance="oversample"), **QUIET)
    _, meta = load_checkpoint(run / "weights" / "best.pt")
    assert meta.class_names == ("positive", "negative", "neutral")


def test_fine_grained_folder_with_mapping_file(tmp_path):
    import cv2

    root = tmp_path / "fine"
    for split in ("train", "val"):
        for label in ("grin", "smile", "frown", "scowl", "blank"):
            d = root / split / label
            d.mkdir(parents=True)
            for i in range(3):
                cv2.imwrite(str(d / f"{i}.png"), np.full((40, 40), 40 * i, np.uint8) + np.uint8(i))
    mapping = tmp_path / "map.yaml"
    mapping.write_text("happy: [grin, smile]\nunhappy: [frown, scowl]\n")
    with pytest.raises(DataError, match="blank"):
        fit(cfg(root, tmp_path, grouping=str(mapping)), **QUIET)
    run = fit(
        cfg(root, tmp_path, grouping=str(mapping), drop_unmapped=True, balance="weighted-loss", clean=False),
        **QUIET,
    )
    ckpt = read_checkpoint(run / "weights" / "best.pt")
    assert ckpt["class_names"] == ["happy", "unhappy"]
    assert ckpt["grouping"]["members"] == [["grin", "smile"], ["frown", "scowl"]]


def test_holds_out_val_when_there_is_no_val_split(tmp_path, fer_folder):
    import shutil

    root = tmp_path / "trainonly"
    shutil.copytree(fer_folder / "train", root / "train")
    data = prepare_data(cfg(root, tmp_path), 48, log=lambda *_: None)
    assert data.report["val"] == 7 and data.report["train"] == 35


def test_clean_reports_dropped_images(tmp_path, fer_folder):
    import shutil

    import cv2

    root = tmp_path / "withblank"
    shutil.copytree(fer_folder, root)
    cv2.imwrite(str(root / "train" / "happy" / "blank.png"), np.zeros((48, 48), np.uint8))
    logs = []
    data = prepare_data(cfg(root, tmp_path, clean=True), 48, log=logs.append)
    assert data.report["datasets"]["withblank"]["dropped_blank"] == 1 and "dropped 1 " in logs[0]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("balance", "smote", "balance must be one of"),
        ("optimizer", "lion", "optimizer must be one of"),
        ("arch", "nope", "unknown"),
        ("epochs", 0, "epochs"),
        ("input_blur", "blurry", "input_blur must be auto"),
        ("input_size", 4, "input_size must be 8 to 512"),
        ("hours", -1.0, "hours"),
        ("ema", 1.0, "ema must be a decay"),
        ("ema", -0.1, "ema must be a decay"),
        ("mixup", -0.2, "mixup must be >= 0"),
        ("cutmix", -1.0, "cutmix must be >= 0"),
    ],
)
def test_config_validation(tmp_path, fer_folder, field, value, message):
    with pytest.raises(ConfigError, match=message):
        fit(cfg(fer_folder, tmp_path, **{field: value}), **QUIET)


def test_class_weights_favour_rare_classes():
    w = class_weights(np.array([0, 0, 0, 1]), 2)
    assert w[1] > w[0] and torch.isclose(w.mean(), torch.tensor(1.0))


def test_loading_a_non_classifier_file(tmp_path):
    bad = tmp_path / "x.pt"
    torch.save({"model": 1}, bad)
    with pytest.raises(WeightsError, match="not a ferkit classifier"):
        load_checkpoint(bad)
    bad.write_text("junk")
    with pytest.raises(WeightsError, match="cannot read"):
        load_checkpoint(bad)


def test_export_halves_the_file_and_keeps_predictions(tmp_path, tiny_classifier):
    from ferkit.classifier.checkpoint import export_checkpoint

    out = export_checkpoint(tiny_classifier, tmp_path / "small.pt", val_acc_tta=0.5)
    assert out.stat().st_size < 0.6 * tiny_classifier.stat().st_size
    assert read_checkpoint(out)["metrics"]["val_acc_tta"] == 0.5 and "optimizer" not in read_checkpoint(out)
    x = [np.random.default_rng(i).integers(0, 255, (48, 48)).astype(np.uint8) for i in range(8)]
    full = EmotionClassifier.from_pretrained(tiny_classifier, device="cpu").predict_proba(x)
    half = EmotionClassifier.from_pretrained(out, device="cpu").predict_proba(x)
    # float16 weights round the tiny model's very large logits: same answers, probabilities within 0.05
    assert (full.argmax(1) == half.argmax(1)).all()
    np.testing.assert_allclose(full, half, atol=0.05)


def test_blur_matching_is_stored_and_applied(tmp_path, fer_folder):
    """A dataset whose train split is blurrier than val gets a matching input blur in its checkpoint."""
    import shutil

    import cv2

    from ferkit.classifier.preprocess import Preprocess, to_tensor

    root = tmp_path / "blurry"
    shutil.copytree(fer_folder, root)
    for p in (root / "train").rglob("*.png"):
        cv2.imwrite(str(p), cv2.GaussianBlur(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (0, 0), 3))
    logs = []
    run = fit(cfg(root, tmp_path), log=logs.append)
    _, meta = load_checkpoint(run / "weights" / "best.pt")
    assert meta.blur_sigma > 1.0 and meta.blur_skip_below > 0
    assert any("inputs get a Gaussian blur" in line for line in logs)
    sharp = np.stack(
        [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted((root / "val").rglob("*.png"))[:3]]
    )
    assert not torch.equal(Preprocess(meta).tensor(sharp), to_tensor(sharp, meta.mean, meta.std))
    no_blur = fit(cfg(root, tmp_path, input_blur="none"), **QUIET)
    assert load_checkpoint(no_blur / "weights" / "best.pt")[1].blur_sigma == 0.0


def test_input_size_option(tmp_path, fer_folder):
    run = fit(cfg(fer_folder, tmp_path, arch="alexnet_m", input_size=24), **QUIET)
    clf = EmotionClassifier.from_pretrained(run / "weights" / "best.pt", device="cpu")
    assert clf.meta.input_size == 24
    assert clf.predict_proba([np.zeros((70, 60, 3), np.uint8)]).shape == (1, 7)


@pytest.mark.parametrize(
    ("hours", "epoch_seconds", "done", "epochs", "expected"),
    [
        (1.0, 60.0, 0, 100, 60),  # the budget cuts the run
        (1.0, 10.0, 0, 100, 100),  # the budget fits more than asked: epochs stays
        (0.001, 60.0, 0, 100, 1),  # never below one epoch
        (1.0, 60.0, 30, 100, 90),  # on resume, the budget counts from the resumed epoch
    ],
)
def test_time_budget_sets_epochs(tmp_path, hours, epoch_seconds, done, epochs, expected):
    config = ClassifierTrainConfig(data="x", epochs=epochs, hours=hours)
    _fit_epochs_to_budget(config, epoch_seconds, done, tmp_path, log=lambda *_: None)
    assert config.epochs == expected
    if expected < epochs:  # saved beside the run, so that --resume keeps the shortened schedule
        assert yaml.safe_load((tmp_path / "config.yaml").read_text())["epochs"] == expected


def test_time_budget_ends_the_run_after_epoch_one(tmp_path, fer_folder):
    run = fit(cfg(fer_folder, tmp_path, epochs=50, hours=1e-6), **QUIET)
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert len(rows) == 1


def test_init_starts_from_the_given_weights(tmp_path, fer_folder, tiny_classifier):
    start, start_meta = load_checkpoint(tiny_classifier)
    # a learning rate too small to move any weight: the run ends where it started
    run = fit(cfg(fer_folder, tmp_path, init=str(tiny_classifier), lr=1e-12, seed=5, name="ft"), **QUIET)
    tuned, meta = load_checkpoint(run / "weights" / "best.pt")
    scratch, _ = load_checkpoint(
        fit(cfg(fer_folder, tmp_path, lr=1e-12, seed=5, name="new"), **QUIET) / "weights" / "best.pt"
    )
    w0, w1, w2 = (m.features[0].weight for m in (start, tuned, scratch))
    assert torch.allclose(w0, w1, atol=1e-6) and not torch.allclose(w0, w2, atol=1e-3)
    # inputs are normalised as the starting model was trained
    assert (meta.mean, meta.std) == (start_meta.mean, start_meta.std)


def test_ema_weights_are_what_is_validated_and_saved(tmp_path, fer_folder, tiny_classifier):
    start, _ = load_checkpoint(tiny_classifier)
    # a decay this close to 1 keeps the average at the first step's weights while the raw weights move on
    run = fit(cfg(fer_folder, tmp_path, init=str(tiny_classifier), ema=0.999999, lr=0.05), **QUIET)
    best, _ = load_checkpoint(run / "weights" / "best.pt")
    last = torch.load(run / "weights" / "last.pt", weights_only=True)
    raw = last["state_dict"]["features.0.weight"].float()
    w0 = start.features[0].weight
    kept = best.features[0].weight.detach()
    # best.pt holds the average: near the start (it moved one step of many), far from the raw weights
    assert (raw - w0).norm() > 1e-3 and (kept - w0).norm() < 0.5 * (kept - raw).norm()
    assert torch.allclose(last["ema"]["module.features.0.weight"].float(), best.features[0].weight)
    # the average follows the running batch-norm statistics too
    assert int(last["ema"]["n_averaged"]) > 1


def test_ema_is_restored_on_resume(tmp_path, fer_folder):
    run = fit(cfg(fer_folder, tmp_path, epochs=2, ema=0.9), **QUIET)
    state = torch.load(run / "weights" / "last.pt", weights_only=True)
    steps_per_epoch = int(state["ema"]["n_averaged"]) // 2
    state["epoch"], state["ema"]["n_averaged"] = 1, torch.tensor(steps_per_epoch)
    torch.save(state, run / "weights" / "last.pt")
    fit(resume=run, **QUIET)
    resumed = torch.load(run / "weights" / "last.pt", weights_only=True)
    assert int(resumed["ema"]["n_averaged"]) == 2 * steps_per_epoch


def test_init_with_another_grouping_gets_a_head_for_it(tmp_path, fer_folder, tiny_classifier):
    run = fit(cfg(fer_folder, tmp_path, init=str(tiny_classifier), grouping="valence3"), **QUIET)
    report = json.loads((run / "data_report.json").read_text())
    assert report["head_from_init"] == {"positive": "new", "negative": "new", "neutral": "kept"}


@pytest.mark.parametrize(
    ("device", "native_bf16", "enabled", "expected"),
    [
        ("cpu", True, True, torch.bfloat16),
        ("cpu", False, True, None),  # emulated bf16 would be slower than float32
        ("cpu", True, False, None),
        ("cuda", False, True, torch.float16),  # a GPU without bf16: float16 with loss scaling
        ("cuda", True, True, torch.bfloat16),  # no loss scaling: no wait for the GPU at each step
        ("cuda", True, False, None),
        ("mps", True, True, None),
    ],
)
def test_mixed_precision_dtype(monkeypatch, device, native_bf16, enabled, expected):
    import ferkit.device

    monkeypatch.setattr(ferkit.device, "cpu_has_bf16", lambda: native_bf16)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: native_bf16)
    assert ferkit.device.autocast_dtype(torch.device(device), enabled) == expected


@pytest.mark.parametrize(("amp", "conv_dtype"), [(True, torch.bfloat16), (False, torch.float32)])
def test_cpu_training_runs_in_bf16_when_the_cpu_has_it(monkeypatch, tmp_path, fer_folder, amp, conv_dtype):
    import torch.nn as nn

    import ferkit.device

    monkeypatch.setattr(ferkit.device, "cpu_has_bf16", lambda: True)
    seen = []

    def record(module, inputs, output):
        if module.training:
            seen.append(output.dtype)

    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda m, i, o: record(m, i, o) if isinstance(m, nn.Conv2d) else None
    )
    try:
        run = fit(cfg(fer_folder, tmp_path, amp=amp, name=f"amp{amp}"), **QUIET)
    finally:
        hook.remove()
    assert seen and set(seen) == {conv_dtype}
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert np.isfinite(float(rows[0]["train_loss"]))
