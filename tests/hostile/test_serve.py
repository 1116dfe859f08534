"""``fer serve`` under hostile clients: deep JSON, framework errors, slow and vanishing clients, bad Host."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time

import pytest
import uvicorn
from fastapi.testclient import TestClient

from ferkit.serve.app import create_app
from ferkit.serve.config import CONFIG_ENV, ServeConfig
from ferkit.serve.protocol import HeaderDeadlineProtocol

LIMITS = {"header_timeout_s": 0.5, "body_timeout_s": 0.5, "max_pixels": 2_000_000}


@pytest.fixture(scope="module")
def app(two_face_pipeline):
    return create_app(two_face_pipeline, ServeConfig(**LIMITS))


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app, base_url="http://localhost", raise_server_exceptions=False) as c:
        yield c


def _error(r) -> dict:
    assert r.headers["content-type"].startswith("application/json"), r.text
    body = r.json()
    assert set(body) == {"error"} and {"code", "message", "limit"} <= set(body["error"]), body
    return body["error"]


def test_deeply_nested_json_is_a_json_400(client):
    body = "[" * 100_000 + "]" * 100_000
    r = client.post("/v1/detect", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and _error(r)["code"] == "bad_json"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("get", "/no/such/route", {}, 404, "not_found"),
        ("get", "/v1/detect", {}, 405, "method_not_allowed"),
        ("post", "/v1/detect", {"files": [("file", ("a.jpg", b"x")), ("file", ("b.jpg", b"y"))]}, 400,
         "bad_request"),
        ("post", "/v1/detect", {"content": b"--x\r\n", "headers": {"content-type": "multipart/form-data"}},
         400, "bad_request"),
    ],
    ids=["404", "405", "too-many-files", "no-boundary"],
)  # fmt: skip
def test_framework_errors_have_the_documented_shape(client, method, path, kwargs, status, code):
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == status and _error(r)["code"] == code


def test_bad_host_is_refused_everywhere(client):
    for path in ("/", "/healthz", "/docs"):
        r = client.get(path, headers={"host": "attacker.example"})
        assert r.status_code == 400 and _error(r)["code"] == "bad_host", path
    assert client.get("/healthz", headers={"host": "127.0.0.1:8000"}).status_code == 200


@pytest.mark.parametrize(
    ("host", "allowed", "ok", "refused"),
    [
        ("127.0.0.1", (), ["localhost", "[::1]:80"], ["example.org"]),
        ("0.0.0.0", (), ["example.org", "10.1.2.3:8000"], []),
        ("0.0.0.0", ("faces.example",), ["faces.example:443"], ["localhost"]),
    ],
)
def test_allowed_hosts_follow_the_bind_address(two_face_pipeline, host, allowed, ok, refused):
    config = ServeConfig(host=host, allowed_hosts=allowed)
    with TestClient(create_app(two_face_pipeline, config)) as c:
        for name in ok:
            assert c.get("/healthz", headers={"host": name}).status_code == 200, name
        for name in refused:
            assert c.get("/healthz", headers={"host": name}).status_code == 400, name


def test_bomb_names_the_configured_limit(client, tmp_path):
    from tests.helpers import png_with_size

    data = png_with_size(tmp_path / "bomb.png", 20000, 20000).read_bytes()
    r = client.post("/v1/detect", content=data, headers={"content-type": "image/png"})
    assert r.status_code == 413 and "limit of 2 MP" in _error(r)["message"]


@pytest.fixture(scope="module")
def server(two_face_pipeline):
    """An app under uvicorn with ferkit's protocol, on a free loopback port, as ``fer serve`` runs it."""
    mp = pytest.MonkeyPatch()
    mp.setenv(CONFIG_ENV, ServeConfig(**LIMITS).to_json())
    app = create_app(two_face_pipeline, ServeConfig(**LIMITS))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, http=HeaderDeadlineProtocol, log_config=None)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield port
    srv.should_exit = True
    thread.join(5)
    mp.undo()


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BlockingIOError, TimeoutError):
        return False


def test_slow_headers_are_cut_off(server):
    socks = [socket.create_connection(("127.0.0.1", server)) for _ in range(50)]
    t0 = time.monotonic()
    for s in socks:
        s.sendall(b"POST /v1/detect HTTP/1.1\r\nHost: localhost\r\n")  # and never the rest
        s.settimeout(5)
    assert all(_closed(s) for s in socks), "a connection that never finished its headers stayed open"
    assert time.monotonic() - t0 < 4
    for s in socks:
        s.close()


def test_slow_body_is_a_json_408(server):
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
    conn.putrequest("POST", "/v1/detect", skip_host=True)
    conn.putheader("Host", "localhost")
    conn.putheader("Content-Type", "image/jpeg")
    conn.putheader("Content-Length", "100000")
    conn.endheaders(b"\xff\xd8 only the start")
    r = conn.getresponse()
    assert r.status == 408 and json.loads(r.read())["error"]["code"] == "body_timeout"
    conn.close()


def test_client_that_vanishes_mid_upload_logs_no_traceback(server, caplog):
    with caplog.at_level(logging.ERROR):
        s = socket.create_connection(("127.0.0.1", server))
        s.sendall(b"POST /v1/detect HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/jpeg\r\n"
                  b"Content-Length: 5000\r\n\r\n" + b"\xff" * 100)  # fmt: skip
        time.sleep(0.1)
        s.close()
        time.sleep(0.3)
        conn = http.client.HTTPConnection("127.0.0.1", server, timeout=5)  # still serving
        conn.request("GET", "/healthz", headers={"Host": "localhost"})
        assert conn.getresponse().status == 200
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
