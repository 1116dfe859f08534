"""Hostile inputs, round two: undecodable file names, chunked uploads past the limit, write failures, NaN
options, server paths, refused runs that leave folders, odd arrays, one decoder policy."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from ferkit.cli import app as cli
from ferkit.errors import DataError, InputError, OutputWriteError
from ferkit.pipeline import Pipeline
from ferkit.pipeline.batch import run_items
from ferkit.pipeline.inputs import collect_inputs
from ferkit.serve.app import create_app
from ferkit.serve.config import ServeConfig
from ferkit.serve.protocol import HeaderDeadlineProtocol
from tests.helpers import TWO_FACES, FixedDetector, jpeg

runner = CliRunner()
BAD_NAME = os.fsdecode(b"\xff.png")  # not UTF-8: Python holds it as the lone surrogate U+DCFF


@pytest.fixture
def odd_folder(tmp_path) -> Path:
    folder = tmp_path / "nb"
    folder.mkdir()
    image = np.random.default_rng(0).integers(0, 255, (80, 80, 3)).astype(np.uint8)
    for name in ("a.png", BAD_NAME, "z.png"):
        cv2.imencode(".png", image)[1].tofile(os.fsencode(folder / name))
    return folder


def test_a_file_name_that_is_not_utf8_is_processed_written_losslessly_and_resumed(
    two_face_pipeline, odd_folder, tmp_path
):
    out = tmp_path / "out"
    items = collect_inputs([str(odd_folder)]).items
    summary = run_items(two_face_pipeline, items, out=out, progress=False, save_crops=True)
    assert summary.processed == 3 and summary.failed == []
    lines = (out / "results.jsonl").read_bytes().decode("utf-8").splitlines()  # valid UTF-8 throughout
    sources = [json.loads(line)["source_abs"] for line in lines]
    assert os.fsencode(odd_folder / BAD_NAME) in [os.fsencode(s) for s in sources]  # the bytes, back
    assert "\\udcff" in (out / "results.csv").read_text(encoding="utf-8")  # the documented escape
    assert os.fsencode(BAD_NAME) in os.listdir(os.fsencode(out / "annotated"))
    assert any(n.startswith(b"\xff_face0") for n in os.listdir(os.fsencode(out / "crops")))
    again = run_items(two_face_pipeline, collect_inputs([str(odd_folder)]).items, out=out, progress=False)
    assert again.skipped == 3 and again.processed == 0  # the rerun recognises every file


def test_the_cli_finishes_a_folder_with_such_a_name(odd_folder, tmp_path):
    r = runner.invoke(cli, ["detect", str(odd_folder), "--out", str(tmp_path / "o"), "-q", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "\\udcff.png" in r.stdout


def _limited(limit: int):
    """In the child: a file-size limit, as ``prlimit --fsize`` sets it (SIGXFSZ ignored, so writes fail)."""

    def apply():
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_write_failure_is_one_error_line_and_the_files_stay_consistent(tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()
    for i in range(30):
        (folder / f"{i:02d}.jpg").write_bytes(jpeg(200, 150))
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "ferkit", "detect", str(folder), "--out", str(out), "-q", "--no-annotate"]
    cmd += ["--no-detect"]  # whole images as faces: quick, and one record per image
    r = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=_limited(6000), timeout=300)
    assert r.returncode == 1, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.strip()]
    assert errors == [f"error: cannot write {out / 'results.jsonl'}: File too large"], r.stderr
    assert "Traceback" not in r.stderr
    data = (out / "results.jsonl").read_bytes()
    assert data.endswith(b"\n") and all(json.loads(x) for x in data.splitlines())  # no torn line
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert len((out / "results.jsonl").read_bytes().splitlines()) == 30


def test_the_library_raises_one_typed_error_for_a_failed_write(two_face_pipeline, tmp_path, monkeypatch):
    (tmp_path / "p.png").write_bytes(cv2.imencode(".png", np.zeros((40, 40, 3), np.uint8))[1].tobytes())

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("ferkit.runs.write_all", full)
    with pytest.raises(OutputWriteError, match=r"results\.jsonl: No space left on device"):
        run_items(
            two_face_pipeline,
            collect_inputs([str(tmp_path / "p.png")]).items,
            out=tmp_path / "o",
            progress=False,
        )
    assert (tmp_path / "o" / "results.csv").is_file()  # remade even so (empty): consistent


@pytest.mark.parametrize(
    "args",
    [
        ["detect", "clip.mp4", "--start", "nan"],
        ["detect", "clip.mp4", "--end", "nan"],
        ["detect", "clip.mp4", "--fps", "nan"],
        ["detect", "x.jpg", "--conf", "inf"],
        ["detect", "x.jpg", "--iou", "-inf"],
        ["detect", "x.jpg", "--margin", "nan"],
        ["train-classifier", "--data", "d", "--lr", "nan"],
        ["train-detector", "--data", "d.yaml", "--hours", "inf"],
        ["eval-detector", "--data", "d", "--conf", "nan"],
        ["serve", "--timeout", "inf"],
    ],
    ids=lambda a: " ".join(a[:1] + a[-2:]),
)
def test_no_number_option_takes_nan_or_infinity(args):
    r = runner.invoke(cli, args)
    assert r.exit_code == 2, r.output
    said = " ".join(r.output.replace("│", " ").split())  # the usage box wraps its lines
    assert "must be a finite number" in said and "Traceback" not in said


def test_video_options_refuse_nan_in_python_too():
    from ferkit.errors import ConfigError
    from ferkit.video.config import VideoOptions

    for field in ("start_s", "fps", "smooth", "scene_cut"):
        with pytest.raises(ConfigError, match="finite"):
            VideoOptions(**{field: float("nan")})


@pytest.fixture(scope="module")
def client(classifier):
    app = create_app(Pipeline(classifier, FixedDetector(TWO_FACES)), ServeConfig(max_upload_mb=0.05))
    with TestClient(app, base_url="http://localhost", raise_server_exceptions=False) as c:
        yield c


def test_models_show_no_server_path(client):
    body = client.get("/v1/models").json()
    text = json.dumps(body)
    assert "/" not in text.replace("#", "").split('"limits"')[0].replace("/v1", "")
    weights = body["classifier"]["classifier_weights"][0]
    assert set(weights) == {"name", "format", "sha256"} and len(weights["sha256"]) == 64
    assert body["classifier"]["readable_size"] == 20 and "precision" in body


def test_conf_nan_is_a_422(client):
    r = client.post("/v1/detect?conf=nan", content=jpeg(), headers={"content-type": "image/jpeg"})
    assert r.status_code == 422


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (200, 100, 50)).save(buf, "GIF")
    return buf.getvalue()


def test_one_decoder_policy_gifs_are_refused_by_the_server_as_by_the_cli(client, tmp_path):
    r = client.post("/v1/detect", files={"file": ("a.gif", _gif(), "image/gif")})
    assert r.status_code == 400 and "GIF images are not read" in r.json()["error"]["message"]
    (tmp_path / "a.jpg").write_bytes(_gif())  # a GIF under a JPEG name: told by its content
    with pytest.raises(DataError, match="GIF images are not read"):
        from ferkit.imaging.images import read_image

        read_image(tmp_path / "a.jpg")


def test_base64_with_mime_line_breaks_is_read(client):
    text = base64.encodebytes(jpeg()).decode()  # 76-character lines, as MIME writes them
    assert "\n" in text.strip()
    r = client.post("/v1/detect", json={"image_base64": text})
    assert r.status_code == 200, r.text
    r = client.post("/v1/detect", json={"image_base64": "data:image/jpeg;base64," + text})
    assert r.status_code == 200, r.text


def test_head_of_the_page_and_health_is_answered(client):
    assert client.head("/").status_code == 200
    assert client.head("/healthz").status_code == 200


@pytest.fixture(scope="module")
def small_server(classifier):
    config = ServeConfig(max_upload_mb=0.05, body_timeout_s=20)
    app = create_app(Pipeline(classifier, FixedDetector(TWO_FACES)), config)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, http=HeaderDeadlineProtocol, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(5)


@pytest.mark.parametrize("path", ["/v1/detect", "/v1/detect/batch"])
def test_a_chunked_upload_is_cut_at_the_limit(small_server, path):
    """50 KB allowed; a chunked multipart body with no Content-Length keeps coming: 413 long before 2 MB."""
    field = "file" if path == "/v1/detect" else "files"
    head = (
        f'--b\r\nContent-Disposition: form-data; name="{field}"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    s = socket.create_connection(("127.0.0.1", small_server), timeout=10)
    s.sendall(
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n\r\n".encode()
    )
    sent, answer = 0, b""
    chunk = b"\xff" * 16384
    try:
        s.sendall(b"%x\r\n%s\r\n" % (len(head), head))
        while sent < 2_000_000:
            s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
            time.sleep(0.01)  # a client on a real link: the server reads as the bytes come
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                answer += s.recv(65536)
            s.setblocking(True)
            if answer:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    s.settimeout(10)
    try:
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            more = s.recv(65536)
            if not more:
                break
            answer += more
    except (ConnectionResetError, TimeoutError):
        pass
    s.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["limit"] == "max_upload_mb"
    assert sent < 400_000  # refused as the bytes arrived, not after reading them all


def test_a_refused_training_run_leaves_no_folder(fer_folder, tmp_path):
    (tmp_path / "evil.pt").write_bytes(b"not a checkpoint")
    runs = tmp_path / "runs"
    args = ["train-classifier", "--data", str(fer_folder), "--project", str(runs), "--epochs", "1"]
    r = runner.invoke(cli, [*args, "--teacher", str(tmp_path / "evil.pt")])
    assert r.exit_code == 1, r.output
    assert not runs.exists() or not any(runs.rglob("*")), sorted(runs.rglob("*"))


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (np.array([[1, 2], [3, 4]], dtype=object), "dtype object"),
        (np.full((20, 20, 3), np.nan, np.float32), "NaN or infinite"),
        (np.full((20, 20), np.inf), "NaN or infinite"),
        (np.zeros((20, 20), dtype=np.complex64), "dtype complex64"),
        (123, "is a int"),
        ("typo.jpg", "typo.jpg: file not found"),
    ],
    ids=["object", "nan-float", "inf-float", "complex", "int", "missing"],
)
def test_odd_python_inputs_are_a_clear_error(two_face_pipeline, value, says, recwarn):
    with pytest.raises(InputError, match=says):
        two_face_pipeline.run(value)
    (record,) = two_face_pipeline.run_batch([value])  # a batch goes on: a record with the error
    assert record.error is not None and says in record.error
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
