import json

import numpy as np
import pytest

from ferkit.pipeline.batch import RESULTS_FILE, load_done, run_items
from ferkit.pipeline.inputs import collect_inputs


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
    assert first.processed == 5 and len(first.failed) == 1
    assert first.failed[0].count("broken.jpg") == 1, first.failed[0]  # the path once, then the reason
    second = run_items(two_face_pipeline, items, out=out, progress=False)
    assert second.skipped == 4 and second.processed == 1 and len(second.failed) == 1
    records = read_results(out)
    assert len(records) == 5 and sum(1 for r in records if r["error"]) == 1  # no duplicate error lines
    third = run_items(two_face_pipeline, items, out=out, overwrite=True, progress=False)
    assert third.skipped == 0 and third.processed == 5


def test_killed_run_resumes_without_losing_results(two_face_pipeline, photo_folder, tmp_path):
    items = collect_inputs([str(photo_folder)]).items
    out = tmp_path / "out"
    run_items(two_face_pipeline, items[:2], out=out, progress=False)
    with (out / RESULTS_FILE).open("a") as fh:
        fh.write('{"source": "half a line')  # what a kill mid-write leaves
    summary = run_items(two_face_pipeline, items, out=out, progress=False)
    assert summary.skipped == 2 and summary.processed == 2
    assert sorted(r["source"] for r in read_results(out)) == sorted(str(it.path) for it in items)


def test_load_done_ignores_errors_and_torn_lines(tmp_path):
    f = tmp_path / RESULTS_FILE
    f.write_text('{"source": "/a.jpg", "error": null}\n{"source": "/b.jpg", "error": "bad"}\n{"sou')
    assert load_done(f) == {"/a.jpg"}
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
    assert (error is None and not found.errors) or (error in found.errors[0])


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
    assert found.items == [] and "permission denied" in found.errors[0]


def test_array_free_run_without_out(two_face_pipeline, photo_folder):
    summary = run_items(two_face_pipeline, collect_inputs([str(photo_folder)]).items, progress=False)
    assert summary.processed == 4 and summary.images_per_s > 0 and np.isfinite(summary.seconds)
