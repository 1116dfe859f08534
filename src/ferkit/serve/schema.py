"""The shapes ``fer serve`` answers in, declared for its OpenAPI docs and checked on the way out.

Field names are those of :meth:`ferkit.types.ImageResult.to_dict` (the CLI's JSON record), so a client
reads the same fields from the service, the JSONL files and the Python API.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class FaceOut(BaseModel):
    box_xyxy: list[float] = Field(description="x1, y1, x2, y2 in image pixels", min_length=4, max_length=4)
    det_score: float = Field(description="The detector's confidence")
    emotion: str | None = Field(description="The most probable class (null: the face is too small to read)")
    emotion_score: float | None = Field(description="Its probability (null without an emotion)")
    emotion_probs: dict[str, float] = Field(
        description="Every class's probability (empty without an emotion)"
    )
    unreadable: str | None = Field(
        None, description="Why the face has no emotion, e.g. small (absent: it has one)"
    )


class ImageResultOut(BaseModel):
    schema_version: int
    source: str = Field(description="The upload's file name ('upload' when it has none)")
    source_abs: str | None = Field(None, description="Always null here (no file on the server)")
    width: int
    height: int
    error: str | None = Field(None, description="Why this image gave no result (batch: one image failed)")
    faces: list[FaceOut]


class BatchOut(BaseModel):
    results: list[ImageResultOut] = Field(description="One record per uploaded file, in upload order")


class ErrorBody(BaseModel):
    code: str = Field(description="Stable, for programs: e.g. busy, upload_too_large, not_an_image")
    message: str = Field(description="For people")
    limit: str | None = Field(None, description="The configured limit that was exceeded, if any")


class ErrorOut(BaseModel):
    error: ErrorBody


class HealthOut(BaseModel):
    status: str
    version: str
    queued: int = Field(description="Images waiting for the model")


class ModelsOut(BaseModel):
    class_names: list[str]
    class_colours: dict[str, str] = Field(description="The colour of each class in drawings, #rrggbb")
    detector: dict = Field(description="Its weights (file name, format, SHA-256) and options")
    classifier: dict = Field(description="Its weights (name, format, SHA-256), options and readable_size")
    precision: str | None = Field(None, description="The precision the models run in (fp32 or bf16)")
    limits: dict


ERRORS = {
    status: {"model": ErrorOut, "description": text}
    for status, text in {
        400: "Not an image, an empty upload, a malformed form or JSON",
        408: "The body was not sent within body_timeout_s",
        413: "The upload or the image exceeds max_upload_mb, max_pixels or the file count",
        415: "A content type other than multipart/form-data, image/* or JSON",
        422: "An invalid query option",
        500: "The server failed on this request",
        503: "Busy: queue_size images already wait (retry after the Retry-After seconds)",
        504: "No result within timeout_s",
    }.items()
}
