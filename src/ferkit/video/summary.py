"""Per-track summaries of a video run: when each face was seen, its dominant emotion and the time share of
each emotion; as rows (CSV, table) and as a plot of each track's emotions over time."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from ferkit.types import Face, FrameResult

TRACK_FIELDS = ("track_id", "first_s", "last_s", "frames_seen", "dominant_emotion")


@dataclass(frozen=True)
class TrackSummary:
    """One tracked face: ``emotion_share`` is the share of its readable frames on which each emotion was
    the (smoothed) prediction; ``dominant_emotion`` the one with the largest share (None, and no shares, for
    a track whose faces were all too small to read)."""

    track_id: int
    first_s: float
    last_s: float
    frames_seen: int
    dominant_emotion: str | None
    emotion_share: dict[str, float] = field(hash=False)

    def to_dict(self) -> dict:
        return {
            "track_id": self.track_id,
            "first_s": round(self.first_s, 3),
            "last_s": round(self.last_s, 3),
            "frames_seen": self.frames_seen,
            "dominant_emotion": self.dominant_emotion,
            "emotion_share": {k: round(v, 4) for k, v in self.emotion_share.items()},
        }


class TrackLog:
    """Collects, frame by frame, what is needed for the summaries and the plot (small: no images)."""

    def __init__(self, class_names: Sequence[str]):
        self.class_names = list(class_names)
        self.times: dict[int, list[float]] = {}
        self.probs: dict[int, list[list[float]]] = {}  # of the frames where the face was readable
        self.read_times: dict[int, list[float]] = {}
        self.span: tuple[float, float] | None = None  # first and last processed frame, faces or not

    def add(self, frame: FrameResult) -> None:
        t = frame.timestamp_s
        self.span = (t, t) if self.span is None else (min(self.span[0], t), max(self.span[1], t))
        for f in frame.faces:
            if f.track_id is not None:
                self.add_before(f.track_id, [(t, f)])

    def add_before(self, track_id: int, faces: Sequence[tuple[float, Face]]) -> None:
        """Faces of a track at their times (a track's faces from before it was confirmed are logged so, ahead
        of its later frames)."""
        for t, f in faces:
            self.times.setdefault(track_id, []).append(t)
            self.probs.setdefault(track_id, [])
            if f.emotion is not None:
                self.read_times.setdefault(track_id, []).append(t)
                self.probs[track_id].append([f.emotion_probs[c] for c in self.class_names])

    def summaries(self) -> list[TrackSummary]:
        out = []
        for tid in sorted(self.times):
            p = np.asarray(self.probs[tid]).reshape(-1, len(self.class_names))
            share, dominant = {}, None
            if len(p):
                counts = np.bincount(p.argmax(axis=1), minlength=len(self.class_names))
                share = {c: float(n) / len(p) for c, n in zip(self.class_names, counts, strict=True)}
                dominant = self.class_names[int(counts.argmax())]
            ts = self.times[tid]
            out.append(TrackSummary(tid, ts[0], ts[-1], len(ts), dominant, share))
        return out


def write_tracks_csv(path: Path, tracks: Sequence[TrackSummary], class_names: Sequence[str]) -> None:
    """``tracks.csv``: one row per track, then a ``share_<emotion>`` column per class."""
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        print_tracks_csv(fh, tracks, class_names)
    tmp.replace(path)


def print_tracks_csv(
    stream: TextIO,
    tracks: Sequence[TrackSummary],
    class_names: Sequence[str],
    source: str | None = None,
    header: bool = True,
) -> None:
    """The rows of ``tracks.csv`` (with ``header``) to a text stream; with ``source``, a first ``source``
    column (several videos in one table)."""
    w = csv.writer(stream, lineterminator="\n")
    first = ["source"] if source is not None else []
    if header:
        w.writerow([*first, *TRACK_FIELDS, *(f"share_{c}" for c in class_names)])
    for t in tracks:
        d = t.to_dict()
        row = [*(d[k] for k in TRACK_FIELDS), *(d["emotion_share"].get(c, "") for c in class_names)]
        row = ["" if v is None else v for v in row]
        w.writerow([source, *row] if source is not None else row)


def format_tracks(source: str, tracks: Sequence[TrackSummary], frames: int, top: int = 3) -> str:
    """The printed table: a row per track with its time span, frames seen, dominant emotion and top shares."""
    n = len(tracks)
    lines = [f"{source}: {frames} frame(s) processed, {n} track{'s' if n != 1 else ''}"]
    if n:
        head = (
            f"{'track_id':>8}  {'first_s':>8}  {'last_s':>8}  {'frames_seen':>11}  {'dominant_emotion':<16}"
        )
        lines.append(f"  {head}  shares")
        for t in tracks:
            best = sorted(t.emotion_share.items(), key=lambda kv: -kv[1])[:top]
            shares = ", ".join(f"{k} {v:.2f}" for k, v in best if v > 0)
            span = f"{t.first_s:>8.2f}  {t.last_s:>8.2f}"
            row = f"{t.track_id:>8}  {span}  {t.frames_seen:>11}  {t.dominant_emotion or '-':<16}"
            lines.append(f"  {row}  {shares}")
    return "\n".join(lines)


def track_plot_plan(log: TrackLog, max_tracks: int) -> tuple[list[int], str, tuple[float, float] | None]:
    """What ``tracks.png`` shows: the longest ``max_tracks`` tracks (in track order), a title that says when
    some are left out (on a second line, clear of the legend), and the time axis: the whole processed clip,
    not just the plotted tracks."""
    longest = sorted(log.times, key=lambda t: (-len(log.times[t]), t))[:max_tracks]
    title = "emotion probabilities per tracked face"
    if len(log.times) > len(longest):
        title += f"\nthe {len(longest)} longest of {len(log.times)} tracks (all are in tracks.csv)"
    return sorted(longest), title, log.span


def plot_tracks(
    path: Path, log: TrackLog, colours: Sequence[tuple[int, int, int]], max_tracks: int = 12
) -> None:
    """``tracks.png``: for the longest tracks, each emotion's (smoothed) probability over time, stacked."""
    from ferkit.plots import _plt

    plt = _plt()
    ids, title, span = track_plot_plan(log, max_tracks)
    rows = max(1, len(ids))
    fig, axes = plt.subplots(rows, 1, figsize=(10, 1.8 * rows + 0.8), squeeze=False, sharex=True)
    rgb = [tuple(c / 255 for c in reversed(col)) for col in colours]
    for ax, tid in zip(axes[:, 0], ids, strict=False):
        p = np.asarray(log.probs[tid]).reshape(-1, len(log.class_names)).T
        if p.shape[1]:
            ax.stackplot(log.read_times[tid], p, labels=log.class_names, colors=rgb, alpha=0.9)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"track {tid}")
        ax.grid(alpha=0.3)
    if not ids:
        axes[0, 0].text(
            0.5, 0.5, "no faces tracked", ha="center", va="center", transform=axes[0, 0].transAxes
        )
    else:
        axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    if span is not None and span[1] > span[0]:
        axes[-1, 0].set_xlim(*span)
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".part.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
