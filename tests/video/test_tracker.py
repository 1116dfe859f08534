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


def small(x: float) -> Face:
    return Face.unread(Box(x, 0, x + 40, 40), 0.9, "small")


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        # a face seen once (a detector blip) never gets an id; the steady one is confirmed on its 3rd frame
        ([[face(0), face(300)], [face(0)], [face(0)], [face(0)]], [[None, None], [None], [1], [1]]),
        # ids are numbered in order of confirmation, with no gaps left by tentative tracks
        ([[face(300)], [face(0)], [face(0)], [face(0)], [face(200)]], [[None], [None], [None], [1], [None]]),
    ],
)
def test_tracks_are_reported_once_confirmed(frames, expected):
    assert ids(IouTracker(CLASSES, confirm=3), frames) == expected


def test_confirmation_hands_back_the_earlier_faces():
    tr = IouTracker(CLASSES, confirm=3)
    for t in (0.0, 0.1, 0.2):
        tr.update([face(0)], t)
    [(track_id, before)] = tr.take_confirmed()
    assert track_id == 1 and [t for t, _ in before] == [0.0, 0.1]
    assert all(f.track_id == 1 for _, f in before) and tr.take_confirmed() == []


def test_reset_ends_every_track():
    tr = IouTracker(CLASSES)
    assert ids(tr, [[face(0)], [face(0)]]) == [[1], [1]]
    tr.reset()
    assert ids(tr, [[face(0)]]) == [[2]]


def test_unreadable_faces_are_tracked_without_an_emotion():
    tr = IouTracker(CLASSES, smooth=0.5)
    tr.update([face(0, happy=1.0)])
    out = tr.update([small(0)])[0]
    assert out.track_id == 1 and out.emotion is None and out.emotion_probs == {}
    tr2 = IouTracker(CLASSES)
    assert [tr2.update([small(0)])[0].emotion for _ in range(3)] == [None] * 3


def test_a_small_face_between_sparse_samples_keeps_its_track():
    # a 20 px face moving 12 px a sample overlaps its last box by IoU 0.25 (< 0.3): matched by its centre
    frames = [[face(12 * i, w=20)] for i in range(4)]
    assert ids(IouTracker(CLASSES), frames) == [[1], [1], [1], [1]]
    # a face that jumps more than 3/4 of its size, or that is twice as big, starts a new track
    assert ids(IouTracker(CLASSES), [[face(0, w=20)], [face(16, w=20)]]) == [[1], [2]]
    assert ids(IouTracker(CLASSES), [[face(0, w=20)], [face(0, w=40)]]) == [[1], [2]]
