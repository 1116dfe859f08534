"""The fer command through Typer's CliRunner: outputs, schemas, exit codes, one-line errors."""

import csv
import io
import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from ferkit.cli import EXIT_FAILED_INPUTS, app
from ferkit.pipeline.writers import CSV_FIELDS

runner = CliRunner()


def fer(*args):
    return runner.invoke(app, [str(a) for a in args])


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
    assert [set(x) for x in data] == [{"source", "width", "height", "error", "faces"}] * 2
    face = data[0]["faces"][0]
    assert set(face) == {"box", "score", "label", "confidence", "probs"}
    assert len(face["box"]) == 4 and len(face["probs"]) == 7 and face["label"] in face["probs"]


def test_csv_schema(folder, weights):
    r = fer("detect-and-classify", folder / "img0.jpg", *weights, "--no-detect", "-f", "csv", "-q")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 1
    assert list(rows[0])[: len(CSV_FIELDS)] == list(CSV_FIELDS) and list(rows[0])[-1] == "error"
    assert sum(float(v) for k, v in rows[0].items() if k.startswith("p_")) == pytest.approx(1, abs=1e-3)


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
        (["detect-and-classify", "{photo}", "--max-faces", "0"], "max_faces"),
        (["eval-classifier", "--data", "/no/data", "--weights", "{cls}"], "dataset not found"),
        (["train-classifier", "--data", "{photo}"], "dataset not found"),
        (["train-classifier", "--data", "/x", "--balance", "smote"], "--balance"),
        (["eval-detector", "--data", "/no/data.txt", "--weights", "{det}"], "YOLO data.yaml or a WIDER"),
        (["train-detector"], "--data is required"),
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
    }
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
    from tests.datasets.test_wider import make_wider

    root = make_wider(tmp_path / "wider")
    r = fer(
        "eval-detector",
        "--weights",
        tiny_detector_run,
        "--data",
        root,
        "--val-fraction",
        "0.99",
        "--imgsz",
        "64",
        "--json",
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["min_size"] == 24 and data["iou"] == 0.5
    assert data["faces"] == 2  # the 40px and 80px valid faces; the 4px and invalid ones are ignored


def test_wider_to_yolo_cli(tmp_path):
    from tests.datasets.test_wider import make_wider

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


def test_train_classifier_cli(fer_folder, tmp_path):
    r = fer(
        "train-classifier",
        "--data",
        fer_folder,
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--device",
        "cpu",
        "--project",
        tmp_path,
        "--name",
        "cli",
        "--grouping",
        "fer6",
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "cli" / "best.pt").is_file() and "epoch   1/1" in r.stdout


def test_models_lists_architectures():
    r = fer("models")
    assert r.exit_code == 0 and "alexnet_s" in r.stdout and "yolo11p-face" in r.stdout
