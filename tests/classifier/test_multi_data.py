"""Training on several datasets at once, soft labels and distillation, on tiny synthetic data."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
import yaml

from ferkit.classifier.checkpoint import load_checkpoint, read_checkpoint
from ferkit.classifier.config import ClassifierTrainConfig
from ferkit.classifier.train import fit, make_train_loader, prepare_data, selection_score
from ferkit.classifier.train_data import dataset_names
from ferkit.errors import ConfigError, DataError
from ferkit.imaging.crop import CropRecipe
from tests.helpers import write_face_folder

QUIET = {"log": lambda *_: None}


def cfg(data, tmp_path, **kw) -> ClassifierTrainConfig:
    data = [str(d) for d in (data if isinstance(data, list) else [data])]
    base = dict(data=data, epochs=1, batch_size=8, device="cpu", project=str(tmp_path), name="run")
    return ClassifierTrainConfig(**{**base, **kw})


def test_two_datasets_report_each_val_and_the_mean(tmp_path, fer_folder, wild_folder):
    run = fit(cfg([fer_folder, wild_folder], tmp_path), **QUIET)
    row = next(csv.DictReader((run / "metrics.csv").open()))
    a, b = float(row["val_acc_fer_folder0"]), float(row["val_acc_wild"])
    assert float(row["val_acc"]) == pytest.approx((a + b) / 2, abs=1e-5)
    assert {"val_f1_fer_folder0", "val_f1_wild", "val_acc_pooled", "score"} <= set(row)
    metrics = read_checkpoint(run / "weights" / "best.pt")["metrics"]
    assert metrics["select"] == "mean" and set(metrics["val"]) == {"fer_folder0", "wild", "pooled"}
    assert set(metrics["val"]["wild"]["per_class_accuracy"]) == {
        "angry",
        "disgust",
        "fear",
        "happy",
        "sad",
        "surprise",
        "neutral",
    }


def test_data_weights_change_how_often_each_dataset_is_drawn(tmp_path, fer_folder, wild_folder):
    config = cfg([fer_folder, wild_folder], tmp_path, data_weights=[0.0, 1.0], augment=0)
    data = prepare_data(config, 48, **QUIET)
    loader = make_train_loader(data, config, 48, __import__("torch").device("cpu"))
    drawn = loader.order().numpy()
    assert (data.train.dataset[drawn] == 1).all()  # weight 0: never drawn
    equal = make_train_loader(
        data, cfg([fer_folder, wild_folder], tmp_path), 48, __import__("torch").device("cpu")
    )
    assert equal.weights is None  # plain shuffling: each image once an epoch
    assert sorted(equal.order().tolist()) == list(range(len(data.train.targets)))


@pytest.mark.parametrize(
    ("select", "expected"),
    [("mean", 0.6), ("pooled", 0.55), ("min", 0.4), ("b", 0.8)],
)
def test_selection_criterion(select, expected):
    m = {
        "a": {"accuracy": 0.4},
        "b": {"accuracy": 0.8},
        "pooled": {"accuracy": 0.55},
        "mean": {"accuracy": 0.6},
    }
    assert selection_score(m, select) == pytest.approx(expected)


def test_selection_naming_no_dataset_is_an_error(tmp_path, fer_folder):
    with pytest.raises(DataError, match="names no val set"):
        fit(cfg(fer_folder, tmp_path, select="expw"), **QUIET)


def test_dataset_names_are_unique():
    assert dataset_names(["a/fer2013", "b/fer2013", "x.csv"]) == ["fer2013", "fer2013-2", "x"]


def test_a_dataset_the_grouping_cannot_map_is_named(tmp_path, fer_folder):
    odd = write_face_folder(tmp_path / "odd", ("happy", "grumpy", "meh"), {"train": 2, "val": 1})
    with pytest.raises(DataError, match=r"dataset odd: labels not in grouping 'fer7': grumpy, meh"):
        prepare_data(cfg([fer_folder, odd], tmp_path, grouping="fer7"), 48, **QUIET)


def test_a_missing_root_is_named(tmp_path, fer_folder):
    with pytest.raises(DataError, match="dataset not found: /no/such/root"):
        prepare_data(cfg([fer_folder, "/no/such/root"], tmp_path), 48, **QUIET)


def test_val_fallback_per_dataset(tmp_path, fer_folder, wild_folder):
    trainonly = tmp_path / "trainonly"
    shutil.copytree(wild_folder / "train", trainonly / "train")
    logs: list[str] = []
    data = prepare_data(cfg([fer_folder, trainonly], tmp_path), 48, log=logs.append)
    assert len(data.vals["fer_folder0"].targets) == 14 and len(data.vals["trainonly"].targets) == 7
    assert any("trainonly: no 'val' split" in line for line in logs)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("data_weights", [1.0, 2.0], "one per dataset"),
        ("data_weights", [-1.0], ">= 0"),
        ("soft_unknown", "keep", "soft_unknown must be"),
        ("soft_mix", 1.5, "soft_mix must be in"),
        ("crop_margin", 5.0, "crop margin"),
    ],
)
def test_new_options_are_validated(tmp_path, fer_folder, field, value, message):
    with pytest.raises(ConfigError, match=message):
        fit(cfg(fer_folder, tmp_path, **{field: value}), **QUIET)


def test_no_data_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="data is empty: give one or more datasets"):
        fit(cfg([], tmp_path), **QUIET)


def test_crop_recipe_is_stored_in_the_checkpoint(tmp_path, fer_folder):
    run = fit(cfg(fer_folder, tmp_path, crop_margin=0.1), **QUIET)
    _, meta = load_checkpoint(run / "weights" / "best.pt")
    assert meta.crop == CropRecipe(margin=0.1)


def test_resume_needs_no_data_and_honours_new_epochs(tmp_path, fer_folder):
    run = fit(cfg(fer_folder, tmp_path), **QUIET)
    logs: list[str] = []
    fit(resume=run, log=logs.append, overrides={"epochs": 3, "hours": None})
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == 3
    assert any("resuming at epoch 2 of 3" in line for line in logs)


def test_old_single_dataset_configs_still_load():
    assert ClassifierTrainConfig.from_dict({"data": "x/fer2013"}).data == ["x/fer2013"]


# soft labels ---------------------------------------------------------------------------------------------


def write_votes(
    path, rows, header="file,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,not_face"
):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def test_soft_labels_train_on_vote_distributions(tmp_path, fer_folder):
    votes = write_votes(
        fer_folder / "votes_test.csv",
        [
            ("train/happy/0.png", 2, 8, 0, 0, 0, 0, 0, 0, 0, 0),
            ("train/angry/0.png", 0, 0, 0, 0, 0, 0, 0, 0, 0, 10),  # not a face: dropped
            ("train/sad/0.png", 0, 0, 0, 5, 0, 0, 0, 5, 0, 0),  # contempt ignored -> all sad
        ],
    )
    try:
        config = cfg(fer_folder, tmp_path, soft_labels=str(votes))
        data = prepare_data(config, 48, **QUIET)
        by_src = {
            s.split("fer_folder0/")[1]: t for s, t in zip(data.train.sources, data.train.soft, strict=True)
        }
        classes = data.class_names
        happy = by_src["train/happy/0.png"]
        assert happy[classes.index("happy")] == pytest.approx(0.8) and happy[
            classes.index("neutral")
        ] == pytest.approx(0.2)
        assert "train/angry/0.png" not in by_src
        assert by_src["train/sad/0.png"][classes.index("sad")] == pytest.approx(1.0)
        assert data.report["soft_labels"]["dropped"] == {"not_face": 1}
        # map:<class> sends those votes to a class
        mapped = prepare_data(
            cfg(fer_folder, tmp_path, soft_labels=str(votes), soft_contempt="map:disgust"), 48, **QUIET
        )
        src = {
            s.split("fer_folder0/")[1]: t
            for s, t in zip(mapped.train.sources, mapped.train.soft, strict=True)
        }
        assert src["train/sad/0.png"][classes.index("disgust")] == pytest.approx(0.5)
        fit(config, **QUIET)  # trains on them
    finally:
        votes.unlink()


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        ([("nowhere/x.png", 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)], None, "no file name matches a training image"),
        ([("train/happy/0.png", 1, 0)], None, r":2: malformed row: expected 11 fields"),
        ([("train/happy/0.png", "a", 0, 0, 0, 0, 0, 0, 0, 0, 0)], None, "malformed row"),
        ([("train/happy/0.png", 1, 0)], "file,happy,boredom", "label 'boredom' is not in grouping"),
        ([("train/happy/0.png", 1)], "name,happy", "expected a header 'file"),
    ],
)
def test_bad_vote_files_are_named(tmp_path, fer_folder, rows, header, message):
    votes = write_votes(tmp_path / "votes.csv", rows, **({"header": header} if header else {}))
    # vote names are relative to the vote file's folder
    shutil.copytree(fer_folder, tmp_path / "train_root", dirs_exist_ok=True)
    shutil.move(votes, tmp_path / "train_root" / "votes.csv")
    with pytest.raises(DataError, match=message):
        prepare_data(
            cfg(tmp_path / "train_root", tmp_path, soft_labels=str(tmp_path / "train_root" / "votes.csv")),
            48,
            **QUIET,
        )


# distillation --------------------------------------------------------------------------------------------


def test_distillation_from_an_ensemble_of_teachers(tmp_path, fer_folder, tiny_classifier):
    logs: list[str] = []
    run = fit(cfg(fer_folder, tmp_path, teachers=[str(tiny_classifier)] * 2), log=logs.append)
    assert (run / "weights" / "best.pt").is_file()
    assert any("distillation: scoring" in line and "2 teacher(s)" in line for line in logs)


def test_a_teacher_with_other_classes_is_refused(tmp_path, fer_folder, tiny_classifier):
    run = fit(cfg(fer_folder, tmp_path, grouping="valence3", name="v3"), **QUIET)
    with pytest.raises(DataError, match="teacher classes positive, negative, neutral differ"):
        fit(cfg(fer_folder, tmp_path, teachers=[str(run / "weights" / "best.pt")]), **QUIET)


def test_online_teacher_gives_each_teacher_the_batch_in_its_own_normalisation(tiny_classifier):
    import torch

    from ferkit.classifier.preprocess import Preprocess, to_tensor
    from ferkit.classifier.starting import OnlineTeacher

    model, meta = load_checkpoint(tiny_classifier)
    images = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    with torch.no_grad():  # a tamer head: saturated probabilities would hide a wrong normalisation
        [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1].weight.mul_(0.01)
        expected = model(Preprocess(meta).tensor(images)).softmax(1)
    two = OnlineTeacher([model, model], [meta, meta], mean=0.3, std=0.4)  # the student's normalisation
    got = two(to_tensor(images, 0.3, 0.4)).exp()  # log of the mean probability, floored at 1e-7
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(two(to_tensor(images, meta.mean, meta.std)).exp(), expected, atol=1e-2)


def test_online_distillation_scores_the_teachers_on_every_batch(
    tmp_path, fer_folder, tiny_classifier, monkeypatch
):
    import torch

    from ferkit.classifier.starting import OnlineTeacher

    calls: list[tuple] = []
    score = OnlineTeacher.__call__

    def counted(self, x):
        calls.append((x.shape, any(m.training for m in self.models)))  # teachers in eval mode: no dropout
        return score(self, x)

    monkeypatch.setattr(OnlineTeacher, "__call__", counted)
    logs: list[str] = []
    config = cfg(fer_folder, tmp_path, teachers=[str(tiny_classifier)] * 2, distill_online=True, epochs=2)
    run = fit(config, log=logs.append)
    steps = len(make_train_loader(prepare_data(config, 48, **QUIET), config, 48, torch.device("cpu")))
    assert len(calls) == 2 * steps and all(shape[1:] == (1, 48, 48) and not train for shape, train in calls)
    assert any("2 teacher(s) scored online" in line for line in logs)
    assert not any("distillation: scoring" in line for line in logs)
    assert yaml.safe_load((run / "config.yaml").read_text())["distill_online"] is True


def test_online_distillation_refuses_a_teacher_of_another_input_size(tmp_path, fer_folder, tiny_classifier):
    with pytest.raises(DataError, match="online distillation needs the student's input size"):
        fit(
            cfg(fer_folder, tmp_path, teachers=[str(tiny_classifier)], distill_online=True, input_size=40),
            **QUIET,
        )


def test_online_distillation_without_a_teacher_is_a_config_error(tmp_path, fer_folder):
    with pytest.raises(ConfigError) as err:
        cfg(fer_folder, tmp_path, distill_online=True).validate()
    assert err.value.option == "distill_online"


def test_soft_mix_blends_votes_with_the_image_label(tmp_path):
    from ferkit.classifier.softlabels import apply_soft_labels, read_votes
    from ferkit.datasets.grouping import get_grouping

    (tmp_path / "a.png").write_bytes(b"")
    votes = write_votes(tmp_path / "v.csv", [("a.png", 0, 10, 0, 0, 0, 0, 0, 0, 0, 0)])
    g = get_grouping("fer7")
    soft = read_votes(votes, g, {"contempt": "ignore", "unknown": "ignore", "not_face": "drop"})
    onehot = np.eye(7, dtype=np.float32)[[g.classes.index("angry")]]
    out, keep, matched = apply_soft_labels([str(tmp_path / "a.png")], onehot, soft, mix=0.5)
    assert matched == 1 and keep.all()
    assert out[0][g.classes.index("angry")] == pytest.approx(0.5) and out[0][
        g.classes.index("happy")
    ] == pytest.approx(0.5)
