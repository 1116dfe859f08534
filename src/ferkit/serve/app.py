"""The FastAPI app of ``fer serve``: ``POST /v1/detect``, ``GET /`` (a page to try it), ``GET /healthz``,
``GET /v1/models`` and the OpenAPI docs (``/docs``, served locally: no CDN).

Every error is JSON ``{"error": {"code", "message", "limit"}}`` with a 4xx/5xx status; ``limit`` names
the configured limit that was exceeded, if any.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from ferkit.config import RunOptions
from ferkit.errors import DataError, ImageTooLargeError
from ferkit.imaging.images import decode_image
from ferkit.serve.batcher import Batcher, ServerBusyError
from ferkit.serve.config import CONFIG_ENV, ServeConfig
from ferkit.serve.guards import BodyTimeoutError, Guards

IMAGE_TYPES = ("image/", "application/octet-stream")
DETECT_DOC = """Send the image as multipart form data (field `file`), as the raw body
(`Content-Type: image/...`), or as JSON `{"image_base64": "..."}`. The answer is the record of
`fer detect-and-classify -f json`: `source`, `width`, `height`, `error` and `faces`
(box_xyxy, det_score, emotion, emotion_score, emotion_probs)."""


# the three request bodies /v1/detect takes, declared for its OpenAPI docs ("Try it out" can upload a file);
# the handler reads the body itself (one size limit for all three)
DETECT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "An image file."}
                },
                "required": ["file"],
            }
        },
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"image_base64": {"type": "string", "description": "The image file, base64."}},
                "required": ["image_base64"],
            }
        },
    },
}


class ApiError(Exception):
    """An error answered as JSON: HTTP ``status``, a stable ``code``, and the ``limit`` exceeded (if any)."""

    def __init__(
        self, status: int, code: str, message: str, limit: str | None = None, headers: dict | None = None
    ):
        super().__init__(message)
        self.status, self.code, self.message, self.limit = status, code, message, limit
        self.headers = headers

    def response(self) -> JSONResponse:
        body = {"error": {"code": self.code, "message": self.message, "limit": self.limit}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "upload_too_large"}


def create_app(pipeline, config: ServeConfig | None = None) -> FastAPIOffline:
    """The app around a loaded :class:`~ferkit.pipeline.Pipeline` (the caller owns loading it)."""
    from ferkit._version import __version__
    from ferkit.imaging.draw import colour_for

    config = config or ServeConfig()
    state: dict = {}

    @asynccontextmanager
    async def lifespan(_app):
        state["batcher"] = Batcher(pipeline, config.queue_size, config.max_batch, config.batch_wait_ms / 1000)
        try:
            yield
        finally:
            state.pop("batcher").close()

    app = FastAPIOffline(
        title="ferkit",
        version=__version__,
        description="Find faces and recognise their expressions: `POST /v1/detect` an image, or try `GET /`.",
        lifespan=lifespan,
    )

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        # the framework's own errors (404, 405, a malformed or over-full form) in the API's one shape
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return ApiError(exc.status_code, code, str(exc.detail), headers=exc.headers).response()

    @app.exception_handler(BodyTimeoutError)
    async def _slow_body(_request: Request, exc: BodyTimeoutError) -> JSONResponse:
        close = {"connection": "close"}
        return ApiError(408, "body_timeout", str(exc), "body_timeout_s", close).response()

    @app.exception_handler(ClientDisconnect)
    async def _gone(_request: Request, _exc: ClientDisconnect) -> Response:
        return Response(status_code=499)  # nobody is there to read it; nothing to log

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception) -> JSONResponse:
        message = f"the server failed on this request ({type(exc).__name__})"
        return ApiError(500, "internal_error", message).response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return ApiError(422, "invalid_option", detail).response()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(resources.files("ferkit.serve").joinpath("static/index.html").read_text("utf-8"))

    @app.get("/healthz", summary="Liveness and queue length")
    async def healthz() -> dict:
        b = state.get("batcher")
        return {"status": "ok", "version": __version__, "queued": b.queued if b else 0}

    @app.get("/v1/models", summary="The loaded weights, classes and limits")
    async def models() -> dict:
        settings = pipeline.settings()
        names = list(pipeline.class_names)
        colours = {c: "#{2:02x}{1:02x}{0:02x}".format(*colour_for(c, names)) for c in names}
        return {
            "class_names": names,
            "class_colours": colours,
            "detector": {
                k: settings.get(k) for k in ("detector_weights", "conf", "iou", "imgsz", "contained")
            },
            "classifier": {k: settings.get(k) for k in ("classifier_weights", "margin", "square", "tta")},
            "limits": config.limits(),
        }

    @app.post(
        "/v1/detect",
        summary="Faces and emotions of one image",
        description=DETECT_DOC,
        openapi_extra={"requestBody": DETECT_BODY},
    )
    async def detect(
        request: Request,
        conf: float = Query(config.conf, ge=0.0, le=1.0, description="Detector confidence threshold."),
        max_faces: int | None = Query(None, ge=1, description="Keep at most this many faces."),
        tta: bool = Query(False, description="Test-time augmentation for the classifier (slower)."),
        min_face: int | None = Query(
            None, ge=0, description="Leave out faces narrower or lower than this (pixels)."
        ),
    ) -> dict:
        data, name = await _read_upload(request, config)
        try:
            image = await run_in_threadpool(decode_image, data, name, config.max_pixels)
        except ImageTooLargeError as exc:
            raise ApiError(413, "too_many_pixels", str(exc), "max_pixels") from None
        except DataError as exc:
            raise ApiError(400, "not_an_image", str(exc)) from None
        try:
            future = state["batcher"].submit(image, name, RunOptions(conf, max_faces, tta, min_face))
        except ServerBusyError as exc:
            raise ApiError(503, "busy", str(exc), "queue_size", {"retry-after": "1"}) from None
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), config.timeout_s)
        except asyncio.TimeoutError:
            future.cancel()
            raise ApiError(504, "timeout", f"no result within {config.timeout_s} s", "timeout_s") from None
        return result.to_dict()

    app.add_middleware(Guards, hosts=config.hosts(), body_timeout_s=config.body_timeout_s)
    return app


async def _read_upload(request: Request, config: ServeConfig) -> tuple[bytes, str]:
    """The image bytes and a name for them, from a multipart form, a raw image body or base64 JSON."""
    limit = config.max_upload_bytes
    too_big = ApiError(
        413, "upload_too_large", f"the upload exceeds {config.max_upload_mb} MB", "max_upload_mb"
    )
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_big
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=8)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "missing_file", "send the image in a form field named 'file'")
        data, name = await upload.read(limit + 1), upload.filename or "upload"
    elif ctype == "application/json":
        try:
            body = json.loads(await _body(request, limit, too_big))
            data = base64.b64decode(body["image_base64"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):  # incl. 100k-deep JSON
            raise ApiError(
                400, "bad_json", 'send JSON {"image_base64": "<base64 of an image file>"}'
            ) from None
        name = str(body.get("name") or "upload")
    elif ctype.startswith(IMAGE_TYPES):
        data, name = await _body(request, limit, too_big), "upload"
    else:
        raise ApiError(
            415,
            "unsupported_content_type",
            f"unsupported content type {ctype or '(none)'!r}: send multipart/form-data, image/* or JSON",
        )
    if len(data) > limit:
        raise too_big
    if not data:
        raise ApiError(400, "empty", "the upload is empty (0 bytes)")
    return data, os.path.basename(name)


async def _body(request: Request, limit: int, too_big: ApiError) -> bytes:
    """The request body, read no further than ``limit`` bytes (chunked uploads have no length to check)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def app_from_env() -> FastAPIOffline:
    """The app of one ``fer serve --workers N`` worker: settings from the environment the CLI set."""
    config = ServeConfig.from_json(os.environ[CONFIG_ENV])
    return create_app(load_pipeline(config), config)


def load_pipeline(config: ServeConfig):
    """The pipeline ``config`` names (weights, device, detector options)."""
    from ferkit.pipeline import Pipeline

    return Pipeline.from_config(config.pipeline())
