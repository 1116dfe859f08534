"""Bad training data: counted when skipped, and every malformed label an error naming file and line."""

from __future__ import annotations

import json

import pytest

from ferkit.classifier.train import ClassifierTrainConfig, prepare_data
from ferkit.datasets.yolo import check_yolo_dataset
from ferkit.errors import DataError
from tests.helpers import copy_yolo, fer, write_face_folder


def test_skip_bad_prints_and_records_the_count(tmp_path):
    root = write_face_folder(tmp_path / "faces", ("happy", "sad"), {"train": 3, "val": 2})
    (root / "train" / "happy" / "broken.png").write_bytes(b"not a png")
    (root / "val" / "sad" / "broken.png").write_bytes(b"")
    config = ClassifierTrainConfig(data=[str(root)], grouping="identity", skip_bad=True)
    logs: list[str] = []
    data = prepare_data(config, 48, logs.append)
    assert any("skipped 1 bad file(s)" in line and "broken.png" in line for line in logs), logs
    assert any("skipped 1 bad file(s) or row(s) of val" in line for line in logs), logs
    report = json.loads(json.dumps(data.report, default=str))  # what fit writes as data_report.json
    assert len(report["datasets"]["faces"]["skipped_bad"]) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"1 0.5 0.5 0.2 0.2\n", r"class 1 is not in the data set, whose names has 1 class"),
        (b"0 0.5 0.5 0.2 0.2\n\xff\xfe\x00garbage\n", "not a text label file"),
    ],
    ids=["class-out-of-range", "non-utf8"],
)
def test_bad_label_files_are_named(tmp_path, tiny_yolo, content, message):
    data = copy_yolo(tiny_yolo, tmp_path / "yolo")
    label = sorted((data.parent / "labels" / "train").glob("*.txt"))[0]
    label.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        check_yolo_dataset(data)
    assert label.name in str(info.value)
    bad: list[str] = []
    check_yolo_dataset(data, bad)  # --skip-bad: recorded instead
    assert len(bad) == 1 and label.name in bad[0]
    r = fer("train-detector", "--data", data, "--epochs", "1", "--imgsz", "64", "--device", "cpu",
            "--project", tmp_path / "runs")  # fmt: skip
    assert r.exit_code == 1 and "Traceback" not in r.output and label.name in r.stderr
    assert not (tmp_path / "runs").exists(), "a refused run must not create its run folder"
