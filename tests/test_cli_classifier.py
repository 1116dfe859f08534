"""fer train-classifier and eval-classifier: several datasets, ensembles, resume, shared defaults."""

from __future__ import annotations

import dataclasses
import inspect
import json

import pytest
import torch
import yaml

from ferkit.classifier.config import DEFAULTS, ClassifierTrainConfig
from ferkit.cli import train_classifier
from tests.helpers import fer


def quick(tmp_path, name: str) -> list:
    """Options of a one-epoch CPU run into ``tmp_path/name``."""
    return ["--epochs", "1", "--batch-size", "8", "--device", "cpu", "--project", tmp_path, "--name", name]


def test_train_classifier_cli(fer_folder, tmp_path):
    r = fer("train-classifier", "--data", fer_folder, *quick(tmp_path, "cli"), "--grouping", "fer6")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "cli" / "weights" / "best.pt").is_file() and "epoch   1/1" in r.stderr


def test_cli_and_config_share_every_default():
    cli = inspect.signature(train_classifier).parameters
    config = {f.name: getattr(DEFAULTS, f.name) for f in dataclasses.fields(ClassifierTrainConfig)}
    renamed = {"data_weight": "data_weights", "teacher": "teachers"}
    checked = 0
    for name, p in cli.items():
        key = renamed.get(name, name)
        if key not in config or p.default is None or name == "device":
            continue
        assert p.default == config[key], name
        checked += 1
    assert checked >= 30
    assert DEFAULTS.label_smoothing == 0.1 and DEFAULTS.clean is True


def test_train_on_two_datasets_then_resume_without_data(fer_folder, wild_folder, tmp_path):
    r = fer(
        "train-classifier",
        "--data",
        fer_folder,
        "--data",
        wild_folder,
        "--data-weight",
        "1",
        "--data-weight",
        "2",
        *quick(tmp_path, "two"),
    )
    assert r.exit_code == 0, r.output
    assert "val acc fer_folder0" in r.stderr and "wild" in r.stderr and "(mean " in r.stderr
    run = tmp_path / "two"
    assert yaml.safe_load((run / "config.yaml").read_text())["data_weights"] == [1.0, 2.0]
    r = fer("train-classifier", "--resume", run, "--epochs", "2")
    assert r.exit_code == 0, r.output
    assert "resuming at epoch 2 of 2" in r.stderr and "epoch   2/2" in r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train-classifier"], "give --data"),  # a usage error: exit code 2
        (["train-classifier", "--resume", "{run}", "--data", "{data}"], "leave out --data"),
        (["train-classifier", "--data", "{data}", "--data", "/no/root"], "dataset not found: /no/root"),
        (["train-classifier", "--data", "{data}", "--teacher", "/no/t.pt"], "weights not found"),
        (
            ["train-classifier", "--data", "{data}", "--init", "/no/init.pt"],
            "weights not found: tried /no/init.pt",
        ),
        (
            ["train-classifier", "--data", "{data}", "--freeze", "backbone"],
            "--freeze freezes parts of the --init weights: give --init as well",
        ),
        (["eval-classifier", "--weights", "{cls}"], "give --data"),
    ],
)
def test_bad_training_input_is_one_red_line(args, message, fer_folder, tiny_classifier, tmp_path):
    args = [a.format(run=tmp_path, data=fer_folder, cls=tiny_classifier) for a in args]
    r = fer(*args, "--device", "cpu", *(["--project", tmp_path] if args[0] == "train-classifier" else []))
    usage = message in ("give --data", "leave out --data")  # the command line itself is wrong
    assert r.exit_code == (2 if usage else 1), r.output
    assert message in r.stderr and "Traceback" not in r.output


def test_eval_an_ensemble_on_two_datasets(tiny_classifier, fer_folder, wild_folder, tmp_path):
    r = fer(
        "eval-classifier",
        "--weights",
        tiny_classifier,
        "--weights",
        tiny_classifier,
        "--data",
        fer_folder,
        "--data",
        wild_folder,
        "--device",
        "cpu",
        "--out",
        tmp_path,
    )
    assert r.exit_code == 0, r.output
    assert r.stdout.count("accuracy") >= 2 and "mean over 2 datasets" in r.stdout
    assert (tmp_path / "wild" / "confusion_matrix.png").is_file()
    j = fer(
        "eval-classifier", "--weights", tiny_classifier, "--data", fer_folder, "--data", wild_folder, "--json"
    )
    reports = json.loads(j.stdout)
    assert [r["data"] for r in reports] == [str(fer_folder), str(wild_folder)]
    assert "confusion" in reports[0] and "per_class_accuracy" in reports[0]


def test_fine_tune_the_shipped_model(fer_folder, tmp_path):
    r = fer(
        "train-classifier",
        "--data",
        fer_folder,
        "--init",
        "default",
        "--arch",
        "alexnet_m",
        *quick(tmp_path, "ft"),
    )
    assert r.exit_code == 0, r.output
    assert "using its architecture alexnet_s" in r.stderr
    saved = yaml.safe_load((tmp_path / "ft" / "config.yaml").read_text())
    assert saved["init"] == "default" and saved["arch"] == "alexnet_s"


def test_no_amp_is_saved_with_the_run(fer_folder, tmp_path):
    r = fer("train-classifier", "--data", fer_folder, "--no-amp", *quick(tmp_path, "fp32"))
    assert r.exit_code == 0, r.output
    assert yaml.safe_load((tmp_path / "fp32" / "config.yaml").read_text())["amp"] is False


def test_ema_option_reaches_the_run(fer_folder, tmp_path):
    r = fer("train-classifier", "--data", fer_folder, "--ema", "0.99", *quick(tmp_path, "ema"))
    assert r.exit_code == 0, r.output
    assert yaml.safe_load((tmp_path / "ema" / "config.yaml").read_text())["ema"] == 0.99
    assert torch.load(tmp_path / "ema" / "weights" / "last.pt", weights_only=True)["ema"]  # {} if off


def test_average_classifiers_cli(tiny_classifier, fer_folder, tmp_path):
    out = tmp_path / "soup.pt"
    r = fer("average-classifiers", tiny_classifier, tiny_classifier, "--out", out)
    assert r.exit_code == 0, r.output
    assert out.is_file() and "averaged 2 checkpoints" in r.stdout and "val accuracy" not in r.stdout
    r = fer("average-classifiers", tiny_classifier, tiny_classifier, "--out", out, "--data", fer_folder)
    assert r.exit_code == 0, r.output
    assert f"val accuracy {fer_folder.name} " in r.stdout
    assert "val" in torch.load(out, weights_only=True)["metrics"]


def test_average_classifiers_refuses_a_missing_member(tiny_classifier, tmp_path):
    r = fer("average-classifiers", tiny_classifier, tmp_path / "none.pt", "--out", tmp_path / "soup.pt")
    assert r.exit_code == 1
    assert "weights not found" in r.stderr and "Traceback" not in r.output


def test_eval_classifier_runs_and_records_the_backend_asked_for(tiny_classifier, fer_folder):
    def report(*opts):
        r = fer(
            "eval-classifier", "--weights", tiny_classifier, "--data", fer_folder, "--device", "cpu", *opts
        )
        assert r.exit_code == 0, r.output
        return r

    torch_run = json.loads(report("--backend", "torch", "--json").stdout)
    onnx_run = json.loads(report("--backend", "onnx", "--json").stdout)
    assert (torch_run["backend"], torch_run["precision"]) == ("torch", "fp32")
    assert onnx_run["backend"] == "onnx"
    assert onnx_run["accuracy"] == pytest.approx(torch_run["accuracy"], abs=0.02)
    assert "backend=onnx fp32" in report("--backend", "onnx").stdout


@pytest.mark.parametrize(
    ("opts", "message", "code"),
    [
        (["--backend", "torch", "--precision", "bf16"], "precision bf16 runs with the openvino backend", 1),
        (["--backend", "tensorrt"], "unknown backend 'tensorrt'", 2),
        (["--precision", "fp8"], "unknown precision 'fp8'", 2),
    ],
)
def test_eval_classifier_refuses_bad_backend_options(opts, message, code, tiny_classifier, fer_folder):
    r = fer("eval-classifier", "--weights", tiny_classifier, "--data", fer_folder, "--device", "cpu", *opts)
    assert r.exit_code == code, r.output
    assert message in r.stderr and "Traceback" not in r.output


def test_train_classifier_options_reach_the_config_by_name(monkeypatch, tmp_path):
    import ferkit.classifier.train as train
    from ferkit.classifier.config import DEFAULTS

    seen = {}
    monkeypatch.setattr(train, "fit", lambda config, log: seen.setdefault("config", config) and tmp_path)
    r = fer("train-classifier", "--data", "a", "--data", "b", "--data-weight", "2", "--data-weight", "1",
            "--teacher", "t.pt", "--soft-mix", "0.5", "--ema", "0.999", "--save-epochs", "--lr", "0.01",
            "--arch", "alexnet_m", "--seed", "7", "--name", "n1", "--session-hours", "1.5",
            "--mixup", "0.2", "--cutmix", "1", "--distill-online")  # fmt: skip
    assert r.exit_code == 0, r.output
    c = seen["config"]
    assert (c.data, c.data_weights, c.teachers) == (["a", "b"], [2.0, 1.0], ["t.pt"])
    assert (c.soft_mix, c.ema, c.save_epochs, c.lr, c.arch, c.seed, c.name) == (
        0.5,
        0.999,
        True,
        0.01,
        "alexnet_m",
        7,
        "n1",
    )
    assert (c.session_hours, c.epochs, c.hours) == (1.5, DEFAULTS.epochs, DEFAULTS.hours)
    assert (c.mixup, c.cutmix, c.distill_online) == (0.2, 1.0, True)


@pytest.mark.parametrize("quiet", [False, True])
def test_train_classifier_logs_to_stderr_and_quiet_silences_them(fer_folder, tmp_path, quiet):
    r = fer("train-classifier", "--data", fer_folder, "--epochs", "1", "--batch-size", "8", "--device", "cpu",
            "--project", tmp_path, "--name", "q", *(["--quiet"] if quiet else []))  # fmt: skip
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [f"done: {tmp_path / 'q' / 'weights' / 'best.pt'}"]
    assert ("epoch   1/1" in r.stderr) is not quiet
