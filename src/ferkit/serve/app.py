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
from ferkit.serve.guards import BodyTimeoutError, Guards
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

    @app.get("/healthz", summary="Liveness and queue length", response_model=HealthOut)
    async def healthz() -> dict:
        b = state.get("batcher")
        return {"status": "ok", "version": __version__, "queued": b.queued if b else 0}

    @app.get("/v1/models", summary="The loaded weights, classes and limits", response_model=ModelsOut)
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

    def run_options(
        conf: float = Query(config.conf, ge=0.0, le=1.0, description="Detector confidence threshold."),
        max_faces: int | None = Query(None, ge=1, description="Keep at most this many faces."),
        tta: bool = Query(False, description="Test-time augmentation for the classifier (slower)."),
        min_face: int | None = Query(
            None, ge=0, description="Leave out faces narrower or lower than this (pixels)."
        ),
    ) -> RunOptions:
        """The per-request options (query parameters) of both detect routes."""
        return RunOptions(conf, max_faces, tta, min_face)

    def cancel(futures: list) -> None:
        for f in futures:
            if f is not None:
                f.cancel()  # queued images are then dropped by the batcher, unrun

    def submit(images: list[tuple[object, str]], options: RunOptions) -> list:
        """Queue every decoded image (None: nothing to run); all or none (503 when the queue is full)."""
        futures: list = []
        try:
            for image, name in images:
                futures.append(state["batcher"].submit(image, name, options) if image is not None else None)
        except ServerBusyError as exc:
            cancel(futures)
            raise ApiError(503, "busy", str(exc), "queue_size", {"retry-after": "1"}) from None
        return futures

    async def results(futures: list) -> list:
        try:
            waiting = [asyncio.wrap_future(f) for f in futures if f is not None]
            done = iter(await asyncio.wait_for(asyncio.gather(*waiting), config.timeout_s))
        except asyncio.TimeoutError:
            cancel(futures)
            raise ApiError(504, "timeout", f"no result within {config.timeout_s} s", "timeout_s") from None
        return [next(done) if f is not None else None for f in futures]

    @app.post(
        "/v1/detect",
        summary="Faces and emotions of one image",
        description=DETECT_DOC,
        openapi_extra={"requestBody": DETECT_BODY},
        response_model=ImageResultOut,
        responses=ERRORS,
    )
    async def detect(request: Request, options: RunOptions = Depends(run_options)) -> dict:
        data, name = await read_upload(request, config)
        try:
            image = await run_in_threadpool(decode_image, data, name, config.max_pixels)
        except ImageTooLargeError as exc:
            raise ApiError(413, "too_many_pixels", str(exc), "max_pixels") from None
        except DataError as exc:
            raise ApiError(400, "not_an_image", str(exc)) from None
        (result,) = await results(submit([(image, name)], options))
        return result.to_dict()

    @app.post(
        "/v1/detect/batch",
        summary="Faces and emotions of several images",
        description=BATCH_DOC,
        openapi_extra={"requestBody": BATCH_BODY},
        response_model=BatchOut,
        responses=ERRORS,
    )
    async def detect_batch(request: Request, options: RunOptions = Depends(run_options)) -> dict:
        uploads = await read_uploads(request, config)
        images, failed = [], {}
        for i, (data, name) in enumerate(uploads):
            try:
                images.append((await run_in_threadpool(decode_image, data, name, config.max_pixels), name))
            except DataError as exc:  # this file only: the others still run
                images.append((None, name))
                failed[i] = ImageResult(name, 0, 0, error=str(exc))
        done = await results(submit(images, options))
        return {"results": [(r if r is not None else failed[i]).to_dict() for i, r in enumerate(done)]}

    app.add_middleware(Guards, hosts=config.hosts(), body_timeout_s=config.body_timeout_s)
    return app


def app_from_env() -> FastAPIOffline:
    """The app of one ``fer serve --workers N`` worker: settings from the environment the CLI set."""
    config = ServeConfig.from_json(os.environ[CONFIG_ENV])
    return create_app(load_pipeline(config), config)


def load_pipeline(config: ServeConfig):
    """The pipeline ``config`` names (weights, device, detector options)."""
    from ferkit.pipeline import Pipeline

    return Pipeline.from_config(config.pipeline())
