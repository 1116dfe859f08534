"""POST /v1/detect/batch and the declared (typed) answers of every route."""

import itertools
import threading
import time

from fastapi.testclient import TestClient

from ferkit.serve.app import create_app
from ferkit.serve.config import ServeConfig
from tests.helpers import SlowPipeline, jpeg


def files(*items):
    return [("files", item) for item in items]


def test_a_batch_gives_one_record_per_file_in_order_and_a_bad_file_fails_alone(client):
    r = client.post(
        "/v1/detect/batch?max_faces=1",
        files=files(("a.jpg", jpeg(), "image/jpeg"), ("notes.txt", b"not an image", "text/plain"),
                    ("b.jpg", jpeg(90, 70), "image/jpeg")),
    )  # fmt: skip
    assert r.status_code == 200, r.text
    a, bad, b = r.json()["results"]
    assert (a["source"], bad["source"], b["source"]) == ("a.jpg", "notes.txt", "b.jpg")
    assert (b["width"], b["height"]) == (90, 70) and len(a["faces"]) == len(b["faces"]) == 1
    assert bad["error"] and bad["faces"] == [] and a["error"] is None
    single = client.post("/v1/detect?max_faces=1", files={"file": ("a.jpg", jpeg(), "image/jpeg")}).json()
    assert a == single  # the same record as one image at a time


def test_bad_batches_get_one_json_error():
    config = ServeConfig(queue_size=2, max_upload_mb=0.05)
    with TestClient(create_app(SlowPipeline(), config), base_url="http://localhost") as c:
        many = c.post("/v1/detect/batch", files=files(*[("a.jpg", jpeg(), "image/jpeg")] * 3))
        raw = c.post("/v1/detect/batch", content=jpeg(), headers={"content-type": "image/jpeg"})
        none = c.post("/v1/detect/batch", files={"file": ("a.jpg", jpeg(), "image/jpeg")})
        big = c.post("/v1/detect/batch", files=files(*[("a.jpg", jpeg(240, 180), "image/jpeg")] * 2))
    assert many.status_code == 400 and "Maximum number of files is 2" in many.json()["error"]["message"]
    assert raw.status_code == 415 and raw.json()["error"]["code"] == "unsupported_content_type"
    assert none.status_code == 400 and none.json()["error"]["code"] == "missing_file"
    assert big.status_code == 413 and big.json()["error"]["limit"] == "max_upload_mb"


def test_a_batch_that_does_not_fit_the_queue_is_refused_whole():
    gate = threading.Event()
    pipe = SlowPipeline(gate=gate)
    app = create_app(pipe, ServeConfig(queue_size=2, batch_wait_ms=0))
    with TestClient(app, base_url="http://localhost") as c:

        def post(name):
            c.post("/v1/detect", files={"file": (name, jpeg(), "image/jpeg")})

        first = threading.Thread(target=post, args=("x.jpg",))
        first.start()
        while not pipe.batches:  # one image in the model, blocked: the queue holds 2 more
            time.sleep(0.01)
        second = threading.Thread(target=post, args=("y.jpg",))
        second.start()
        while c.get("/healthz").json()["queued"] < 1:
            time.sleep(0.01)
        r = c.post("/v1/detect/batch", files=files(*[("a.jpg", jpeg(), "image/jpeg")] * 2))
        assert r.status_code == 503 and r.json()["error"]["limit"] == "queue_size"
        gate.set()
        first.join(10)
        second.join(10)
    assert pipe.batches == [1, 1]  # the two single requests only: the batch's queued file was taken back


def test_openapi_declares_every_answer(client):
    spec = client.get("/openapi.json").json()
    batch = spec["paths"]["/v1/detect/batch"]["post"]
    item = batch["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["files"]["items"]
    assert item == {"type": "string", "format": "binary"}
    assert {p["name"] for p in batch["parameters"]} == {
        "conf",
        "max_faces",
        "tta",
        "min_face",
        "readable_size",
    }
    for path, model in (("/v1/detect", "ImageResultOut"), ("/v1/detect/batch", "BatchOut")):
        answers = spec["paths"][path]["post"]["responses"]
        assert answers["200"]["content"]["application/json"]["schema"]["$ref"].endswith(model)
        assert answers["503"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorOut")
    face = spec["components"]["schemas"]["FaceOut"]["properties"]
    assert set(face) == {"box_xyxy", "det_score", "emotion", "emotion_score", "emotion_probs", "unreadable"}
    assert spec["paths"]["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]["schema"][
        "$ref"
    ].endswith("HealthOut")


def test_the_batcher_hands_free_memory_back_once_the_queue_runs_empty(monkeypatch):
    import numpy as np

    import ferkit.serve.batcher as batcher
    from ferkit.config import RunOptions

    trims = []
    monkeypatch.setattr(batcher, "release_free_memory", lambda: trims.append(time.monotonic()) or True)
    monkeypatch.setattr(batcher, "TRIM_EVERY_S", 0.2)
    b = batcher.Batcher(SlowPipeline(), queue_size=8, max_batch=4, batch_wait_s=0.0)
    try:
        for _ in range(3):
            futures = [b.submit(np.zeros((8, 8, 3), np.uint8), "x", RunOptions()) for _ in range(4)]
            [f.result(10) for f in futures]
            time.sleep(0.3)
        assert b.trims == len(trims) >= 2  # after each idle spell, not after every batch of a burst
        assert all(later - earlier >= 0.2 for earlier, later in itertools.pairwise(trims))
    finally:
        b.close()
