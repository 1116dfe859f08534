"""Runs the ``fer`` package on a folder of images, in its own virtual environment (see benchmarks/peers.py).

Only the standard library, OpenCV and fer are imported: this file is run by the peers' Python, not ferkit's.
One JSON line per image on stdout: ``{"path": ..., "faces": [{"box_xyxy": [...], "emotion": ...}]}``.

    (the peers' venv)/bin/python peer_fer.py FOLDER {haar,mtcnn} [--whole]

``--whole``: each image is one face, to score the emotion model alone. fer pads every face box by its offsets
(10 px) before classifying, so the box given is the image less 10 px on each side: fer then classifies
exactly the whole image, as its model was trained on FER2013's 48x48 faces.
"""

import json
import sys
from pathlib import Path

import cv2

if "mtcnn" in sys.argv[2:3]:
    import facenet_pytorch  # noqa: F401  fer's MTCNN: loaded before TensorFlow, else triton's library crashes

from fer.fer import FER  # fer 25.10 no longer exports it from the package root

OFFSET = 10  # FER()'s default offsets


def main() -> None:
    folder, detector = Path(sys.argv[1]), sys.argv[2]
    whole = "--whole" in sys.argv[3:]
    model = FER(mtcnn=detector == "mtcnn")
    for path in sorted(folder.iterdir()):
        image = cv2.imread(str(path))
        h, w = image.shape[:2]
        box = [(OFFSET, OFFSET, w - 2 * OFFSET, h - 2 * OFFSET)] if whole else None
        found = model.detect_emotions(image, face_rectangles=box)
        faces = []
        for f in found:
            x, y, bw, bh = (float(v) for v in f["box"])
            emotions = f["emotions"]
            faces.append({"box_xyxy": [x, y, x + bw, y + bh], "emotion": max(emotions, key=emotions.get)})
        sys.stdout.write(json.dumps({"path": str(path), "faces": faces}) + "\n")


if __name__ == "__main__":
    main()
