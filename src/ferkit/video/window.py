"""``--show``: the annotated frames of a video, camera or stream in a window, as they are processed.

Needs a display and an OpenCV built with a GUI (``opencv-python``; the light install's
``opencv-python-headless`` has none): both are checked before anything loads. ``q`` or Esc in the window,
or closing it, ends the run as Ctrl-C does, with every file complete.
"""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np

from ferkit.errors import ConfigError

WINDOW = "ferkit"
STOP_KEYS = (ord("q"), ord("Q"), 27)  # q, Esc


def opencv_gui() -> str:
    """The GUI OpenCV was built with (QT5, GTK3, WIN32UI...), or "NONE"."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip() or "NONE"
    return "NONE"


def check_display() -> None:
    """A ConfigError naming what is missing when no window can be shown here."""
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if sys.platform.startswith("linux") and not display:
        raise ConfigError(
            "--show needs a display, and none is set here (no DISPLAY): use --out DIR to keep the annotated "
            "video instead"
        )
    if opencv_gui() == "NONE":
        raise ConfigError(
            "--show needs OpenCV with a GUI, and this one has none (opencv-python-headless): "
            "pip install opencv-python, or use --out DIR to keep the annotated video"
        )


class LiveWindow:
    """One window; :meth:`show` returns False once the user asked to stop."""

    def __init__(self, title: str = WINDOW):
        self.title, self.shown = title, 0
        cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)

    def show(self, image: np.ndarray) -> bool:
        cv2.imshow(self.title, image)
        self.shown += 1
        key = cv2.waitKey(1) & 0xFF
        closed = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        return key not in STOP_KEYS and not closed

    def close(self) -> None:
        cv2.destroyWindow(self.title)
        cv2.waitKey(1)
