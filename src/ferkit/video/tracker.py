"""An IoU face tracker with constant-velocity prediction, and per-track emotion smoothing.

Each frame's faces are matched to the live tracks by the Hungarian assignment on IoU between the faces and
each track's predicted box (its last box moved by its last velocity); faces and tracks left over are then
matched by centre distance (at most 3/4 of a face apart, similar sizes), which keeps small faces moving
between sparse samples (``--fps 5``) on their tracks. A matched face continues its track;
an unmatched face starts a new, tentative one; a track unseen for more than ``max_lost`` processed frames
ends. A track is confirmed, and gets its ``track_id`` (numbered 1, 2, ... in order of confirmation), once
it has been seen in ``confirm`` processed frames; until then its faces carry no ``track_id``, and a
tentative track that ends is never reported. :meth:`IouTracker.reset` ends every track (a scene cut).
Emotion probabilities are smoothed per track by an exponential moving average, over the faces big enough
to read (a face without an emotion keeps none).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ferkit.boxes import iou_matrix
from ferkit.types import Face
from ferkit.video.assignment import linear_assignment


@dataclass
class _Track:
    box: np.ndarray  # x1, y1, x2, y2 where last seen
    velocity: np.ndarray  # per processed frame
    probs: np.ndarray | None  # smoothed emotion probabilities (None: no readable face yet)
    lost: int = 0
    hits: int = 1  # processed frames it was seen in
    track_id: int | None = None  # given once confirmed
    pending: list[tuple[float, Face]] = field(default_factory=list)  # (time, face) while tentative

    def predicted(self) -> np.ndarray:
        return self.box + self.velocity * (self.lost + 1)


CENTRE_MAX = 0.75  # second-stage match: centres at most 3/4 of a face apart, sizes within a factor of 1.5


def centre_cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) centre distance over the mean box side; pairs whose sizes differ by more than a
    factor of 1.5 cost so much that they never match."""
    ca, cb = (a[:, :2] + a[:, 2:]) / 2, (b[:, :2] + b[:, 2:]) / 2
    sa = np.sqrt(np.prod(np.maximum(a[:, 2:] - a[:, :2], 1e-6), axis=1))
    sb = np.sqrt(np.prod(np.maximum(b[:, 2:] - b[:, :2], 1e-6), axis=1))
    dist = np.linalg.norm(ca[:, None] - cb[None], axis=2) / ((sa[:, None] + sb[None]) / 2)
    ratio = np.maximum(sa[:, None] / sb[None], sb[None] / sa[:, None])
    return np.where(ratio <= 1.5, dist, 1e6)  # never matched (the assignment needs finite costs)


class IouTracker:
    """Gives each face a ``track_id`` stable across frames and smooths its ``emotion_probs``."""

    def __init__(
        self,
        class_names: tuple[str, ...],
        iou_min: float = 0.3,
        max_lost: int = 10,
        smooth: float = 0.6,
        confirm: int = 1,
    ):
        self.class_names, self.iou_min, self.max_lost, self.smooth = class_names, iou_min, max_lost, smooth
        self.confirm = max(1, confirm)
        self._tracks: list[_Track] = []
        self._next_id = 1
        self.confirmed: list[tuple[int, list[tuple[float, Face]]]] = []  # see take_confirmed

    def take_confirmed(self) -> list[tuple[int, list[tuple[float, Face]]]]:
        """The tracks confirmed since the last call, each with its (time, face) before confirmation, so that
        a track's summary starts where the face was first seen."""
        out, self.confirmed = self.confirmed, []
        return out

    def reset(self) -> None:
        """End every track (the next faces start new ones): a scene cut."""
        self._tracks = []

    def _probs(self, face: Face) -> np.ndarray | None:
        if face.emotion is None:
            return None
        return np.array([face.emotion_probs[c] for c in self.class_names])

    def _continue(self, track: _Track, box: np.ndarray, probs: np.ndarray | None) -> None:
        track.velocity = (box - track.box) / (track.lost + 1)
        track.box, track.lost, track.hits = box, 0, track.hits + 1
        if probs is not None:
            old = track.probs
            track.probs = probs if old is None else self.smooth * old + (1.0 - self.smooth) * probs

    def _output(self, face: Face, track: _Track, t: float) -> Face:
        if track.track_id is None and track.hits >= self.confirm:
            track.track_id, self._next_id = self._next_id, self._next_id + 1
            before = [(ts, replace(f, track_id=track.track_id)) for ts, f in track.pending]
            self.confirmed.append((track.track_id, before))
            track.pending = []
        if face.emotion is None or track.probs is None:
            out = replace(face, track_id=track.track_id)
        else:
            smoothed = {c: float(p) for c, p in zip(self.class_names, track.probs, strict=True)}
            emotion = self.class_names[int(np.argmax(track.probs))]
            out = replace(face, emotion=emotion, emotion_probs=smoothed, track_id=track.track_id)
        if track.track_id is None:
            track.pending.append((t, out))
        return out

    def _match(self, boxes: np.ndarray) -> dict[int, _Track]:
        """Face index -> its track: by IoU with the predicted boxes first, then, for what is left, by
        centre distance (small faces moving between sparse samples overlap little)."""
        if not self._tracks or not len(boxes):
            return {}
        predicted = np.stack([t.predicted() for t in self._tracks])
        iou = iou_matrix(predicted, boxes)
        rows, cols = linear_assignment(-iou)
        pairs = {c: r for r, c in zip(rows, cols, strict=True) if iou[r, c] >= self.iou_min}
        left_t = [r for r in range(len(self._tracks)) if r not in pairs.values()]
        left_f = [c for c in range(len(boxes)) if c not in pairs]
        if left_t and left_f:
            cost = centre_cost(predicted[left_t], boxes[left_f])
            rows, cols = linear_assignment(cost)
            for r, c in zip(rows, cols, strict=True):
                if cost[r, c] <= CENTRE_MAX:
                    pairs[left_f[c]] = left_t[r]
        return {c: self._tracks[r] for c, r in pairs.items()}

    def update(self, faces: list[Face], t: float = 0.0) -> list[Face]:
        """The faces of the next processed frame (at ``t`` seconds), each with its ``track_id`` once its
        track is confirmed (and smoothed probabilities)."""
        boxes = np.array(
            [[f.box_xyxy.x1, f.box_xyxy.y1, f.box_xyxy.x2, f.box_xyxy.y2] for f in faces]
        ).reshape(-1, 4)
        matched = self._match(boxes)
        out, seen = [], set()
        for j, face in enumerate(faces):
            track = matched.get(j)
            if track is None:
                track = _Track(boxes[j], np.zeros(4), self._probs(face))
                self._tracks.append(track)
            else:
                self._continue(track, boxes[j], self._probs(face))
            seen.add(id(track))
            out.append(self._output(face, track, t))
        for t in self._tracks:
            if id(t) not in seen:
                t.lost += 1
        self._tracks = [t for t in self._tracks if t.lost <= self.max_lost]
        return out
