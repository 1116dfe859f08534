"""The official WIDER FACE val layout and protocol, on a tiny set whose AP is known by construction."""

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ferkit.cli import app
from ferkit.detector.evaluate import evaluate_detector
from ferkit.detector.wider_official import official_ap, voc_ap
from ferkit.errors import DataError
from ferkit.types import Box, Detection

# two photos: faces A and B on the first, C on the second (x, y, w, h)
GT = {"0--Parade/0_a": [(10, 10, 20, 20), (50, 50, 20, 20)], "1--Handshaking/1_b": [(20, 20, 30, 30)]}
SIZES = {"0--Parade/0_a": (100, 100), "1--Handshaking/1_b": (120, 100)}  # (w, h): tells the photos apart
# A, B and C found, and a false alarm on the second photo, scored above everything
FOUND = {
    "0--Parade/0_a": [((10, 10, 30, 30), 0.9), ((50, 50, 70, 70), 0.8)],
    "1--Handshaking/1_b": [((70, 70, 90, 90), 0.95), ((20, 20, 50, 50), 0.7)],
}
# faces kept per subset (1-based, as the kit lists them)
KEEP = {"easy": ([1, 2], []), "medium": ([1], []), "hard": ([1, 2], [1])}
# scores normalised to 1, .8, .4, 0 over the set. hard: the false alarm first (P 0), then A (P 1/2), B, C:
# precision 3/4 at full recall, the envelope 3/4 everywhere. easy: C is outside the subset (neither hit nor
# false alarm), the false alarm still counts: P 2/3 at full recall. medium: only A counts, after the false
# alarm: P 1/2.
EXPECTED = {"easy": 2 / 3, "medium": 1 / 2, "hard": 3 / 4}


class ByPhoto:
    """Stands in for the detector: each photo (told apart by its size) gets its boxes of FOUND."""

    def detect(self, images):
        by_size = {SIZES[k]: v for k, v in FOUND.items()}
        return [[Detection(Box(*b), s) for b, s in by_size[(im.shape[1], im.shape[0])]] for im in images]


def make_val(root, mats=True, text=True):
    for key, (w, h) in SIZES.items():
        path = root / "WIDER_val" / "images" / f"{key}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (w, h), (90, 90, 90)).save(path)
    if text:
        lines = []
        for key, faces in GT.items():
            lines += [f"{key}.jpg", str(len(faces))]
            lines += [f"{x} {y} {w} {h} 0 0 0 0 0 0" for x, y, w, h in faces]
        gt = root / "wider_face_split" / "wider_face_val_bbx_gt.txt"
        gt.parent.mkdir(parents=True)
        gt.write_text("\n".join(lines) + "\n")
    if mats:
        from scipy.io import savemat

        def cells(items):
            out = np.empty((len(items), 1), dtype=object)
            for i, item in enumerate(items):
                out[i, 0] = item
            return out

        keys = list(GT)
        kit = root / "eval_tools" / "ground_truth"
        kit.mkdir(parents=True)
        savemat(kit / "wider_face_val.mat", {
            "event_list": cells([k.split("/")[0] for k in keys]),
            "file_list": cells([cells([k.split("/")[1]]) for k in keys]),
            "face_bbx_list": cells([cells([np.array(GT[k], float)]) for k in keys]),
        })  # fmt: skip
        for level, kept in KEEP.items():
            lists = [cells([np.array(k, float).reshape(-1, 1)]) for k in kept]
            savemat(kit / f"wider_{level}_val.mat", {"gt_list": cells(lists)})
    return root


def test_the_protocol_gives_the_ap_known_by_construction():
    found = [(np.array([b for b, _ in v], float), np.array([s for _, s in v])) for v in FOUND.values()]
    gt = [np.array([(x, y, x + w, y + h) for x, y, w, h in faces], float) for faces in GT.values()]
    keep = {}
    for level, kept in KEEP.items():
        keep[level] = [np.isin(np.arange(1, len(g) + 1), k) for g, k in zip(gt, kept, strict=True)]
    assert official_ap(found, gt, keep) == pytest.approx(EXPECTED)
    # a second box on A is a false alarm, not a second hit
    found[0] = (np.r_[found[0][0], [[11, 11, 30, 30]]], np.r_[found[0][1], 0.85])
    assert official_ap(found, gt, {"easy": keep["easy"]})["easy"] < EXPECTED["easy"]


def test_voc_ap_is_the_area_under_the_precision_envelope():
    assert voc_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 0.6])) == pytest.approx(0.5 + 0.5 * 0.6)


def test_eval_detector_reads_the_official_layout_and_reports_easy_medium_hard(tmp_path):
    root = make_val(tmp_path / "val")
    report = evaluate_detector("stand-in", root, detector=ByPhoto(), min_size=0, progress=False)
    split = report.splits["wider_val"]
    assert (split.images, split.faces) == (2, 3)
    assert split.official_ap == pytest.approx(EXPECTED)
    assert "AP by the WIDER FACE evaluation kit's protocol (all sizes): easy 0.6667, medium 0.5000" in (
        report.table()
    )
    assert report.to_dict()["splits"]["wider_val"]["official_ap"]["hard"] == pytest.approx(0.75)


def test_with_the_text_ground_truth_alone_every_face_counts(tmp_path):
    root = make_val(tmp_path / "val", mats=False)
    report = evaluate_detector("stand-in", root, detector=ByPhoto(), min_size=0, progress=False)
    assert report.splits["wider_val"].official_ap == pytest.approx({"all": EXPECTED["hard"]})


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("no_gt", "no ground truth (neither wider_face_split/wider_face_val_bbx_gt.txt"),
        ("bad_list", "a WIDER FACE subset list names face 5 of an image with 2"),
        ("not_mat", "not the WIDER FACE evaluation .mat files"),
    ],
)
def test_a_val_folder_without_usable_ground_truth_is_one_error(tmp_path, damage, message):
    from scipy.io import savemat

    root = make_val(tmp_path / "val", mats=damage != "no_gt", text=damage != "no_gt")
    kit = root / "eval_tools" / "ground_truth"
    if damage == "no_gt":
        kit.mkdir(parents=True)
        (kit / "readme.txt").write_text("the lists were not downloaded")
    elif damage == "bad_list":
        lists = np.empty((2, 1), dtype=object)
        for i, k in enumerate(([5], [1])):
            inner = np.empty((1, 1), dtype=object)
            inner[0, 0] = np.array(k, float).reshape(-1, 1)
            lists[i, 0] = inner
        savemat(kit / "wider_easy_val.mat", {"gt_list": lists})
    else:
        (kit / "wider_hard_val.mat").write_bytes(b"MATLAB? no")
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        evaluate_detector("stand-in", root, detector=ByPhoto(), progress=False)
    r = CliRunner().invoke(app, ["eval-detector", "--data", str(root), "-q"])
    assert r.exit_code == 1 and message in r.stderr and r.stderr.count("error:") == 1
