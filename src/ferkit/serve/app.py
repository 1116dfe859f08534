"""The FastAPI app of ``fer serve``: ``POST /v1/detect``, ``POST /v1/detect/batch``, ``GET /`` (a page to
try it), ``GET /healthz``, ``GET /v1/models`` and the OpenAPI docs (``/docs``, served locally: no CDN).

Every error is JSON ``{"error": {"code", "message", "limit"}}`` with a 4xx/5xx status; ``limit`` names
the configured limit that was exceeded, if any.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from ferkit.config import RunOptions
from ferkit.errors import DataError, ImageTooLargeError
from ferkit.imaging.images import decode_image
from ferkit.serve.batcher import Batcher, ServerBusyError
from ferkit.serve.config import CONFIG_ENV, ServeConfig
from ferkit.serve.guards import BodyTimeoutError, BodyTooLargeError, Guards
from ferkit.serve.requests import DETECT_BODY, HTTP_CODES, ApiError, read_upload, read_uploads
from ferkit.serve.schema import ERRORS, BatchOut, HealthOut, ImageResultOut, ModelsOut
from ferkit.types import ImageResult

BATCH_DOC = """Send several images as multipart form data, each in a field named `files` (at most
`queue_size` files, `max_upload_mb` in all). The answer is `{"results": [...]}`, one record per file in
upload order, as `/v1/detect` gives it; a file that is not an image gets a record with its `error` and the
others still run."""
BATCH_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                "required": ["files"],
            }
        }
    },
}
DETECT_DOC = """Send the image as multipart form data (field `file`), as the raw body
(`Content-Type: image/...`), or as JSON `{"image_base64": "..."}`. The answer is the record of
`fer detect-and-classify -f json`: `source`, `width`, `height`, `error` and `faces`
(box_xyxy, det_score, emotion, emotion_score, emotion_probs)."""


FORM_OVERHEAD = 64 * 1024  # multipart headers and boundaries around files of max_upload_mb in all


def create_app(pipeline, config: ServeConfig | None = None) -> FastAPIOffline:
    """The app around a loaded :class:`~ferkit.pipeline.Pipeline` (the caller owns loading it)."""
    from ferkit._version import __version__

    config = config or ServeConfig()
    service = _Service(pipeline, config)
    app = FastAPIOffline(
        title="ferkit",
        version=__version__,
        description="Find faces and recognise their expressions: `POST /v1/detect` an image, or try `GET /`.",
        lifespan=service.lifespan,
    )
    for exc_type, handler in _error_handlers(config).items():
        app.add_exception_handler(exc_type, handler)
    _add_pages(app, service)
    _add_detect_routes(app, service)
    app.add_middleware(
        Guards,
        hosts=config.hosts(),
        body_timeout_s=config.body_timeout_s,
        max_body_bytes=config.max_upload_bytes + FORM_OVERHEAD,
    )
    return app


def _error_handlers(config: ServeConfig) -> dict:
    """Every error the app can meet, answered in the API's one JSON shape."""

    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    async def http(_request: Request, exc: HTTPException) -> JSONResponse:
        # the framework's own errors (404, 405, a malformed or over-full form) in the API's one shape
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return ApiError(exc.status_code, code, str(exc.detail), headers=exc.headers).response()

    async def slow_body(_request: Request, exc: BodyTimeoutError) -> JSONResponse:
        close = {"connection": "close"}
        return ApiError(408, "body_timeout", str(exc), "body_timeout_s", close).response()

    async def too_large(_request: Request, _exc: BodyTooLargeError) -> JSONResponse:
        message = f"the upload exceeds {config.max_upload_mb} MB"
        close = {"connection": "close"}  # the rest of the body is never read
        return ApiError(413, "upload_too_large", message, "max_upload_mb", close).response()

    async def gone(_request: Request, _exc: ClientDisconnect) -> Response:
        return Response(status_code=499)  # nobody is there to read it; nothing to log

    async def internal(_request: Request, exc: Exception) -> JSONResponse:
        message = f"the server failed on this request ({type(exc).__name__})"
        return ApiError(500, "internal_error", message).response()

    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return ApiError(422, "invalid_option", detail).response()

    return {
        ApiError: api_error, HTTPException: http, BodyTimeoutError: slow_body, BodyTooLargeError: too_large,
        ClientDisconnect: gone, Exception: internal, RequestValidationError: invalid,
    }  # fmt: skip


class _Service:
    """What the routes share: the pipeline, the settings and the batcher (alive while the app runs)."""

    def __init__(self, pipeline, config: ServeConfig):
        self.pipeline, self.config = pipeline, config
        self.batcher: Batcher | None = None

    @asynccontextmanager
    async def lifespan(self, _app):
        c = self.config
        self.batcher = Batcher(self.pipeline, c.queue_size, c.max_batch, c.batch_wait_ms / 1000)
        try:
            yield
        finally:
            self.batcher.close()
            self.batcher = None

    def models(self) -> dict:
        """The loaded weights (names, formats, SHA-256: never server paths), classes, options, limits."""
        from ferkit.imaging.draw import colour_for

        pipeline, settings = self.pipeline, self.pipeline.settings()
        names = list(pipeline.class_names)
        colours = {c: "#{2:02x}{1:02x}{0:02x}".format(*colour_for(c, names)) for c in names}
        detector = {k: settings.get(k) for k in ("conf", "iou", "imgsz", "contained")}
        classifier = {k: settings.get(k) for k in ("margin", "square", "tta")}
        return {
            "class_names": names,
            "class_colours": colours,
            "detector": {"detector_weights": public_weights(settings["detector_weights"]), **detector},
            "classifier": {
                "classifier_weights": [public_weights(w) for w in settings["classifier_weights"]],
                "readable_size": pipeline.readable_size,
                **classifier,
            },
            "precision": settings.get("precision"),
            "limits": self.config.limits(),
        }

    def submit(self, images: list[tuple[object, str]], options: RunOptions) -> list:
        """Queue every decoded image (None: nothing to run); all or none (503 when the queue is full)."""
        futures: list = []
        try:
            for image, name in images:
                futures.append(self.batcher.submit(image, name, options) if image is not None else None)
        except ServerBusyError as exc:
            _cancel(futures)
            raise ApiError(503, "busy", str(exc), "queue_size", {"retry-after": "1"}) from None
        return futures

    async def results(self, futures: list) -> list:
        timeout = self.config.timeout_s
        try:
            waiting = [asyncio.wrap_future(f) for f in futures if f is not None]
            done = iter(await asyncio.wait_for(asyncio.gather(*waiting), timeout))
        except asyncio.TimeoutError:
            _cancel(futures)
            raise ApiError(504, "timeout", f"no result within {timeout} s", "timeout_s") from None
        return [next(done) if f is not None else None for f in futures]

    async def detect(self, request: Request, options: RunOptions) -> dict:
        data, name = await read_upload(request, self.config)
        try:
            image = await run_in_threadpool(decode_image, data, name, self.config.max_pixels)
        except ImageTooLargeError as exc:
            raise ApiError(413, "too_many_pixels", str(exc), "max_pixels") from None
        except DataError as exc:
            raise ApiError(400, "not_an_image", str(exc)) from None
        (result,) = await self.results(self.submit([(image, name)], options))
        return result.to_dict()

    async def detect_batch(self, request: Request, options: RunOptions) -> dict:
        uploads = await read_uploads(request, self.config)
        images, failed = [], {}
        for i, (data, name) in enumerate(uploads):
            try:
                image = await run_in_threadpool(decode_image, data, name, self.config.max_pixels)
                images.append((image, name))
            except DataError as exc:  # this file only: the others still run
                images.append((None, name))
                failed[i] = ImageResult(name, 0, 0, error=str(exc))
        done = await self.results(self.submit(images, options))
        return {"results": [(r if r is not None else failed[i]).to_dict() for i, r in enumerate(done)]}


def _cancel(futures: list) -> None:
    for f in futures:
        if f is not None:
            f.cancel()  # queued images are then dropped by the batcher, unrun


def _add_pages(app: FastAPIOffline, service: _Service) -> None:
    """The page to try the service, the health check and the models' description."""
    from ferkit._version import __version__

    @app.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(resources.files("ferkit.serve").joinpath("static/index.html").read_text("utf-8"))

    @app.get("/healthz", summary="Liveness and queue length", response_model=HealthOut)
    async def healthz() -> dict:
        b = service.batcher
        return {"status": "ok", "version": __version__, "queued": b.queued if b else 0}

    app.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)

    @app.get("/v1/models", summary="The loaded weights, classes and limits", response_model=ModelsOut)
    async def models() -> dict:
        return service.models()


def _run_options(config: ServeConfig):
    """The dependency that reads a request's options (query parameters) for both detect routes."""

    def run_options(
        conf: float = Query(
            config.pipeline.conf, ge=0.0, le=1.0, description="Detector confidence threshold."
        ),
        max_faces: int | None = Query(None, ge=1, description="Keep at most this many faces."),
        tta: bool = Query(False, description="Test-time augmentation for the classifier (slower)."),
        min_face: int | None = Query(
            None, ge=0, description="Leave out faces narrower or lower than this (pixels)."
        ),
        readable_size: int | None = Query(
            None, ge=0, le=10_000, description="Faces smaller than this (pixels) get no emotion; 0: all do."
        ),
    ) -> RunOptions:
        return RunOptions(conf, max_faces, tta, min_face, readable_size)

    return run_options


def _add_detect_routes(app: FastAPIOffline, service: _Service) -> None:
    options_of = _run_options(service.config)

    @app.post(
        "/v1/detect", summary="Faces and emotions of one image", description=DETECT_DOC,
        openapi_extra={"requestBody": DETECT_BODY}, response_model=ImageResultOut, responses=ERRORS,
    )  # fmt: skip
    async def detect(request: Request, options: RunOptions = Depends(options_of)) -> dict:
        return await service.detect(request, options)

    @app.post(
        "/v1/detect/batch", summary="Faces and emotions of several images", description=BATCH_DOC,
        openapi_extra={"requestBody": BATCH_BODY}, response_model=BatchOut, responses=ERRORS,
    )  # fmt: skip
    async def detect_batch(request: Request, options: RunOptions = Depends(options_of)) -> dict:
        return await service.detect_batch(request, options)


def public_weights(file: dict | None) -> dict | None:
    """A weights file as the service shows it: its name, format and SHA-256, never its path on the server."""
    if file is None:
        return None
    path = Path(file["path"])
    fmt = {".pt": "torch", ".onnx": "onnx"}.get(path.suffix, "openvino" if path.is_dir() else path.suffix)
    return {"name": path.name, "format": fmt, "sha256": file["sha256"]}


def app_from_env() -> FastAPIOffline:
    """The app of one ``fer serve --workers N`` worker: settings from the environment the CLI set."""
    config = ServeConfig.from_json(os.environ[CONFIG_ENV])
    return create_app(load_pipeline(config), config)


def load_pipeline(config: ServeConfig):
    """The pipeline ``config`` names (weights, device, detector options)."""
    from ferkit.pipeline import Pipeline

    return Pipeline.from_config(config.pipeline)
