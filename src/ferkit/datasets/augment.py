"""Training augmentation of grayscale face crops (albumentations), shaped like the crops ferkit's detector
cuts out of real photos: a box that is a little off in scale and position, small or soft faces upscaled,
JPEG artefacts, uneven lighting and tilted heads."""

from __future__ import annotations

import cv2

from ferkit.offline import import_albumentations

# albumentations asks PyPI for a newer version when imported; ferkit never touches the network
A = import_albumentations()


def train_transform(size: int, strength: float = 1.0) -> A.Compose:
    """Augmentation of (size, size) uint8 gray crops; ``strength`` scales every range (0 turns it off).

    - box jitter: zoom in or out by up to ~15 % (replicated borders) and shift by up to 8 % of the side;
    - tilt: rotation within +-15 degrees; mirror;
    - small faces: down-scaling to 25-90 % and back up, then JPEG re-compression at quality 30-95;
    - lighting: brightness, contrast and gamma; occasional blur and occlusion (random erasing).
    """
    if strength <= 0:
        return A.Compose([])
    s = strength
    return A.Compose(
        [
            A.Affine(
                scale=(1 - 0.12 * s, 1 + 0.18 * s),
                translate_percent=(-0.08 * s, 0.08 * s),
                rotate=(-15 * s, 15 * s),
                border_mode=cv2.BORDER_REPLICATE,  # no black corners the model could learn from
                p=0.85,
            ),
            A.HorizontalFlip(p=0.5),
            A.Downscale(
                scale_range=(max(0.25, 1 - 0.75 * s), 0.9),
                interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR},
                p=0.25 * min(s, 1.0),
            ),
            A.ImageCompression(quality_range=(max(5, int(95 - 65 * s)), 95), p=0.3 * min(s, 1.0)),
            A.RandomBrightnessContrast(brightness_limit=0.25 * s, contrast_limit=0.3 * s, p=0.6),
            A.RandomGamma(gamma_limit=(100 - 30 * s, 100 + 40 * s), p=0.3),
            A.GaussianBlur(blur_limit=0, sigma_limit=(0.2, 0.02 * size), p=0.1 * min(s, 1.0)),
            A.Erasing(scale=(0.02, 0.15), p=0.3 * min(s, 1.0)),
        ]
    )
