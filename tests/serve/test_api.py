import base64
import threading
import time

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from ferkit.serve.app import create_app
from ferkit.serve.config import ServeConfig
from ferkit.types import ImageResult
from tests.helpers import SlowPipeline, jpeg, png_with_size


def test_detect_multipart_gives_the_cli_record(client):
    r = client.post("/v1/detect", files={"file": ("me.jpg", jpeg(), "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    keys = ImageResult("x", 1, 1).to_dict().keys()
    assert body.keys() == keys and body["source"] == "me.jpg" and (body["width"], body["height"]) == (80, 60)
    assert len(body["faces"]) == 2
    assert set(body["faces"][0]) == {
        "box_xyxy", "det_score", "emotion", "emotion_score", "emotion_probs", "unreadable"
    }  # fmt: skip


def test_detect_raw_body_and_base64_json(client):
    raw = client.post("/v1/detect", content=jpeg(), headers={"content-type": "image/jpeg"})
    js = client.post("/v1/detect", json={"image_base64": base64.b64encode(jpeg()).decode(), "name": "a.jpg"})
    assert raw.status_code == js.status_code == 200
    assert raw.json()["faces"] == js.json()["faces"] and js.json()["source"] == "a.jpg"


def test_query_options(client):
    one = client.post("/v1/detect?max_faces=1", files={"file": ("a.jpg", jpeg(), "image/jpeg")}).json()
    none = client.post("/v1/detect?conf=0.95", files={"file": ("a.jpg", jpeg(), "image/jpeg")}).json()
    assert len(one["faces"]) == 1 and one["faces"][0]["det_score"] == 0.9
    assert none["faces"] == []
    every = client.post("/v1/detect", files={"file": ("a.jpg", jpeg(), "image/jpeg")}).json()["faces"]
    smallest = min(min(x2 - x1, y2 - y1) for x1, y1, x2, y2 in (f["box_xyxy"] for f in every))
    url = f"/v1/detect?min_face={int(smallest) + 1}"
    big = client.post(url, files={"file": ("a.jpg", jpeg(), "image/jpeg")}).json()["faces"]
    assert len(every) == 2 and len(big) == 1  # the smaller face left out


def _bomb(tmp_path) -> bytes:
    return png_with_size(tmp_path / "bomb.png", 20000, 20000).read_bytes()


@pytest.mark.parametrize(
    ("kwargs", "status", "code", "limit"),
    [
        ({"files": {"file": ("e.jpg", b"", "image/jpeg")}}, 400, "empty", None),
        ({"files": {"file": ("t.jpg", b"just some text\n", "text/plain")}}, 400, "not_an_image", None),
        ({"files": {"file": ("half.jpg", "TRUNCATED", "image/jpeg")}}, 400, "not_an_image", None),
        ({"files": {"file": ("bomb.png", "BOMB", "image/png")}}, 413, "too_many_pixels", "max_pixels"),
        (
            {"files": {"file": ("big.jpg", b"\xff" * 60_000, "image/jpeg")}},
            413,
            "upload_too_large",
            "max_upload_mb",
        ),
        ({"files": {"other": ("a.jpg", "JPEG", "image/jpeg")}}, 400, "missing_file", None),
        (
            {"content": b"hello", "headers": {"content-type": "text/plain"}},
            415,
            "unsupported_content_type",
            None,
        ),
        ({"content": b"", "headers": {"content-type": "image/jpeg"}}, 400, "empty", None),
        ({"json": {"image_base64": "not base64!"}}, 400, "bad_json", None),
        ({"json": {"picture": "AAAA"}}, 400, "bad_json", None),
        (
            {"params": {"conf": 2}, "files": {"file": ("a.jpg", "JPEG", "image/jpeg")}},
            422,
            "invalid_option",
            None,
        ),
        (
            {"params": {"max_faces": 0}, "files": {"file": ("a.jpg", "JPEG", "image/jpeg")}},
            422,
            "invalid_option",
            None,
        ),
    ],
)
def test_bad_requests_get_a_json_error_and_the_server_keeps_serving(
    client, tmp_path, kwargs, status, code, limit
):
    good = jpeg()
    stand_in = {"JPEG": good, "TRUNCATED": good[: len(good) // 2], "BOMB": _bomb(tmp_path)}
    if "files" in kwargs:
        kwargs["files"] = {k: (n, stand_in.get(d, d), t) for k, (n, d, t) in kwargs["files"].items()}
    r = client.post("/v1/detect", **kwargs)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["limit"] == limit
    assert client.post("/v1/detect", files={"file": ("ok.jpg", good, "image/jpeg")}).status_code == 200


def test_health_models_page_and_local_docs(client):
    assert client.get("/healthz").json()["status"] == "ok"
    models = client.get("/v1/models").json()
    assert (
        models["class_names"] == list(models["class_colours"]) and models["limits"]["max_pixels"] == 2_000_000
    )
    page = client.get("/")
    assert page.status_code == 200 and 'id="file"' in page.text and 'id="camera"' in page.text
    assert "getUserMedia" in page.text and "http://" not in page.text and "https://" not in page.text
    docs = client.get("/docs").text
    assert "cdn" not in docs.lower()
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/v1/detect", "/healthz", "/v1/models"}


def test_timeout_is_a_504_naming_the_limit():
    app = create_app(SlowPipeline(delay=1.0), ServeConfig(timeout_s=0.2))
    with TestClient(app, base_url="http://localhost") as c:
        r = c.post("/v1/detect", files={"file": ("a.jpg", jpeg(), "image/jpeg")})
    assert r.status_code == 504 and r.json()["error"]["limit"] == "timeout_s"


def test_full_queue_is_a_503_and_waiting_requests_are_batched():
    gate = threading.Event()
    pipe = SlowPipeline(gate=gate)
    config = ServeConfig(queue_size=3, max_batch=8, batch_wait_ms=0)
    with TestClient(create_app(pipe, config), base_url="http://localhost") as c:
        codes = []

        def post():
            codes.append(c.post("/v1/detect", files={"file": ("a.jpg", jpeg(), "image/jpeg")}).status_code)

        first = threading.Thread(target=post)
        first.start()
        while not pipe.batches:  # the first image is in the model, blocked
            time.sleep(0.01)
        waiting = [threading.Thread(target=post) for _ in range(3)]
        for t in waiting:
            t.start()
        while c.get("/healthz").json()["queued"] < 3:
            time.sleep(0.01)
        r = c.post("/v1/detect", files={"file": ("a.jpg", jpeg(), "image/jpeg")})
        assert r.status_code == 503 and r.json()["error"]["limit"] == "queue_size"
        assert r.headers["retry-after"] == "1"  # a busy answer says when to come back
        gate.set()
        for t in [first, *waiting]:
            t.join(10)
    assert codes == [200] * 4
    assert pipe.batches == [1, 3]  # the three that waited together ran as one batch


def test_base64_of_a_bomb_is_refused_before_decoding(client, tmp_path):
    data = base64.b64encode(_bomb(tmp_path)).decode()
    r = client.post("/v1/detect", json={"image_base64": data})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_pixels"
    assert "limit of 2 MP" in r.json()["error"]["message"]  # the configured limit, not PIL's own


def test_requests_with_other_options_run_in_their_own_batch():
    from ferkit.config import RunOptions
    from ferkit.serve.batcher import Batcher

    pipe = SlowPipeline()
    batcher = Batcher(pipe, queue_size=8, max_batch=8, batch_wait_s=0.3)
    image = np.zeros((8, 8, 3), np.uint8)
    futures = [
        batcher.submit(image, name, RunOptions(conf)) for name, conf in (("a", 0.3), ("b", 0.5), ("c", 0.3))
    ]
    assert [f.result(10).source for f in futures] == ["a", "b", "c"]
    batcher.close()
    assert pipe.batches == [2, 1]


def test_interleaved_requests_keep_their_own_options(client):
    """Per-request options go with the call: the shared pipeline and /v1/models never change."""
    configured = client.get("/v1/models").json()["detector"]["conf"]
    counts: dict[str, list[int]] = {"strict": [], "loose": []}

    def post(kind: str, conf: float) -> None:
        for _ in range(6):
            r = client.post(f"/v1/detect?conf={conf}", files={"file": ("a.jpg", jpeg(), "image/jpeg")})
            counts[kind].append(len(r.json()["faces"]))

    threads = [threading.Thread(target=post, args=a) for a in (("strict", 0.95), ("loose", 0.0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert counts == {"strict": [0] * 6, "loose": [2] * 6}
    client.post("/v1/detect?conf=0.95", files={"file": ("a.jpg", jpeg(), "image/jpeg")})  # the last one
    assert client.get("/v1/models").json()["detector"]["conf"] == configured != 0.95


def test_run_options_do_not_change_the_pipeline(pipeline):
    from ferkit.config import RunOptions

    before = pipeline.settings()
    image = cv2.imdecode(np.frombuffer(jpeg(), np.uint8), cv2.IMREAD_COLOR)
    one = pipeline.run_arrays(["a"], [image], options=RunOptions(conf=0.0, max_faces=1, tta=True))[0]
    assert len(one.faces) == 1 and pipeline.settings() == before


def test_openapi_declares_the_upload_so_try_it_out_can_send_a_file(client):
    body = client.get("/openapi.json").json()["paths"]["/v1/detect"]["post"]["requestBody"]
    upload = body["content"]["multipart/form-data"]["schema"]["properties"]["file"]
    assert body["required"] and upload["format"] == "binary" and upload["type"] == "string"
    assert {"image/*", "application/json"} <= set(body["content"])
