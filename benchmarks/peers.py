"""ferkit and its peers side by side: the ``fer`` package (Haar and MTCNN face finding) on the same inputs,
timed the same way, in one run.

fer needs TensorFlow, which ferkit does not depend on: it runs in its own virtual environment (``--venv``,
made on first use with ``pip install fer==25.10.3 tensorflow-cpu "setuptools<81"``) through
``benchmarks/peer_fer.py``.
Every input is made from ../shared/data:

- photos: WIDER FACE photos of the events the shipped detector never trained on, with their ground truth:
  photos/s, and precision / recall / F1 of the faces found (IoU 0.5; faces under 24 px and invalid ones
  ignored);
- portraits: the pasted-face portraits of ``benchmarks.portraits``: portraits/s, share with exactly one
  face found, and emotion accuracy end to end (no face found on the pasted one counts as wrong);
- faces: FER2013 val and ExpW val faces, each given whole as the face: emotion accuracy and macro F1.

Speed is the whole process on a folder minus the same command on one image of it (start-up and model
loading), decode included, for every tool; each the median of ``--repeats`` runs.

    python -m benchmarks.peers [--photos 200] [--portraits 300] [--faces 500]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import SHARED, environment, held_out_entries, write_result
from benchmarks.portraits import make_portraits
from ferkit.detector.metrics import TP, match_image
from ferkit.device import Device

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
PEER = Path(__file__).resolve().parent / "peer_fer.py"
TOOLS = ("ferkit", "fer (Haar)", "fer (MTCNN)")


def peer_venv(path: Path) -> Path:
    """The peers' Python, installing fer and TensorFlow into ``path`` on first use."""
    python = path / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q"]
        # fer imports pkg_resources, which setuptools 81 removed
        subprocess.run([*pip, "fer==25.10.3", "tensorflow-cpu", "setuptools<81"], check=True)
    return python


def command(tool: str, folder: Path, python: Path, whole: bool = False) -> list[str]:
    if tool == "ferkit":
        return [sys.executable, "-m", "ferkit", "detect", str(folder), "-f", "jsonl", "-q",
                *(["--no-detect"] if whole else [])]  # fmt: skip
    return [str(python), str(PEER), str(folder), "mtcnn" if "MTCNN" in tool else "haar",
            *(["--whole"] if whole else [])]  # fmt: skip


def run(cmd: list[str]) -> tuple[float, dict[str, list[dict]]]:
    """Seconds of the whole process and its faces per image name."""
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    seconds = time.perf_counter() - t0
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return seconds, {Path(r.get("path") or r["source"]).name: r["faces"] for r in records}


def timed(tool: str, folder: Path, python: Path, repeats: int) -> tuple[float, dict[str, list[dict]]]:
    """Images/s (whole process minus a one-image run, each the median of ``repeats`` runs) and the faces
    found per image."""
    names = sorted(p.name for p in folder.iterdir())
    one = folder.parent / f"{folder.name}_one"
    one.mkdir(exist_ok=True)
    (one / names[0]).write_bytes((folder / names[0]).read_bytes())
    totals, starts = [], []
    for _ in range(repeats):
        seconds, faces = run(command(tool, folder, python))
        totals.append(seconds)
        starts.append(run(command(tool, one, python))[0])
    return round((len(names) - 1) / max(float(np.median(totals) - np.median(starts)), 1e-9), 1), faces


def held_out_photos(out: Path, n: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``n`` photos of the shipped detector's held-out events, copied to ``out``: {name: (xyxy, invalid)}."""
    root = SHARED / "wider_face"
    held = held_out_entries()
    picked = [held[i] for i in sorted(np.random.default_rng(0).choice(len(held), min(n, len(held)), False))]
    out.mkdir(parents=True)
    truth = {}
    for e in picked:
        name = Path(e.path).name
        (out / name).write_bytes((root / "WIDER_train" / "images" / e.path).read_bytes())
        xywh = e.boxes.astype(np.float64)
        truth[name] = (np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], e.invalid)
    return truth


def val_faces(out: Path, n: int, dataset: str) -> dict[str, str]:
    """``n`` val faces of ``dataset`` (a seeded random sample) copied to ``out``: {name: true class}."""
    faces = sorted((SHARED / dataset / "val").rglob("*.jpg"))
    out.mkdir(parents=True)
    labels = {}
    for i in sorted(np.random.default_rng(1).choice(len(faces), min(n, len(faces)), False)):
        name = f"{dataset}_{i:05d}.jpg"
        (out / name).write_bytes(faces[i].read_bytes())
        labels[name] = faces[i].parent.name
    return labels


def detection_scores(found: dict[str, list[dict]], truth) -> dict[str, float]:
    tp = fp = n = 0
    for name, (gt, invalid) in truth.items():
        boxes = np.array([f["box_xyxy"] for f in found.get(name, [])], np.float64).reshape(-1, 4)
        status, faces = match_image(boxes, np.ones(len(boxes)), gt, invalid, 0.5, 24)
        tp, fp, n = tp + int((status == TP).sum()), fp + int((status == 0).sum()), n + faces
    p, r = tp / max(tp + fp, 1), tp / max(n, 1)
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / max(p + r, 1e-9), 4)}


def emotion_scores(found: dict[str, list[dict]], labels: dict[str, str]) -> dict[str, float]:
    """Accuracy and macro F1 of the largest face's emotion; an image without a face is a wrong answer."""
    truth, pred = [], []
    for name, label in labels.items():
        faces = found.get(name, [])
        best = max(faces, key=lambda f: f["box_xyxy"][2] - f["box_xyxy"][0], default=None)
        truth.append(CLASSES.index(label))
        pred.append(CLASSES.index(best["emotion"]) if best else -1)
    t, p = np.array(truth), np.array(pred)
    f1 = []
    for c in range(len(CLASSES)):
        tp, fp, fn = ((t == c) & (p == c)).sum(), ((t != c) & (p == c)).sum(), ((t == c) & (p != c)).sum()
        f1.append(2 * tp / max(2 * tp + fp + fn, 1))
    return {"accuracy": round(float((t == p).mean()), 4), "macro_f1": round(float(np.mean(f1)), 4),
            "no_face": int((p < 0).sum())}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--portraits", type=int, default=300)
    ap.add_argument("--faces", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3, help="Timed runs per tool and input (the median).")
    ap.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS, help="Which tools to run.")
    ap.add_argument("--venv", type=Path, default=Path.home() / ".cache" / "ferkit" / "peers-venv")
    args = ap.parse_args()
    python = peer_venv(args.venv)
    inputs = {k: getattr(args, k) for k in ("photos", "portraits", "faces", "repeats")}
    result = {"environment": environment(Device("cpu")), "fer": "25.10.3", "inputs": inputs}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        truth = held_out_photos(tmp / "photos", args.photos)
        portraits = make_portraits(tmp / "portraits", args.portraits, labels := [])
        portrait_labels = {p.name: lab for p, lab in zip(portraits, labels, strict=True)}
        faces = {d: val_faces(tmp / d, args.faces, d) for d in ("fer2013", "expw")}
        for tool in args.tools:
            row = {}
            speed, found = timed(tool, tmp / "photos", python, args.repeats)
            row["photos"] = {"photos_per_s": speed, **detection_scores(found, truth)}
            speed, found = timed(tool, tmp / "portraits", python, args.repeats)
            one = sum(len(found.get(n, [])) == 1 for n in portrait_labels) / len(portrait_labels)
            row["portraits"] = {"portraits_per_s": speed, "exactly_one_face": round(one, 4),
                                **emotion_scores(found, portrait_labels)}  # fmt: skip
            if "MTCNN" not in tool:  # the face is given: the face finder does not matter
                for d, labels_d in faces.items():
                    _, found = run(command(tool, tmp / d, python, whole=True))
                    row[f"{d}_val_faces"] = emotion_scores(found, labels_d)
            result[tool] = row
            print(tool, json.dumps(row))
    write_result("peers", result)


if __name__ == "__main__":
    main()
