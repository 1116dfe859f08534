"""Image reading for every stage: one error type, naming the file, for anything unreadable."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ferkit.errors import ConfigError, DataError, ImageTooLargeError

COLORS = ("bgr", "rgb")  # channel orders of arrays ferkit reads
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
# image formats met in photo folders that ferkit does not decode: reported when a folder holds them
UNREAD_IMAGE_SUFFIXES = (
    ".gif", ".heic", ".heif", ".avif", ".jxl", ".jp2", ".j2k", ".svg", ".ico", ".psd",
    ".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2",
)  # fmt: skip


# the one decoder policy of every entry point (files, folders, uploads): these formats, told by content
DECODED_FORMATS = ("JPEG", "MPO", "PNG", "BMP", "WEBP", "TIFF")


def _decoded_format(im: Image.Image, name: str | Path) -> Image.Image:
    """``im`` if its format (by content, not by name) is one ferkit decodes, else a DataError saying so."""
    if im.format not in DECODED_FORMATS:
        readable = ", ".join(s.lstrip(".") for s in IMAGE_SUFFIXES if s not in (".jpeg", ".tiff"))
        raise DataError(f"{name}: {im.format} images are not read (ferkit reads {readable}): convert it")
    return im


def _unreadable(path: str | Path, exc: BaseException, max_pixels: int) -> DataError:
    """One DataError, naming the file, for whatever went wrong while opening or decoding it (an image past
    PIL's own bomb guard is named against ``max_pixels``, the limit its caller set)."""
    if isinstance(exc, FileNotFoundError):
        return DataError(f"{path}: file not found")
    if isinstance(exc, PermissionError):
        return DataError(f"{path}: permission denied")
    if isinstance(exc, Image.DecompressionBombError):
        return ImageTooLargeError(
            f"{path}: image too large (over the limit of {max_pixels / 1e6:.0f} MP); downscale it first"
        )
    if isinstance(exc, (UnidentifiedImageError, ImportError)):
        # ultralytics patches Image.open to fetch a HEIF plugin on unknown files; without it: ImportError
        return DataError(f"{path}: not an image (unrecognised format)")
    return DataError(f"{path}: corrupt or truncated image ({exc})")


_DECODE_ERRORS = (OSError, SyntaxError, ValueError, ImportError, Image.DecompressionBombError)


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def walk_files(
    folder: Path, recursive: bool, onerror: Callable[[OSError], None] | None = None
) -> Iterator[tuple[Path, list[str], list[Path]]]:
    """(folder, its visible subfolder names, its visible files) for ``folder`` and, with ``recursive``, every
    subfolder below it, in sorted order; hidden files (a leading dot) are left out. The one walk that input
    folders and video folders share."""
    for dirpath, dirnames, filenames in os.walk(folder, onerror=onerror):
        dirnames.sort()
        visible = [d for d in dirnames if not d.startswith(".")]
        yield Path(dirpath), visible, [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
        if not recursive:
            return


def is_pattern(raw: str) -> bool:
    """Whether the input ``raw`` is a glob: it holds one of ``*?[`` and names no existing path."""
    return any(c in raw for c in "*?[") and not Path(raw).expanduser().exists()


def unread_format(path: Path) -> str | None:
    """Why a file named as an image is not read (a format ferkit does not decode), or None."""
    suffix = path.suffix.lower()
    if suffix not in UNREAD_IMAGE_SUFFIXES:
        return None
    readable = ", ".join(s.lstrip(".") for s in IMAGE_SUFFIXES if s not in (".jpeg", ".tiff"))
    return f"{suffix.lstrip('.').upper()} images are not read (ferkit reads {readable}): convert it first"


def image_size(path: str | Path, oriented: bool = False) -> tuple[int, int]:
    """(width, height) of an image file after fully decoding it, so truncated files are caught.

    ``oriented``: the size as displayed, after the EXIF orientation (what :func:`read_image`, OpenCV and
    ultralytics see), rather than the stored size.
    """
    try:
        with Image.open(path) as im:
            im.load()
            return _displayed_size(im) if oriented else im.size
    except _DECODE_ERRORS as exc:
        raise _unreadable(path, exc, MAX_PIXELS) from None


def read_gray(path: str | Path, size: int | None = None, interpolation: str = "area") -> np.ndarray:
    """Read an image file as a uint8 grayscale array, optionally resized to ``size`` x ``size`` exactly as
    inference resizes crops (:func:`ferkit.imaging.crop.resize_square`)."""
    from ferkit.imaging.crop import resize_square

    try:
        with Image.open(path) as im:
            gray = np.asarray(im.convert("L"), dtype=np.uint8)
    except _DECODE_ERRORS as exc:
        raise _unreadable(path, exc, MAX_PIXELS) from None
    return gray if size is None else resize_square(gray, size, interpolation)


MAX_PIXELS = 120_000_000  # larger images are refused with a clear error instead of exhausting memory


def to_uint8(array: np.ndarray) -> np.ndarray:
    """The one dtype normalisation of every image array ferkit is handed: uint8 as is; uint16 scaled by
    1/257; bool to 0/255; floats read as [0, 1] when their maximum is <= 1, else as 0..255; other
    integers clipped to 0..255. Shape is checked (HxW or HxWx1/3/4), not changed; a dtype that holds no
    pixel values (object, strings, complex) and a float array with NaN or infinities are a DataError."""
    a = np.asarray(array)
    if a.ndim not in (2, 3) or a.size == 0 or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise DataError(f"not an image array: shape {a.shape} (expected HxW, HxWx1, HxWx3 or HxWx4)")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_) or np.iscomplexobj(a):
        raise DataError(f"not an image array: dtype {a.dtype} (expected uint8, uint16, bool or float)")
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        raise DataError(
            f"not an image array: {int((~np.isfinite(a)).sum())} pixel value(s) are NaN or infinite"
        )
    if a.dtype == np.uint16:
        a = (a / 257.0).round().astype(np.uint8)
    elif a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        scale = 255.0 if a.max() <= 1.0 else 1.0
        a = np.clip(a * scale, 0, 255).round().astype(np.uint8)
    elif a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    return a


def to_gray8(array: np.ndarray, color: str = "bgr") -> np.ndarray:
    """Any image array as 2-D uint8 gray (dtype handled by :func:`to_uint8`; alpha composited over white)."""
    import cv2

    a = to_uint8(array)
    if a.ndim == 2:
        return a
    if a.shape[2] == 1:
        return np.ascontiguousarray(a[:, :, 0])
    return cv2.cvtColor(to_bgr8(a, color), cv2.COLOR_BGR2GRAY)


def to_bgr8(array: np.ndarray, color: str = "bgr") -> np.ndarray:
    """Any image array (gray, 1/3/4 channels, uint8/uint16/float) as contiguous 3-channel BGR uint8.

    ``color`` says how a 3/4-channel array is ordered: 'bgr' (OpenCV) or 'rgb' (PIL, matplotlib).
    """
    if color not in COLORS:
        raise DataError(f"color must be 'bgr' or 'rgb', got {color!r}")
    a = to_uint8(array)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0  # composite over white
        a = (a[:, :, :3].astype(np.float32) * alpha + 255.0 * (1 - alpha)).round().astype(np.uint8)
    if color == "rgb":
        a = a[:, :, ::-1]
    return np.ascontiguousarray(a)


def read_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file as BGR uint8 (H, W, 3): EXIF orientation applied; gray, palette, RGBA, CMYK and
    16-bit images converted. Anything unreadable is a DataError naming the file and the reason."""
    path = Path(path)
    try:
        if path.is_dir():
            raise DataError(f"{path}: is a folder, not an image")
        if path.stat().st_size == 0:
            raise DataError(f"{path}: empty file (0 bytes)")
        with Image.open(path) as im:
            return _to_bgr(_decoded_format(im, path), path, max_pixels)
    except _DECODE_ERRORS as exc:
        raise _unreadable(path, exc, max_pixels) from None


def read_image_reduced(
    path: str | Path, min_side: int, max_pixels: int = MAX_PIXELS
) -> tuple[np.ndarray, tuple[int, int]]:
    """:func:`read_image`, but a JPEG whose long side is at least twice ``min_side`` is decoded at 1/2, 1/4
    or 1/8 scale (by the JPEG decoder itself, much faster than decoding it whole), keeping the long side at
    least ``min_side``. Returns the array and the full (width, height) as displayed, to map boxes back."""
    path = Path(path)
    try:
        if path.is_dir() or path.stat().st_size == 0:
            return read_image(path, max_pixels), (0, 0)  # read_image names the problem
        with Image.open(path) as im:
            w, h = im.size
            full = _displayed_size(im)
            if im.format == "JPEG" and max(w, h) >= 2 * min_side and w * h <= max_pixels:
                k = min_side / max(w, h)
                im.draft("RGB", (math.ceil(w * k), math.ceil(h * k)))
            return _to_bgr(_decoded_format(im, path), path, max_pixels), full
    except _DECODE_ERRORS as exc:
        raise _unreadable(path, exc, max_pixels) from None


def decode_image(data: bytes, name: str = "upload", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """:func:`read_image` for the bytes of an image file (an upload); errors name it ``name``. The pixel
    count is checked from the header, before any pixel is decoded."""
    if not data:
        raise DataError(f"{name}: empty file (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as im:
            return _to_bgr(_decoded_format(im, name), name, max_pixels)
    except _DECODE_ERRORS as exc:
        raise _unreadable(name, exc, max_pixels) from None


def _displayed_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) after the EXIF orientation: orientations 5-8 turn the image by 90 degrees."""
    w, h = im.size
    return (h, w) if im.getexif().get(0x0112, 1) in (5, 6, 7, 8) else (w, h)


def check_color(color: str) -> str:
    """``color`` if it names a channel order ferkit reads ('bgr' or 'rgb'), else a ConfigError."""
    if color not in COLORS:
        raise ConfigError(f"color must be 'bgr' or 'rgb', got {color!r}")
    return color


def in_memory_to_bgr(image, color: str = "bgr", name: str = "the image") -> np.ndarray:
    """An in-memory image as BGR uint8: a numpy array in ``color`` order, or a ``PIL.Image`` (whose own
    mode says its channels; ``color`` does not apply). Anything else is a DataError naming it."""
    if type(image).__module__.startswith("PIL."):
        return _to_bgr(image, name, MAX_PIXELS)
    if not isinstance(image, np.ndarray):
        raise DataError(f"{name} is a {type(image).__name__}: give a file path, a numpy array or a PIL image")
    return to_bgr8(image, color)


def _to_bgr(im: Image.Image, name: str | Path, max_pixels: int) -> np.ndarray:
    w, h = im.size
    if w * h > max_pixels:
        raise ImageTooLargeError(
            f"{name}: image too large ({w}x{h} = {w * h / 1e6:.0f} MP, limit "
            f"{max_pixels / 1e6:.0f} MP); downscale it first"
        )
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im)
        a = a.astype(np.float64) / (65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0)
        return to_bgr8(a.astype(np.float32).clip(0, 1), "rgb")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        return to_bgr8(np.asarray(im.convert("RGBA")), "rgb")
    return to_bgr8(np.asarray(im.convert("RGB")), "rgb")
