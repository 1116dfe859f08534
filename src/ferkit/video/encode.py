"""Writing annotated.mp4: H.264 through PyAV (``pip install 'ferkit[video]'``), the codec browsers play;
without PyAV, OpenCV's MPEG-4 Part 2 (``mp4v``), which players such as VLC and ffmpeg read but browsers do
not. :attr:`FrameWriter.codec` says which was used, so the command can say so in one line.
"""

from __future__ import annotations

import importlib.util
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ferkit.errors import ConfigError

H264_OPTIONS = {"preset": "veryfast", "crf": "23"}  # fast enough to keep up with detection on a CPU


def pyav_installed() -> bool:
    return importlib.util.find_spec("av") is not None


class FrameWriter:
    """BGR frames of one size into an .mp4 at ``fps``; ``codec`` is ``"h264"`` or ``"mp4v"``."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], h264: bool | None = None):
        self.path, self.size = Path(path), size
        use_h264 = pyav_installed() if h264 is None else h264
        self.codec = "h264" if use_h264 else "mp4v"
        if use_h264:
            self._open_pyav(fps)
        else:
            self._cv = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
            if not self._cv.isOpened():
                raise ConfigError(f"cannot write {path}: OpenCV has no MPEG-4 encoder here")

    def _open_pyav(self, fps: float) -> None:
        import av

        self._container = av.open(str(self.path), "w")
        stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        w, h = self.size
        stream.width, stream.height = w + w % 2, h + h % 2  # 4:2:0 needs even sides: one grey edge if odd
        stream.pix_fmt = "yuv420p"
        stream.options = dict(H264_OPTIONS)
        self._stream = stream

    def write(self, image: np.ndarray) -> None:
        if self.codec == "mp4v":
            self._cv.write(image)
            return
        import av

        h, w = image.shape[:2]
        if (w % 2) or (h % 2):
            image = cv2.copyMakeBorder(image, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
            self._container.mux(packet)

    def close(self) -> None:
        if self.codec == "mp4v":
            self._cv.release()
            return
        for packet in self._stream.encode(None):  # flush the frames the encoder still holds
            self._container.mux(packet)
        self._container.close()
