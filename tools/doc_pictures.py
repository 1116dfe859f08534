"""Pictures for the docs, made from public-domain portraits only (``docs/example.jpg``, matplotlib's Grace
Hopper): a crowd of faces from 140 px down to 10 px, to show readable labels, the legend and faces too small
to read. Writes ``docs/crowd_annotated.jpg`` and ``docs/portrait_annotated.jpg``.

    python -m tools.doc_pictures
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from matplotlib import cbook

from ferkit import annotate
from ferkit.pipeline import Pipeline

DOCS = Path(__file__).resolve().parent.parent / "docs"


def portraits() -> list[np.ndarray]:
    example = cv2.imread(str(DOCS / "example.jpg"))
    hopper = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    left, right = example[:, :393], example[:, 393:]
    return [left, right, hopper]


def crowd() -> np.ndarray:
    """A grey-green canvas with rows of portraits, each row smaller than the last."""
    canvas = np.full((720, 1280, 3), (96, 110, 100), np.uint8)
    faces = portraits()
    y = 10
    for height in (260, 150, 90, 60, 40, 28):
        x = 10
        k = 0
        while x < 1280 - height:
            p = faces[k % len(faces)]
            w = round(p.shape[1] * height / p.shape[0])
            if x + w > 1280:
                break
            canvas[y : y + height, x : x + w] = cv2.resize(p, (w, height), interpolation=cv2.INTER_AREA)
            x += w + 8
            k += 1
        y += height + 8
        if y > 700:
            break
    return canvas


def main() -> None:
    pipe = Pipeline.from_pretrained(device="cpu", precision="fp32")
    image = crowd()
    result = pipe.run(image)
    cv2.imwrite(str(DOCS / "crowd_annotated.jpg"), annotate(image, result), [cv2.IMWRITE_JPEG_QUALITY, 85])
    hopper = portraits()[2]
    cv2.imwrite(
        str(DOCS / "portrait_annotated.jpg"),
        annotate(hopper, pipe.run(hopper)),
        [cv2.IMWRITE_JPEG_QUALITY, 85],
    )
    unread = sum(f.emotion is None for f in result.faces)
    print(f"crowd: {len(result.faces)} faces, {unread} too small to read")


if __name__ == "__main__":
    main()
