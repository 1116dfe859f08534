"""Training augmentation of grayscale face crops (albumentations)."""

from __future__ import annotations

import os

# albumentations asks PyPI for a newer version when imported; ferkit never touches the network
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A


def train_transform(size: int, strength: float = 1.0) -> A.Compose:
    """Random crop/scale, horizontal flip, small rotation/shift, brightness/contrast, random erasing.

    ``strength`` scales the geometric and photometric ranges (0 disables augmentation).
    """
    if strength <= 0:
        return A.Compose([])
    s = strength
    return A.Compose(
        [
            A.RandomResizedCrop(size=(size, size), scale=(1 - 0.2 * s, 1.0), ratio=(0.9, 1.1), p=1.0),
            A.HorizontalFlip(p=0.5),
            A.Affine(
                rotate=(-12 * s, 12 * s),
                translate_percent=(-0.06 * s, 0.06 * s),
                border_mode=1,  # replicate edges: no black corners the model could learn from
                p=0.7,
            ),
            A.RandomBrightnessContrast(brightness_limit=0.25 * s, contrast_limit=0.25 * s, p=0.6),
            # mild extra blur: small faces upscaled from photos are softer than the training crops
            A.GaussianBlur(blur_limit=0, sigma_limit=(0.2, 0.03 * size), p=0.2 * min(s, 1.0)),
            A.Erasing(scale=(0.02, 0.2), p=0.4 * min(s, 1.0)),
        ]
    )
