import pytest

from ferkit.types import Box, Face
from ferkit.video.tracker import IouTracker

CLASSES = ("happy", "sad")


def face(x: float, y: float = 0.0, happy: float = 0.8, w: float = 40.0) -> Face:
    probs = {"happy": happy, "sad": 1.0 - happy}
    return Face(Box(x, y, x + w, y + w), 0.9, max(probs, key=probs.get), probs)


def ids(tracker: IouTracker, frames: list[list[Face]]) -> list[list[int]]:
    return [[f.track_id for f in tracker.update(faces)] for faces in frames]


@pytest.mark.parametrize(
    ("frames", "expected", "max_lost"),
    [
        # two faces moving apart keep their ids, whatever order the detector lists them in
        ([[face(0), face(200)], [face(8), face(190)], [face(180), face(16)]], [[1, 2], [1, 2], [2, 1]], 10),
        # a fast mover (30 px a frame on a 40 px face, IoU < 0.3 without prediction) keeps its id
        ([[face(0)], [face(20)], [face(50)], [face(80)], [face(110)]], [[1], [1], [1], [1], [1]], 10),
        # a face missed for two frames comes back under its id (max_lost 2) ...
        ([[face(0)], [], [], [face(0)]], [[1], [], [], [1]], 2),
        # ... but not after more than max_lost frames
        ([[face(0)], [], [], [face(0)]], [[1], [], [], [2]], 1),
        # a new face far away gets a new id; ids are never reused
        ([[face(0)], [face(0), face(300)], [face(300)], [face(0)]], [[1], [1, 2], [2], [1]], 10),
    ],
)
def test_track_ids(frames, expected, max_lost):
    assert ids(IouTracker(CLASSES, max_lost=max_lost), frames) == expected


def test_smoothing_is_an_exponential_moving_average_per_track():
    tr = IouTracker(CLASSES, smooth=0.75)
    tr.update([face(0, happy=0.2)])
    out = tr.update([face(2, happy=1.0)])[0]
    assert out.emotion_probs["happy"] == pytest.approx(0.75 * 0.2 + 0.25 * 1.0)
    assert out.emotion == "sad"  # the smoothed argmax, although this frame alone says happy
    out = tr.update([face(4, happy=1.0)])[0]
    assert out.emotion_probs["happy"] == pytest.approx(0.75 * 0.4 + 0.25)


def test_smooth_zero_keeps_each_frame_probabilities():
    tr = IouTracker(CLASSES, smooth=0.0)
    tr.update([face(0, happy=0.2)])
    assert tr.update([face(2, happy=0.9)])[0].emotion_probs["happy"] == pytest.approx(0.9)
