"""``ferkit.runs``: one run-folder protocol for every writer: the training layout of both models, numbered
folders, the lock, and the append-only record log that batches, Ray and video write through."""

from __future__ import annotations

import io
import json

import pytest

from ferkit.errors import OutputWriteError, RunFolderBusyError
from ferkit.runs import AppendLog, RunFolder, write_all


def test_both_models_keep_their_weights_in_one_layout(tmp_path):
    run = RunFolder(tmp_path / "run")
    assert (run.best, run.last) == (tmp_path / "run/weights/best.pt", tmp_path / "run/weights/last.pt")
    assert run.find_best() is None
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "best.pt").write_bytes(b"x")  # a classifier run made before the shared layout
    assert run.find_best() == tmp_path / "run" / "best.pt"
    run.best.parent.mkdir()
    run.best.write_bytes(b"y")
    assert run.find_best() == run.best  # the layout of today wins


def test_numbered_folders_never_reuse_a_run(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train2").mkdir()
    assert RunFolder.numbered(tmp_path, "train").path == tmp_path / "train3"
    assert RunFolder.numbered(tmp_path, "other").path == tmp_path / "other"


def test_a_held_folder_refuses_a_second_run_and_is_free_after(tmp_path):
    folder = RunFolder(tmp_path / "run")
    with folder.hold(), pytest.raises(RunFolderBusyError), RunFolder(tmp_path / "run").hold():
        pass
    with folder.hold():  # released when the first run ended
        pass


def test_the_log_appends_whole_records_and_fresh_starts_empty(tmp_path):
    folder = RunFolder(tmp_path / "run")
    with folder.log() as log:
        log.append({"source": "a.jpg", "faces": []})
        log.append('{"source": "b.jpg"}')
    with folder.log() as log:  # a rerun appends
        log.append({"source": "c\udce9.jpg"})  # a name that is not UTF-8 is escaped, not an error
    lines = (tmp_path / "run" / "results.jsonl").read_text().splitlines()
    assert [json.loads(x)["source"] for x in lines] == ["a.jpg", "b.jpg", "c\udce9.jpg"]  # round-trips
    with folder.log("frames.jsonl", fresh=True) as log:
        log.append({"frame": 1})
    with folder.log("frames.jsonl", fresh=True) as log:
        log.append({"frame": 2})
    assert (tmp_path / "run" / "frames.jsonl").read_text() == '{"frame": 2}\n'


def test_a_failed_write_is_cut_back_so_no_line_is_ever_torn(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"i": 1}\n')

    class FullAfterThreeBytes(io.FileIO):
        """A disk that takes three bytes of the next line, then is full."""

        def write(self, data):
            if self.tell() > 9:
                raise OSError(28, "No space left on device")
            return super().write(bytes(data[:3]))

    with FullAfterThreeBytes(path, "ab") as fh, pytest.raises(OSError, match="No space"):
        write_all(fh, b'{"i": 2, "pad": "xxxxxxxx"}\n')
    assert path.read_bytes() == b'{"i": 1}\n'


def test_a_write_error_names_the_file(tmp_path):
    (tmp_path / "r.jsonl").mkdir()  # a folder where the log should be: cannot be opened for appending
    with pytest.raises(OutputWriteError, match=r"cannot write .*r\.jsonl"):
        AppendLog(tmp_path / "r.jsonl")
