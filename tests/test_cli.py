"""The fer command through Typer's CliRunner: outputs, schemas, exit codes, one-line errors."""

import csv
import io
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from ferkit.cli import EXIT_FAILED_INPUTS
from ferkit.pipeline.writers import CSV_FIELDS
from tests.helpers import fer, make_wider


@pytest.fixture
def weights(tiny_classifier, tiny_detector_run):
    return [
        "--classifier-weights",
        tiny_classifier,
        "--detector-weights",
        tiny_detector_run / "weights" / "best.pt",
        "--device",
        "cpu",
    ]


@pytest.fixture
def folder(tmp_path, bad_images):
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(d / f"img{i}.jpg"), rng.integers(0, 255, (64, 48, 3)).astype(np.uint8))
    (d / "notes.jpg").write_bytes(bad_images["text"].read_bytes())
    (d / "cut.jpg").write_bytes(bad_images["truncated"].read_bytes())
    (d / "readme.txt").write_text("not picked up: not an image suffix")
    return d


def test_one_image_table(real_photo, weights):
    r = fer("detect-and-classify", real_photo, *weights, "--quiet")
    assert r.exit_code == 0, r.output
    assert "grace_hopper.jpg (512x600)" in r.stdout


def test_folder_with_bad_files_reports_and_keeps_results(folder, tmp_path, weights):
    out = tmp_path / "out"
    r = fer("detect-and-classify", folder, *weights, "--no-detect", "--out", out, "-f", "jsonl")
    assert r.exit_code == EXIT_FAILED_INPUTS
    assert "notes.jpg: not an image" in r.stderr and "cut.jpg: corrupt or truncated" in r.stderr
    assert "2 input(s) failed, 3 processed" in r.stderr
    assert "Traceback" not in r.output
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(x["source"].rsplit("/", 1)[1] for x in lines if not x["error"]) == [
        "img0.jpg",
        "img1.jpg",
        "img2.jpg",
    ]
    assert len(list((out / "annotated").iterdir())) == 3
    again = fer("detect-and-classify", folder, *weights, "--no-detect", "--out", out)
    assert "3 already done" in again.stderr and again.exit_code == EXIT_FAILED_INPUTS


def test_json_schema(folder, weights):
    r = fer(
        "detect-and-classify",
        folder / "img0.jpg",
        folder / "img1.jpg",
        *weights,
        "--no-detect",
        "-f",
        "json",
        "-q",
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    keys = {"schema_version", "source", "source_abs", "width", "height", "error", "faces"}
    assert [set(x) for x in data] == [keys] * 2 and data[0]["schema_version"] == 1
    face = data[0]["faces"][0]
    assert set(face) == {"box_xyxy", "det_score", "emotion", "emotion_score", "emotion_probs", "unreadable"}
    assert len(face["box_xyxy"]) == 4 and len(face["emotion_probs"]) == 7
    assert face["emotion_score"] == face["emotion_probs"][face["emotion"]]


def test_csv_schema(folder, weights):
    r = fer("detect-and-classify", folder / "img0.jpg", *weights, "--no-detect", "-f", "csv", "-q")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 1
    assert list(rows[0])[: len(CSV_FIELDS)] == list(CSV_FIELDS) and list(rows[0])[-1] == "error"
    probs = [float(v) for k, v in rows[0].items() if k.startswith("emotion_prob_")]
    assert len(probs) == 7 and sum(probs) == pytest.approx(1, abs=1e-3)


def test_jsonl_one_line_per_image(folder, weights):
    r = fer("detect-and-classify", folder / "img0.jpg", folder / "img2.jpg", *weights, "-f", "jsonl", "-q")
    assert r.exit_code == 0, r.output
    assert [
        json.loads(line)["source"].endswith(("img0.jpg", "img2.jpg")) for line in r.stdout.splitlines()
    ] == [True, True]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["detect-and-classify", "/no/such/photo.jpg"], "/no/such/photo.jpg: no such file or folder"),
        (
            ["detect-and-classify", "{photo}", "--classifier-weights", "/no/w.pt"],
            "classifier weights not found",
        ),
        (["detect-and-classify", "{photo}", "--detector-weights", "{cls}"], "cannot load detector weights"),
        (["detect-and-classify", "{photo}", "--classifier-weights", "{det}"], "not a ferkit classifier"),
        (["detect-and-classify", "{photo}", "--max-faces", "0"], "--max-faces must be >= 1"),
        (["detect-and-classify", "{photo}", "--min-face", "-1"], "--min-face must be >= 0"),
        (
            ["detect-and-classify", "{photo}", "--classifier-weights", "{cls}", "--emotions", "happy,joy"],
            "unknown emotion",
        ),
        (["eval-classifier", "--data", "/no/data", "--weights", "{cls}"], "dataset not found"),
        (["train-classifier", "--data", "{photo}"], "dataset not found"),
        (["train-classifier", "--data", "/x", "--balance", "smote"], "--balance"),
        (["eval-detector", "--data", "/no/data.txt", "--weights", "{det}"], "official WIDER FACE val"),
        (["train-detector"], "--data is required"),
        (
            ["eval-detector", "--data", "{wider}", "--weights", "{det}", "--val-events", "Ballet"],
            "names 'Ballet', no event",
        ),
        (["eval-detector", "--data", "{nogt}", "--weights", "{det}"], "missing wider_face_split"),
        (["datasets", "wider-to-yolo", "--wider", "{nogt}", "--out", "{tmp}"], "missing wider_face_split"),
        (
            ["datasets", "wider-to-yolo", "--wider", "{wider}", "--out", "{tmp}", "--val-events", "9"],
            "names '9', no event",
        ),
        (
            ["datasets", "wider-to-yolo", "--wider", "/no/wider", "--out", "{tmp}"],
            "WIDER FACE root not found",
        ),
    ],
)
def test_errors_are_one_red_line(args, message, real_photo, tiny_classifier, tiny_detector_run, tmp_path):
    values = {
        "photo": real_photo,
        "cls": tiny_classifier,
        "tmp": tmp_path,
        "det": tiny_detector_run / "weights" / "best.pt",
        "wider": make_wider(tmp_path / "wider"),
        "nogt": make_wider(tmp_path / "nogt"),
    }
    (tmp_path / "nogt" / "wider_face_split" / "wider_face_train_bbx_gt.txt").unlink()
    r = fer(*[a.format(**values) for a in args])
    assert r.exit_code == 1, r.output
    assert message in r.stderr and r.stderr.startswith("error: ")
    assert "Traceback" not in r.output


def test_eval_classifier_cli(tiny_classifier, fer_folder, tmp_path):
    r = fer(
        "eval-classifier",
        "--weights",
        tiny_classifier,
        "--data",
        fer_folder,
        "--out",
        tmp_path,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    assert "macro F1" in r.stdout and (tmp_path / "confusion_matrix.png").is_file()
    j = fer("eval-classifier", "--weights", tiny_classifier, "--data", fer_folder, "--json", "--tta")
    assert json.loads(j.stdout)["tta"] is True


def test_eval_detector_cli_on_wider_root(tiny_detector_run, tmp_path):
    from tests.helpers import make_wider

    root = make_wider(tmp_path / "wider")
    r = fer(
        "eval-detector",
        "--weights",
        tiny_detector_run,
        "--data",
        root,
        "--val-fraction",
        "0.99",
        "--val-events",
        "1",
        "--imgsz",
        "64",
        "--json",
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["min_size"] == 24 and data["iou"] == 0.5
    # a's 40 px face (per-photo val), c's 80 px face (event 1); the 4 px and invalid ones are ignored
    assert {k: v["faces"] for k, v in data["splits"].items()} == {"val": 1, "val_events": 1}


def test_wider_to_yolo_cli(tmp_path):
    from tests.helpers import make_wider

    r = fer(
        "datasets",
        "wider-to-yolo",
        "--wider",
        make_wider(tmp_path / "w"),
        "--out",
        tmp_path / "y",
        "--val-fraction",
        "0",
    )
    assert r.exit_code == 0, r.output
    assert "dropped faces: 1 invalid, 1 degenerate, 1 smaller than 8 px" in r.stdout
    assert (tmp_path / "y" / "data.yaml").is_file()


def test_models_lists_architectures():
    r = fer("models")
    assert r.exit_code == 0 and "alexnet_s" in r.stdout and "yolo11p-face" in r.stdout


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "table"])
def test_every_input_gets_one_record_in_every_format(fmt, folder, tmp_path, weights):
    missing = tmp_path / "missing.jpg"
    r = fer(
        "detect-and-classify",
        folder / "img0.jpg",
        folder / "notes.jpg",
        missing,
        *weights,
        "--no-detect",
        "-f",
        fmt,
        "-q",
    )
    assert r.exit_code == EXIT_FAILED_INPUTS, r.output
    out = r.stdout
    if fmt == "json":
        records = json.loads(out)
    elif fmt == "jsonl":
        records = [json.loads(line) for line in out.splitlines()]
    elif fmt == "csv":
        records = list(csv.DictReader(io.StringIO(out)))
    else:
        records = [block for block in out.strip().split("\n\n")]
    assert len(records) == 3
    if fmt == "table":
        assert out.count(str(missing)) == 1 and out.count("notes.jpg") == 1  # each path once
        return
    by_source = {rec["source"]: rec for rec in records}
    assert by_source[str(missing)]["error"] == "no such file or folder"
    assert "not an image" in by_source[str(folder / "notes.jpg")]["error"]
    assert not by_source[str(folder / "img0.jpg")]["error"]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["detect-and-classify", "{photo}", "--format", "xml"], 2),
        (["detect-and-classify", "{photo}", "--conf", "abc"], 2),
        (["detect-and-classify", "{photo}", "--device", "gpu"], 2),
        (["detect-and-classify", "{photo}", "--no-such-option"], 2),
        (["detect-and-classify", "{photo}", "--conf", "7"], 1),
        (["detect-and-classify", "{photo}", "--device", "cuda:0"], 1),  # no GPU here: a clear error
        (["detect-and-classify", "{photo}", "/no/such.jpg"], EXIT_FAILED_INPUTS),
        (["detect-and-classify", "{photo}"], 0),
    ],
)
def test_exit_codes(args, code, real_photo, weights):
    import torch

    if "cuda:0" in args and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    w = [a for a in weights if a != "--device" and a != "cpu"] if "--device" in args else weights
    r = fer(*[a.format(photo=real_photo) for a in args], *w, "-q")
    assert r.exit_code == code, r.output


def test_exit_codes_are_the_documented_ones():
    from ferkit.cli.app import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE

    table = (Path(__file__).resolve().parents[1] / "docs" / "reference" / "exit-codes.md").read_text()
    documented = [int(c) for c in re.findall(r"^\| (\d+) \|", table, flags=re.M)]
    assert documented == [0, EXIT_ERROR, EXIT_USAGE, EXIT_FAILED_INPUTS, EXIT_INTERRUPTED]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "{file}"], "is a file"),
        (["--save-crops"], "--save-crops writes files into the output folder"),
        (["--annotate"], "--annotate writes files"),
    ],
)
def test_output_options_are_checked_before_loading(extra, message, real_photo, tmp_path):
    existing = tmp_path / "results.txt"
    existing.write_text("keep me")
    # weights that do not exist: the option error must come first, before any loading
    args = [a.format(file=existing) for a in extra]
    r = fer("detect-and-classify", real_photo, *args, "--classifier-weights", "/no/w.pt")
    assert r.exit_code == 1 and message in r.stderr and "Traceback" not in r.output
    assert existing.read_text() == "keep me"


def test_closeups_cli_writes_a_data_set_to_train_on(tmp_path, fer_folder):
    from ferkit.datasets.wider import wider_to_yolo
    from ferkit.datasets.yolo import check_yolo_dataset

    root = make_wider(tmp_path / "w")
    cv2.imwrite(
        str(root / "WIDER_train" / "images" / "0--Parade" / "a.jpg"), np.full((100, 120, 3), 90, np.uint8)
    )
    data = wider_to_yolo(root, tmp_path / "y", val_fraction=0.2, val_events="none").data_yaml
    r = fer(
        "datasets", "closeups", "--data", data, "--faces", fer_folder, "--out", tmp_path / "c", "--n", "4"
    )
    assert r.exit_code == 0, r.output
    assert "zoom-ins 2, pasted faces 2" in r.stdout
    assert check_yolo_dataset(tmp_path / "c" / "data.yaml")["train"] == 2 + 4


def test_train_detector_options_reach_ultralytics(tmp_path, tiny_yolo):
    import yaml

    r = fer(
        "train-detector", "--data", tiny_yolo, "--epochs", "1", "--imgsz", "64", "--batch", "4",
        "--freeze", "10", "--multi-scale", "0.25", "--lr0", "0.001", "--optimizer", "SGD",
        "--warmup-epochs", "0", "--close-mosaic", "1", "--workers", "0", "--no-cache", "--device", "cpu",
        "--no-amp", "--project", tmp_path, "--name", "opts",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    args = yaml.safe_load((tmp_path / "opts" / "args.yaml").read_text())
    ours = yaml.safe_load((tmp_path / "opts" / "config.yaml").read_text())
    expected = {"freeze": 10, "multi_scale": 0.25, "lr0": 0.001, "optimizer": "SGD", "close_mosaic": 1}
    assert {k: args[k] for k in expected} == expected and {k: ours[k] for k in expected} == expected
    assert ours["amp"] is False
    assert args["warmup_epochs"] == 0 and args["amp"] is False  # no AMP on a CPU, decided locally


def _commands(group, prefix=()):
    yield prefix
    for name, cmd in getattr(group, "commands", {}).items():
        yield from _commands(cmd, (*prefix, name))


def test_help_texts_name_values_plainly():
    """No Typer type labels (<bool>, <list[str]>) and no help text eaten by markup (' .')."""
    import re

    import typer

    from ferkit.cli import app

    commands = list(_commands(typer.main.get_command(app)))
    assert len(commands) >= 10
    for cmd in commands:
        r = fer(*cmd, "--help")
        assert r.exit_code == 0, cmd
        text = re.sub(r"\s+", " ", r.stdout)
        assert not re.search(r"<(bool|str|int|float|path|list\[)", text), (cmd, text)
        assert " . " not in text and " .│" not in r.stdout, cmd


def test_draw_options_change_the_annotated_image(tmp_path):
    drawn = {}
    for name, extra in (("plain", []), ("bare", ["--hide-labels"]), ("thin", ["--line-width", "1"])):
        r = fer("detect-and-classify", "docs/example.jpg", "--out", tmp_path / name, "-q", *extra)
        assert r.exit_code == 0, r.output
        drawn[name] = cv2.imread(str(tmp_path / name / "annotated" / "example.jpg")).astype(int)
    original = cv2.imread("docs/example.jpg").astype(int)
    changed = {k: int((np.abs(v - original).sum(axis=2) > 60).sum()) for k, v in drawn.items()}
    assert changed["bare"] < changed["plain"] and changed["thin"] < changed["plain"]
    bad = fer("detect-and-classify", "docs/example.jpg", "--line-width", "0")
    assert bad.exit_code == 1 and "--line-width" in bad.stderr


def test_fer_detect_is_detect_and_classify(photo_folder, tiny_classifier):
    opts = [photo_folder, "--no-detect", "--classifier-weights", tiny_classifier, "-f", "json"]
    short, long = fer("detect", *opts), fer("detect-and-classify", *opts)
    assert short.exit_code == long.exit_code == 0, short.output
    assert short.stdout == long.stdout and short.stdout.strip()


def test_a_folder_run_without_recursive_says_what_its_subfolders_hold(photo_folder, tiny_classifier):
    opts = ["--no-detect", "--classifier-weights", tiny_classifier, "-q"]
    r = fer("detect", photo_folder, *opts)
    assert r.exit_code == 0, r.output
    assert f"note: {photo_folder}: 1 subfolder (1 image) not searched: add --recursive" in r.stderr
    assert "not searched" not in fer("detect", photo_folder, "-r", *opts).stderr
