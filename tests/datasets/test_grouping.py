import json

import pytest

from ferkit.datasets.grouping import LabelGrouping, get_grouping, load_mapping_file
from ferkit.errors import DataError


@pytest.mark.parametrize(
    ("name", "classes", "label", "expected"),
    [
        ("fer7", ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"), "disgust", "disgust"),
        ("fer6", ("angry", "fear", "happy", "sad", "surprise", "neutral"), "disgust", "angry"),
        ("valence3", ("positive", "negative", "neutral"), "surprise", "positive"),
        ("valence3", ("positive", "negative", "neutral"), "Fear", "negative"),
    ],
)
def test_builtin_groupings(name, classes, label, expected):
    g = get_grouping(name)
    assert g.classes == classes
    idx, keep = g.encode([label])
    assert keep.all() and g.classes[idx[0]] == expected


def test_unmapped_labels_are_named_unless_dropped():
    g = get_grouping("fer6")
    with pytest.raises(DataError, match="contempt"):
        g.encode(["happy", "contempt"])
    idx, keep = g.encode(["happy", "contempt"], drop_unmapped=True)
    assert keep.tolist() == [True, False] and g.classes[idx[0]] == "happy"


def test_identity_grouping_uses_sorted_labels():
    g = get_grouping("identity", labels=["b", "a", "b"])
    assert g.classes == ("a", "b")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_mapping_file(tmp_path, suffix):
    mapping = {"smile": ["happy", "grin"], "other": ["sad"]}
    path = tmp_path / f"m{suffix}"
    path.write_text(json.dumps(mapping))  # JSON is valid YAML too
    g = load_mapping_file(path)
    assert g.classes == ("smile", "other")
    assert g.encode(["grin", "sad"])[0].tolist() == [0, 1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [x]\nb: [x]\n", "'x' is mapped twice"),
        ("a: []\n", "one or more"),
        ("- x\n- y\n", "maps each coarse class"),
        ("a: [x\n", "cannot parse"),
    ],
)
def test_bad_mapping_files(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        load_mapping_file(path)


def test_unknown_grouping_name():
    with pytest.raises(DataError, match="unknown grouping 'fer9'"):
        get_grouping("fer9")


def test_round_trip_through_dict():
    g = get_grouping("valence3")
    assert LabelGrouping.from_dict(g.to_dict()) == g
