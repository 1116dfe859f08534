import json

import numpy as np
import pytest

from ferkit.pipeline.batch import run_items
from ferkit.pipeline.inputs import collect_inputs
from ferkit.runs import RESULTS_CSV, RESULTS_FILE, RUN_FILE, load_done


def read_results(out):
    return [json.loads(line) for line in (out / RESULTS_FILE).read_text().splitlines()]


def test_folder_run_writes_each_result_and_files(two_face_pipeline, photo_folder, tmp_path):
    items = collect_inputs([str(photo_folder)], recursive=True).items
    out = tmp_path / "out"
    seen = []
    summary = run_items(
        two_face_pipeline,
        items,
        out=out,
        save_crops=True,
        batch_size=2,
        progress=False,
        on_result=seen.append,
    )
    assert summary.processed == 5 and summary.faces == 10 and not summary.failed
    assert len(seen) == 5 and len(read_results(out)) == 5
    assert (out / "annotated" / "sub" / "deep.png").is_file()
    assert len(list((out / "crops").rglob("*.png"))) == 10


def test_rerun_skips_done_and_retries_failed(two_face_pipeline, photo_folder, tmp_path):
    (photo_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    items = collect_inputs([str(photo_folder)]).items
    out = tmp_path / "out"
    first = run_items(two_face_pipeline, items, out=out, progress=False)
    assert first.processed == 4 and len(first.failed) == 1
    assert first.failed[0].count("broken.jpg") == 1, first.failed[0]  # the path once, then the reason
    second = run_items(two_face_pipeline, items, out=out, progress=False)
    assert second.skipped == 4 and second.processed == 0 and len(second.failed) == 1
    records = read_results(out)
    assert len(records) == 5 and sum(1 for r in records if r["error"]) == 1  # no duplicate error lines
    third = run_items(two_face_pipeline, items, out=out, overwrite=True, progress=False)
    assert third.skipped == 0 and third.processed == 4 and len(third.failed) == 1


def test_killed_run_resumes_without_losing_results(two_face_pipeline, photo_folder, tmp_path):
    items = collect_inputs([str(photo_folder)]).items
    out = tmp_path / "out"
    run_items(two_face_pipeline, items[:2], out=out, progress=False)
    with (out / RESULTS_FILE).open("a") as fh:
        fh.write('{"source": "half a line')  # what a kill mid-write leaves
    summary = run_items(two_face_pipeline, items, out=out, progress=False)
    assert summary.skipped == 2 and summary.processed == 2
    assert sorted(r["source"] for r in read_results(out)) == sorted(str(it.path) for it in items)


def test_results_csv_holds_every_image_of_a_resumed_run(two_face_pipeline, photo_folder, tmp_path):
    """--out DIR/results.csv: one row per face, the -f csv columns, for the runs before a resume too."""
    import csv

    from ferkit.pipeline.writers import csv_header

    items = collect_inputs([str(photo_folder)]).items
    out = tmp_path / "out"
    run_items(two_face_pipeline, items[:1], out=out, progress=False)
    with (out / RESULTS_FILE).open("a") as fh:
        fh.write('{"source": "torn')
    printed = []
    run_items(two_face_pipeline, items, out=out, progress=False, on_result=printed.append)
    assert len(printed) == len(items) - 1  # a resumed run prints only what it processed (README)
    rows = list(csv.reader((out / RESULTS_CSV).open(encoding="utf-8")))
    assert rows[0] == csv_header(two_face_pipeline.class_names)
    assert sorted({r[1] for r in rows[1:]}) == sorted(str(it.path) for it in items)
    assert len(rows) - 1 == 2 * len(items)  # the stand-in detector finds two faces in each


def test_load_done_ignores_errors_and_torn_lines(tmp_path):
    f = tmp_path / RESULTS_FILE
    f.write_text('{"source": "/a.jpg", "error": null}\n{"source": "/b.jpg", "error": "bad"}\n{"sou')
    resumed = load_done(f)
    assert resumed.done == {"/a.jpg"} and resumed.torn_lines == 1
    assert f.read_text() == '{"source": "/a.jpg", "error": null}\n'


@pytest.mark.parametrize(
    ("args", "recursive", "n_items", "error"),
    [
        (["{folder}"], False, 4, None),
        (["{folder}"], True, 5, None),
        (["{folder}/p1.jpg", "{folder}/p1.jpg"], False, 1, None),
        (["{folder}/*.jpg"], False, 4, None),
        (["{folder}/*.gif"], False, 0, "no files match"),
        (["{folder}/nope.jpg"], False, 0, "no such file"),
        (["{empty}"], False, 0, "no images in this folder"),
    ],
)
def test_collect_inputs(photo_folder, tmp_path, args, recursive, n_items, error):
    (tmp_path / "empty").mkdir()
    found = collect_inputs([a.format(folder=photo_folder, empty=tmp_path / "empty") for a in args], recursive)
    assert len(found.items) == n_items
    assert (error is None and not found.errors) or (error in str(found.errors[0]))


def test_same_names_from_two_folders_stay_apart(photo_folder, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "p0.jpg").write_bytes((photo_folder / "p0.jpg").read_bytes())
    names = [it.name for it in collect_inputs([str(photo_folder), str(other)]).items]
    assert len(names) == len(set(names)) == 5


def test_unreadable_folder(tmp_path, monkeypatch):
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if str(p) == str(locked) else real_access(p, mode)
    )
    found = collect_inputs([str(locked), str(tmp_path / "locked")])
    assert found.items == [] and "permission denied" in found.errors[0].reason


def test_array_free_run_without_out(two_face_pipeline, photo_folder):
    summary = run_items(two_face_pipeline, collect_inputs([str(photo_folder)]).items, progress=False)
    assert summary.processed == 4 and summary.images_per_s > 0 and np.isfinite(summary.seconds)


def test_a_resume_from_another_folder_recognises_finished_images(
    two_face_pipeline, photo_folder, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    monkeypatch.chdir(photo_folder)
    first = run_items(two_face_pipeline, collect_inputs(["p0.jpg", "p1.jpg"]).items, out=out, progress=False)
    assert first.processed == 2
    rec = next(r for r in read_results(out) if r["source"] == "p0.jpg")
    assert rec["source_abs"] == str((photo_folder / "p0.jpg").resolve())
    monkeypatch.chdir(tmp_path)
    again = run_items(
        two_face_pipeline, collect_inputs([str(photo_folder / "p0.jpg")]).items, out=out, progress=False
    )
    assert again.skipped == 1 and again.processed == 0 and len(read_results(out)) == 2


@pytest.mark.parametrize(("change", "named"), [({"tta": True}, "tta"), ({"margin": 0.3}, "margin")])
def test_a_resume_with_other_settings_is_refused(classifier, photo_folder, tmp_path, change, named):
    from ferkit.errors import ConfigError
    from ferkit.pipeline import Pipeline
    from tests.helpers import TWO_FACES, FixedDetector

    items = collect_inputs([str(photo_folder)]).items
    out = tmp_path / "out"
    run_items(Pipeline(classifier, FixedDetector(TWO_FACES)), items[:2], out=out, progress=False)
    settings = json.loads((out / RUN_FILE).read_text())
    assert settings["ferkit_version"] and len(settings["classifier_weights"][0]["sha256"]) == 64
    other = Pipeline(classifier, FixedDetector(TWO_FACES), **change)
    with pytest.raises(ConfigError, match=f"other settings \\({named} "):
        run_items(other, items, out=out, progress=False)
    assert len(read_results(out)) == 2  # nothing mixed in
    fresh = run_items(other, items, out=out, overwrite=True, progress=False)
    assert fresh.processed == 4 and json.loads((out / RUN_FILE).read_text())[named] == change[named]


def test_inputs_that_gave_no_image_get_error_records(two_face_pipeline, photo_folder, tmp_path):
    inputs = collect_inputs([str(photo_folder), str(tmp_path / "missing.jpg")])
    seen = []
    out = tmp_path / "out"
    summary = run_items(
        two_face_pipeline,
        inputs.items,
        out=out,
        progress=False,
        on_result=seen.append,
        failed_inputs=inputs.errors,
    )
    assert summary.processed == 4 and summary.failed == [
        f"{tmp_path / 'missing.jpg'}: no such file or folder"
    ]
    assert len(seen) == 5 and seen[0].error == "no such file or folder"
    assert sum(1 for r in read_results(out) if r["error"]) == 1


@pytest.mark.parametrize(
    ("out", "annotate", "crops", "message"),
    [
        ("file", None, False, "is a file"),
        (None, None, True, "save_crops writes files into the output folder"),
        (None, True, False, "annotate writes files"),
    ],
)
def test_output_options_that_cannot_work(tmp_path, out, annotate, crops, message):
    from ferkit.errors import ConfigError
    from ferkit.pipeline.batch import check_output_options

    if out == "file":
        out = tmp_path / "results.txt"
        out.write_text("x")
    with pytest.raises(ConfigError, match=message):
        check_output_options(out, annotate, crops)
    check_output_options(tmp_path, True, True)  # a folder is fine


def test_an_interrupted_batch_says_how_far_it_got_and_how_to_go_on(two_face_pipeline, photo_folder, tmp_path):
    from ferkit.errors import RunInterrupted

    items = collect_inputs([str(photo_folder)]).items
    seen = []

    def ctrl_c_after_two(result):
        seen.append(result)
        if len(seen) == 2:
            raise KeyboardInterrupt

    out = tmp_path / "out"
    said = rf"after \d of {len(items)} image\(s\).*rerun the same command"
    with pytest.raises(RunInterrupted, match=said):
        run_items(two_face_pipeline, items, out=out, progress=False, on_result=ctrl_c_after_two)
    assert len(read_results(out)) >= 1  # what was written stays, and results.csv was remade
    assert (out / RESULTS_CSV).is_file()
    with pytest.raises(RunInterrupted, match="give --out DIR"):
        seen.clear()
        run_items(two_face_pipeline, items, progress=False, on_result=ctrl_c_after_two)
