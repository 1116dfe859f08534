"""An IoU face tracker with constant-velocity prediction, and per-track emotion smoothing.

Each frame's faces are matched to the live tracks by the Hungarian assignment on IoU between the faces and
each track's predicted box (its last box moved by its last velocity). A matched face continues its track;
an unmatched face starts a new one; a track unseen for more than ``max_lost`` processed frames ends.
Emotion probabilities are smoothed per track by an exponential moving average.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ferkit.boxes import iou_matrix
from ferkit.types import Face
from ferkit.video.assignment import linear_assignment


@dataclass
class _Track:
    track_id: int
    box: np.ndarray  # x1, y1, x2, y2 where last seen
    velocity: np.ndarray  # per processed frame
    probs: np.ndarray  # smoothed emotion probabilities
    lost: int = 0

    def predicted(self) -> np.ndarray:
        return self.box + self.velocity * (self.lost + 1)


class IouTracker:
    """Gives each face a ``track_id`` stable across frames and smooths its ``emotion_probs``."""

    def __init__(
        self, class_names: tuple[str, ...], iou_min: float = 0.3, max_lost: int = 10, smooth: float = 0.6
    ):
        self.class_names, self.iou_min, self.max_lost, self.smooth = class_names, iou_min, max_lost, smooth
        self._tracks: list[_Track] = []
        self._next_id = 1

    def update(self, faces: list[Face]) -> list[Face]:
        """The faces of the next processed frame, each with its ``track_id`` (and smoothed probabilities)."""
        boxes = np.array(
            [[f.box_xyxy.x1, f.box_xyxy.y1, f.box_xyxy.x2, f.box_xyxy.y2] for f in faces]
        ).reshape(-1, 4)
        probs = np.array([[f.emotion_probs[c] for c in self.class_names] for f in faces]).reshape(
            -1, len(self.class_names)
        )
        matched: dict[int, _Track] = {}
        if self._tracks and faces:
            iou = iou_matrix(np.stack([t.predicted() for t in self._tracks]), boxes)
            rows, cols = linear_assignment(-iou)
            matched = {
                c: self._tracks[r] for r, c in zip(rows, cols, strict=True) if iou[r, c] >= self.iou_min
            }
        out = []
        for j, face in enumerate(faces):
            track = matched.get(j)
            if track is None:
                track = _Track(self._next_id, boxes[j], np.zeros(4), probs[j])
                self._next_id += 1
                self._tracks.append(track)
            else:
                track.velocity = (boxes[j] - track.box) / (track.lost + 1)
                track.box, track.lost = boxes[j], 0
                track.probs = self.smooth * track.probs + (1.0 - self.smooth) * probs[j]
            smoothed = {c: float(p) for c, p in zip(self.class_names, track.probs, strict=True)}
            emotion = self.class_names[int(np.argmax(track.probs))]
            out.append(replace(face, emotion=emotion, emotion_probs=smoothed, track_id=track.track_id))
        current = {f.track_id for f in out}
        for t in self._tracks:
            if t.track_id not in current:
                t.lost += 1
        self._tracks = [t for t in self._tracks if t.lost <= self.max_lost]
        return out
