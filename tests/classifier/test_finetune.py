"""Fine-tuning onto your own classes: a new head (rows kept for known classes), class folders without
splits, CSV lists, frozen parts, the fine-tune recipe, and one clear line for each kind of bad data."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from ferkit.classifier.checkpoint import load_checkpoint, read_checkpoint
from ferkit.classifier.config import RECIPES, ClassifierTrainConfig
from ferkit.classifier.finetune import adapt_head, head_layer, stages
from ferkit.classifier.train import fit
from ferkit.errors import ConfigError, DataError
from tests.helpers import make_face

QUIET = {"log": lambda *_: None}


def flat_folder(root, classes: dict[str, int], seed: int = 0, size: int = 48):
    """ROOT/<class>/<i>.png: no train/val split."""
    rng = np.random.default_rng(seed)
    for k, (cls, n) in enumerate(classes.items()):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            cv2.imwrite(str(root / cls / f"{i}.png"), make_face(rng, size=size, cls=k % 7))
    return root


def cfg(data, tmp_path, **kw) -> ClassifierTrainConfig:
    base = dict(data=[str(data)], epochs=1, batch_size=8, device="cpu", project=str(tmp_path / "runs"))
    return ClassifierTrainConfig(**{**base, **kw})


def test_fine_tunes_onto_classes_the_start_model_lacks(tmp_path, tiny_classifier):
    data = flat_folder(tmp_path / "faces3", {"angry": 6, "scared": 6, "surprised": 6})
    run = fit(cfg(data, tmp_path, init=str(tiny_classifier)), **QUIET)
    ckpt = read_checkpoint(run / "weights" / "best.pt")
    assert tuple(ckpt["class_names"]) == ("angry", "scared", "surprised")  # the data's own names
    report = json.loads((run / "data_report.json").read_text())
    assert report["head_from_init"] == {"angry": "kept", "scared": "new", "surprised": "new"}
    held = report["datasets"]["faces3"]["val_held_out_of_train"]
    assert len(held) == 3 and {h.split("/")[-2] for h in held} == {"angry", "scared", "surprised"}
    _, start = load_checkpoint(tiny_classifier)
    assert ckpt["crop"] == start.crop.to_dict()  # framed as the start model was trained


def test_a_new_head_keeps_the_rows_of_known_classes(tiny_classifier):
    model, meta = load_checkpoint(tiny_classifier)
    old = head_layer(model).weight.detach().clone()
    origin = adapt_head(model, meta.class_names, ("happy", "joy", "angry"))
    new = head_layer(model).weight
    assert origin == {"happy": "kept", "joy": "new", "angry": "kept"} and new.shape[0] == 3
    assert torch.equal(new[0], old[meta.class_names.index("happy")])
    assert torch.equal(new[2], old[meta.class_names.index("angry")])
    assert model(torch.zeros(2, 1, 48, 48)).shape == (2, 3)


def test_six_of_the_seven_classes_fine_tune_without_a_grouping(tmp_path, tiny_classifier):
    six = {c: 4 for c in ("angry", "disgust", "fear", "happy", "sad", "surprise")}  # posed: no neutral
    run = fit(cfg(flat_folder(tmp_path / "posed", six), tmp_path, init=str(tiny_classifier)), **QUIET)
    assert read_checkpoint(run / "weights" / "best.pt")["class_names"] == list(six)


def test_a_linear_probe_trains_only_the_head(tmp_path, tiny_classifier):
    data = flat_folder(tmp_path / "f", {"a": 6, "b": 6})
    run = fit(cfg(data, tmp_path, init=str(tiny_classifier), freeze="backbone", epochs=2), **QUIET)
    start, _ = load_checkpoint(tiny_classifier)
    tuned, _ = load_checkpoint(run / "weights" / "best.pt")
    for block_start, block_tuned in zip(stages(start), stages(tuned), strict=True):
        for a, b in zip(block_start, block_tuned, strict=True):
            for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
                assert torch.equal(x, y), name  # weights and batch-norm statistics as they were


def test_freezing_the_first_blocks_leaves_the_rest_trainable(tiny_classifier):
    from ferkit.classifier.finetune import freeze

    model, _ = load_checkpoint(tiny_classifier)
    assert freeze(model, "2") == 2
    blocks = stages(model)
    assert not any(p.requires_grad for m in blocks[0] + blocks[1] for p in m.parameters())
    assert all(p.requires_grad for m in blocks[2] for p in m.parameters())
    model.train()
    assert not blocks[0][1].training and blocks[2][1].training  # frozen batch norm stays in eval mode
    with pytest.raises(ConfigError, match="freeze"):
        freeze(model, "99")


def test_the_fine_tune_recipe_fills_what_was_not_given(tmp_path):
    tuned = ClassifierTrainConfig(data=["d"], init="default").resolved()
    scratch = ClassifierTrainConfig(data=["d"]).resolved()
    assert (tuned.lr, tuned.epochs, tuned.backbone_lr) == tuple(
        RECIPES["finetune"][k] for k in ("lr", "epochs", "backbone_lr")
    )
    assert (scratch.lr, scratch.backbone_lr) == (RECIPES["scratch"]["lr"], 1.0)
    assert ClassifierTrainConfig(data=["d"], init="default", lr=0.2).resolved().lr == 0.2
    with pytest.raises(ConfigError, match=r"freeze.*--init"):
        ClassifierTrainConfig(data=["d"], freeze="backbone").validate()


def test_a_csv_of_paths_and_labels_trains(tmp_path, tiny_classifier):
    faces = flat_folder(tmp_path / "imgs", {"x": 4, "y": 4})
    rows = ["path,label"] + [f"imgs/{c}/{i}.png,{c}" for c in ("x", "y") for i in range(4)]
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    run = fit(cfg(tmp_path / "list.csv", tmp_path, init=str(tiny_classifier)), **QUIET)
    assert read_checkpoint(run / "weights" / "best.pt")["class_names"] == ["x", "y"]
    assert faces.is_dir()


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda d: flat_folder(d, {"a": 5, "b": 1}), r"too few faces .* b \(1\)"),
        (lambda d: (flat_folder(d, {"a": 5, "b": 5}), (d / "c").mkdir()), "c: empty class folder"),
        (lambda d: (flat_folder(d, {"a": 5, "b": 5}), (d / "b" / "x.png").write_bytes(b"junk")), "x.png"),
        (
            lambda d: (d.mkdir(), (d / "l.csv").write_text("path,label\nnope.png,a\n")),
            r"l\.csv:2: .*nope\.png",
        ),
    ],
    ids=["one-face-class", "empty-class", "broken-image", "csv-unknown-path"],
)
def test_bad_data_is_one_clear_error_and_no_run_folder(tmp_path, tiny_classifier, make, says):
    make(tmp_path / "d")
    data = tmp_path / "d" / "l.csv" if (tmp_path / "d" / "l.csv").exists() else tmp_path / "d"
    with pytest.raises(DataError, match=says):
        fit(cfg(data, tmp_path, init=str(tiny_classifier)), **QUIET)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_mixed_sizes_and_colour_modes_are_read(tmp_path, tiny_classifier):
    data = flat_folder(tmp_path / "m", {"a": 3, "b": 3})
    rng = np.random.default_rng(3)
    cv2.imwrite(str(data / "a" / "big.jpg"), rng.integers(0, 255, (120, 90, 3)).astype(np.uint8))
    cv2.imwrite(str(data / "b" / "rgba.png"), rng.integers(0, 255, (30, 40, 4)).astype(np.uint8))
    run = fit(cfg(data, tmp_path, init=str(tiny_classifier)), **QUIET)
    assert json.loads((run / "data_report.json").read_text())["train"] + 2 >= 6


def test_the_fine_tuned_model_runs_everywhere_with_its_own_names(tmp_path, tiny_classifier):
    from pathlib import Path

    from typer.testing import CliRunner

    from ferkit.cli import app

    example = Path(__file__).resolve().parents[2] / "docs" / "example.jpg"
    data = flat_folder(tmp_path / "faces", {"calm": 4, "joy": 4, "rage": 4})
    runner = CliRunner()
    args = ["--data", str(data), "--init", str(tiny_classifier), "--epochs", "1", "--device", "cpu"]
    r = runner.invoke(app, ["train-classifier", *args, "--project", str(tmp_path / "runs"), "-q"])
    assert r.exit_code == 0, r.output
    best = tmp_path / "runs" / "train" / "weights" / "best.pt"
    r = runner.invoke(app, ["export", "--weights", str(best), "--out", str(tmp_path / "mine.onnx")])
    assert r.exit_code == 0, r.output
    for weights in (best, tmp_path / "mine.onnx"):
        r = runner.invoke(app, ["detect", str(example), "--classifier-weights", str(weights), "-f", "json",
                                "--device", "cpu"])  # fmt: skip
        assert r.exit_code == 0, r.output
        faces = json.loads(r.stdout)[0]["faces"]
        assert faces and all(set(f["emotion_probs"]) == {"calm", "joy", "rage"} for f in faces)
