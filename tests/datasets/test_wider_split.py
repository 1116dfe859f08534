import pytest
import yaml

from ferkit.datasets.wider import wider_to_yolo
from ferkit.datasets.wider_split import AUTO_EVENT_SHARE, WiderSplit, choose_val_events, event_of, is_val
from ferkit.datasets.yolo import read_split
from ferkit.errors import DataError
from tests.helpers import make_wider

EVENTS = ["0--Parade", "2--Demonstration", "13--Interview", "22--Picnic", "33--Running"]
PATHS = [f"{e}/{e}_{i}.jpg" for k, e in enumerate(EVENTS) for i in range(10 * (k + 1))]


def test_per_photo_split_is_deterministic_and_order_free():
    paths = [f"e/{i}.jpg" for i in range(2000)]
    val = [p for p in paths if is_val(p, 0.1)]
    assert 150 < len(val) < 250
    assert val == [p for p in reversed(paths) if is_val(p, 0.1)][::-1]


def test_event_of():
    assert event_of("13--Interview/13_Interview_1.jpg") == "13--Interview"
    assert event_of("loose.jpg") == ""


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("13", ("13--Interview",)),
        ("Picnic", ("22--Picnic",)),
        ("33--running, 0", ("0--Parade", "33--Running")),
        ("none", ()),
        ("", ()),
    ],
)
def test_events_by_name_number_or_words(spec, expected):
    assert choose_val_events(spec, PATHS) == expected


def test_auto_holds_whole_events_for_a_fifth_of_the_photos_whatever_the_order():
    chosen = choose_val_events("auto", PATHS)
    held = sum(event_of(p) in chosen for p in PATHS)
    assert 0 < len(chosen) < len(EVENTS)
    assert held >= AUTO_EVENT_SHARE * len(PATHS)
    assert choose_val_events("auto", list(reversed(PATHS))) == chosen


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Ballet", r"names 'Ballet', no event.*events: 0--Parade, 2--Demonstration, 13--Interview"),
        (",".join(EVENTS), "nothing would be left to train on"),
    ],
)
def test_bad_event_specs(spec, message):
    with pytest.raises(DataError, match=message):
        choose_val_events(spec, PATHS)


def test_split_rule_puts_held_out_events_first():
    rule = WiderSplit(val_fraction=0.999, val_events=("22--Picnic",))
    assert rule.of("22--Picnic/x.jpg") == "val_events"
    assert rule.of("0--Parade/x.jpg") == "val"
    assert WiderSplit(0.0, ()).of("0--Parade/x.jpg") == "train"
    with pytest.raises(DataError, match="val_fraction must be in"):
        WiderSplit(1.5)


def test_convert_holds_out_events(tmp_path):
    root = make_wider(tmp_path / "wider")
    report = wider_to_yolo(root, tmp_path / "yolo", val_fraction=0.0, val_events="Handshaking")
    assert report.val_events == ["1--Handshaking"]
    assert report.images == {"train": 2, "val": 0, "val_events": 1}
    assert report.faces["val_events"] == 1  # c's 80 px face
    cfg = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())
    assert cfg["val_events"] == "images/val_events"
    assert cfg["ferkit_split"] == {"val_fraction": 0.0, "val_events": ["1--Handshaking"]}
    assert [p.name for p in read_split(report.data_yaml, "val_events").images] == ["c.jpg"]


def test_convert_without_event_hold_out_writes_no_such_split(tmp_path):
    report = wider_to_yolo(make_wider(tmp_path / "wider"), tmp_path / "yolo", val_events="none")
    assert "val_events" not in yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())
    assert report.images["val_events"] == 0 and not (tmp_path / "yolo" / "images" / "val_events").exists()


def test_convert_rejects_unknown_event(tmp_path):
    with pytest.raises(DataError, match="names 'Ballet', no event"):
        wider_to_yolo(make_wider(tmp_path / "wider"), tmp_path / "yolo", val_events="Ballet")
