"""Sharpness of face crops, and matching a sharper input to blurrier training data.

When the training images are blurrier than the images a model will see (for example a training split that
was blurred), the model only knows blurry faces. Blurring sharp inputs by the same amount before they reach
the model restores the match. ``fit_blur_sigma`` measures how much blur that is: the Gaussian sigma that
brings sharp reference images (val) to the training images' median sharpness.
"""

from __future__ import annotations

import cv2
import numpy as np

SIGMA_GRID = np.round(np.arange(0.25, 6.01, 0.25), 2)
MISMATCH_RATIO = 4.0  # train at least this much blurrier than val (Laplacian variance) counts as a mismatch


def laplacian_var(images: np.ndarray) -> np.ndarray:
    """Variance of the Laplacian of each (H, W) uint8 image: a standard focus/sharpness measure."""
    return np.array(
        [cv2.Laplacian(im.astype(np.float32), cv2.CV_32F).var() for im in images], dtype=np.float64
    )


def fit_blur_sigma(train: np.ndarray, reference: np.ndarray, max_images: int = 600) -> tuple[float, dict]:
    """The Gaussian sigma (pixels at the images' size) that makes ``reference`` as blurry as ``train``.

    Returns 0 when the training images are not markedly blurrier (no mismatch). The report gives the
    median sharpness of both sets and of the blurred reference.
    """
    rng = np.random.default_rng(0)
    tr = train[rng.permutation(len(train))[:max_images]]
    ref = reference[rng.permutation(len(reference))[:max_images]]
    t, r = float(np.median(laplacian_var(tr))), float(np.median(laplacian_var(ref)))
    report = {"train_sharpness": round(t, 2), "reference_sharpness": round(r, 2), "sigma": 0.0}
    if r <= MISMATCH_RATIO * t:
        return 0.0, report
    blurred = [
        float(np.median(laplacian_var(np.stack([cv2.GaussianBlur(x, (0, 0), s) for x in ref]))))
        for s in SIGMA_GRID
    ]
    i = int(np.argmin(np.abs(np.log(np.maximum(blurred, 1e-6)) - np.log(max(t, 1e-6)))))
    sigma = float(SIGMA_GRID[i])
    report.update(sigma=sigma, blurred_reference_sharpness=round(blurred[i], 2))
    return sigma, report


def match_blur(images: np.ndarray, sigma: float, skip_below: float) -> np.ndarray:
    """Blur each (H, W) uint8 image by ``sigma``, except images already blurrier than ``skip_below``
    (Laplacian variance): those already look like the training data."""
    if sigma <= 0 or len(images) == 0:
        return images
    sharp = laplacian_var(images) >= skip_below
    if not sharp.any():
        return images
    out = images.copy()
    for i in np.flatnonzero(sharp):
        out[i] = cv2.GaussianBlur(images[i], (0, 0), sigma)
    return out
