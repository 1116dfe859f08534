"""The Ray engine on a local Ray instance (2 CPUs): the local engine's results, records for bad inputs,
resume, Parquet, a worker killed mid-run, and clear errors."""

import json
import os
import re
import shutil
import signal
import time

import psutil
import pytest
import ray
from typer.testing import CliRunner

from ferkit.cli import app
from ferkit.config import PipelineConfig
from ferkit.errors import ConfigError
from ferkit.pipeline.batch import run_items
from ferkit.pipeline.inputs import collect_inputs
from ferkit.pipeline.ray_engine import check_address, list_sources, run_ray

CONFIG = PipelineConfig(device="cpu", batch_size=2)


def on_ray(pipe, sources, out, **kwargs):
    """The pipeline's own settings and classes over Ray, quietly."""
    return run_ray(CONFIG, pipe.settings(), sources, out, pipe.class_names, progress=False, **kwargs)


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture
def photos(tmp_path, real_photo):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        shutil.copy("docs/example.jpg", folder / f"ex{i}.jpg")
    shutil.copy(real_photo, folder / "portrait.jpg")
    (folder / "notes.jpg").write_text("not an image")
    return folder


def records(path):
    return {r["source_abs"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_ray_gives_the_local_engine_results(local_ray, default_pipeline, photos, tmp_path):
    run_items(default_pipeline, collect_inputs([str(photos)]).items, out=tmp_path / "local", progress=False)
    sources = list_sources([str(photos)])
    summary = on_ray(default_pipeline, sources, tmp_path / "ray")
    assert (summary.processed, len(summary.failed)) == (4, 1)
    local, remote = records(tmp_path / "local" / "results.jsonl"), records(tmp_path / "ray" / "results.jsonl")
    assert local.keys() == remote.keys() and len(remote) == 5
    for key, want in local.items():
        assert remote[key] == want  # same schema, same faces, same numbers
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "ray" / "results.parquet")
    assert table.num_rows == 5 and table.schema.names == list(next(iter(local.values())).keys())
    again = on_ray(default_pipeline, sources, tmp_path / "ray")
    assert (again.skipped, again.processed, len(again.failed)) == (4, 0, 1)  # only the failed one retried
    assert len(records(tmp_path / "ray" / "results.jsonl")) == 5


def test_list_files_uris_and_missing_files_are_records(local_ray, default_pipeline, photos, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(f"# photos\n{photos / 'ex0.jpg'}\n\nfile://{photos / 'portrait.jpg'}\n/no/such.jpg\n")
    sources = list_sources([str(listing)])
    assert len(sources) == 3
    on_ray(default_pipeline, sources, tmp_path / "out")
    got = {
        r["source"]: r for r in map(json.loads, (tmp_path / "out" / "results.jsonl").read_text().splitlines())
    }
    assert len(got[f"file://{photos / 'portrait.jpg'}"]["faces"]) == 1
    assert "file not found" in got["/no/such.jpg"]["error"]
    assert len(got[str(photos / "ex0.jpg")]["faces"]) == 2


def test_a_killed_worker_loses_and_duplicates_nothing(local_ray, default_pipeline, tmp_path, photos):
    for i in range(3, 24):
        shutil.copy("docs/example.jpg", photos / f"ex{i}.jpg")
    sources = list_sources([str(photos)])
    killed = []

    def kill_a_worker(_record):
        if killed:
            return
        for proc in psutil.process_iter(["cmdline"]):
            if any("MapWorker" in part for part in proc.info["cmdline"] or []):
                os.kill(proc.pid, signal.SIGKILL)
                killed.append(proc.pid)
                time.sleep(0.5)
                return

    on_ray(default_pipeline, sources, tmp_path / "out", on_result=kill_a_worker)
    assert killed
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    written = [json.loads(x)["source_abs"] for x in lines]
    assert sorted(written) == sorted(str(p.resolve()) for p in map(__import__("pathlib").Path, sources))


def test_an_unreachable_address_fails_at_once():
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match=re.escape("cannot reach a Ray cluster at 127.0.0.1:1")):
        check_address("127.0.0.1:1")
    assert time.monotonic() - t0 < 6


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--address", "127.0.0.1:1", "--out", "{out}"], "cannot reach a Ray cluster"),
        ([], "give --out DIR"),
        (["--address", "nonsense", "--out", "{out}"], "--address must be HOST:PORT"),
    ],
)
def test_cli_errors(photos, tmp_path, extra, message):
    args = [a.format(out=tmp_path / "o") for a in extra]
    r = CliRunner().invoke(app, ["detect-and-classify", str(photos), "--engine", "ray", *args])
    assert r.exit_code == 1 and message in r.stderr


def test_cli_ray_run(local_ray, photos, tmp_path):
    r = CliRunner().invoke(
        app,
        [
            "detect-and-classify",
            str(photos),
            "--engine",
            "ray",
            "--out",
            str(tmp_path / "o"),
            "-f",
            "jsonl",
            "-q",
        ],
    )
    assert r.exit_code == 3, r.output  # one input failed
    assert len(r.stdout.splitlines()) == 5
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"results.jsonl", "results.parquet", "run.json"}


def test_without_ray_installed_the_engine_says_what_to_install(photos, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "ray" else real(n, *a))
    r = CliRunner().invoke(
        app, ["detect-and-classify", str(photos), "--engine", "ray", "--out", str(tmp_path)]
    )
    assert r.exit_code == 1 and "pip install 'ferkit[ray]'" in r.stderr
