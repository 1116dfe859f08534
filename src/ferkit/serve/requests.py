"""What a ``fer serve`` request sends (one image in three encodings, or a form of several), and the one
shape every error is answered in."""

from __future__ import annotations

import base64
import binascii
import json
import os

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from ferkit.serve.config import ServeConfig

IMAGE_TYPES = ("image/", "application/octet-stream")

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


def _declared(request: Request, config: ServeConfig) -> tuple[int, ApiError, str]:
    """(byte limit, the error for exceeding it, content type); a declared length over the limit is refused
    before any of the body is read."""
    limit = config.max_upload_bytes
    too_big = ApiError(
        413, "upload_too_large", f"the upload exceeds {config.max_upload_mb} MB", "max_upload_mb"
    )
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_big
    return limit, too_big, request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_upload(request: Request, config: ServeConfig) -> tuple[bytes, str]:
    """The image bytes and a name for them, from a multipart form, a raw image body or base64 JSON."""
    limit, too_big, ctype = _declared(request, config)
    if ctype == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=8)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "missing_file", "send the image in a form field named 'file'")
        data, name = await upload.read(limit + 1), upload.filename or "upload"
    elif ctype == "application/json":
        try:
            body = json.loads(await _body(request, limit, too_big))
            data = base64.b64decode(_base64_text(body["image_base64"]), validate=True)
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


def _base64_text(value) -> str:
    """The base64 of a JSON body, as MIME writes it too: line breaks and spaces are dropped first, and a
    ``data:image/...;base64,`` prefix is allowed."""
    if not isinstance(value, str):
        raise TypeError("image_base64 must be a string")
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    return "".join(value.split())


async def _body(request: Request, limit: int, too_big: ApiError) -> bytes:
    """The request body, read no further than ``limit`` bytes (chunked uploads have no length to check)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def read_uploads(request: Request, config: ServeConfig) -> list[tuple[bytes, str]]:
    """The files of a multipart form (fields named ``files``), in order; the whole body at most
    ``max_upload_mb``, at most ``queue_size`` files (more could never be queued at once)."""
    limit, too_big, ctype = _declared(request, config)
    if ctype != "multipart/form-data":
        message = "send the images as multipart/form-data, in fields named 'files'"
        raise ApiError(415, "unsupported_content_type", message)
    # more files than the queue holds, or a malformed form: a 400 naming it (the app's HTTPException handler)
    form = await request.form(max_files=config.queue_size, max_fields=8)
    uploads = [u for u in form.getlist("files") if isinstance(u, UploadFile)]
    if not uploads:
        raise ApiError(400, "missing_file", "send the images in form fields named 'files'")
    out, total = [], 0
    for upload in uploads:
        data = await upload.read(limit + 1)
        total += len(data)
        if total > limit:
            raise too_big
        out.append((data, os.path.basename(upload.filename or "upload")))
    return out
