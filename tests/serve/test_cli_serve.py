"""``fer serve`` as a user starts it: a subprocess on a free loopback port."""

import socket

import pytest
from tools.servedrive import EXAMPLE, fer_serve_process, post_image
from typer.testing import CliRunner

from ferkit.cli import app

runner = CliRunner()


@pytest.mark.parametrize("workers", [1, 2])
def test_fer_serve_answers_detect_health_and_models(workers):
    with fer_serve_process("--workers", str(workers), "--device", "cpu") as (_, url):
        status, body = post_image(url, EXAMPLE.read_bytes(), "example.jpg")
        assert status == 200 and body["source"] == "example.jpg" and len(body["faces"]) == 2
        status, body = post_image(url, b"not an image")
        assert status == 400 and body["error"]["code"] == "not_an_image"


def test_a_busy_port_is_one_red_line_before_loading():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = runner.invoke(app, ["serve", "--port", str(port), "--classifier-weights", "/no/such.pt"])
    assert r.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers"),
        (["--max-upload-mb", "0"], "--max-upload-mb"),
        (["--port", "70000"], "--port"),
        (["--classifier-weights", "/no/such.pt", "--port", "0"], "/no/such.pt"),
    ],
)
def test_bad_options_fail_cleanly(args, message):
    r = runner.invoke(app, ["serve", *args])
    assert r.exit_code == 1 and message in r.stderr and r.stderr.count("error:") == 1


def test_help_lists_the_limits():
    r = runner.invoke(app, ["serve", "--help"])
    for opt in ("--max-upload-mb", "--max-pixels", "--timeout", "--queue-size", "--max-batch", "--workers"):
        assert opt in r.stdout
