import cv2
import numpy as np
import pytest

from ferkit.imaging.sharpness import fit_blur_sigma, laplacian_var, match_blur


def textured(n: int, seed: int = 0) -> np.ndarray:
    """Sharp 48x48 images with structure at every scale."""
    rng = np.random.default_rng(seed)
    ims = []
    for _ in range(n):
        im = cv2.resize(
            rng.integers(0, 255, (12, 12)).astype(np.uint8), (48, 48), interpolation=cv2.INTER_CUBIC
        )
        ims.append(np.clip(im.astype(int) + rng.integers(-40, 40, (48, 48)), 0, 255).astype(np.uint8))
    return np.stack(ims)


@pytest.mark.parametrize("true_sigma", [1.5, 3.0])
def test_fit_recovers_the_blur_of_the_training_images(true_sigma):
    sharp = textured(120, seed=1)
    train = np.stack([cv2.GaussianBlur(x, (0, 0), true_sigma) for x in textured(120, seed=2)])
    sigma, report = fit_blur_sigma(train, sharp)
    assert sigma == pytest.approx(true_sigma, abs=0.5)
    assert report["train_sharpness"] < report["reference_sharpness"]


def test_no_mismatch_means_no_blur():
    sigma, report = fit_blur_sigma(textured(80, seed=1), textured(80, seed=2))
    assert sigma == 0.0 and report["sigma"] == 0.0


def test_match_blur_leaves_already_blurry_images_alone():
    sharp, soft = textured(2)
    soft = cv2.GaussianBlur(soft, (0, 0), 3)
    out = match_blur(np.stack([sharp, soft]), sigma=3.0, skip_below=4 * laplacian_var(soft[None])[0])
    assert laplacian_var(out[:1])[0] < 0.1 * laplacian_var(sharp[None])[0]
    np.testing.assert_array_equal(out[1], soft)
    np.testing.assert_array_equal(match_blur(np.stack([sharp]), 0.0, 0.0)[0], sharp)
