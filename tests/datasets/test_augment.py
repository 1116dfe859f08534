import math

import numpy as np
import pytest
import torch

from ferkit.datasets import augment
from ferkit.datasets.augment import AugmentRanges, BatchAugment, jpeg_table


def faces(n: int = 64, size: int = 48, seed: int = 0) -> torch.Tensor:
    """Smooth gray images with structure (a gradient and a blob), as uint8."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    base = 40 + 3 * xx + 1.5 * yy
    blob = 80 * torch.exp(-((xx - size * 0.3) ** 2 + (yy - size * 0.6) ** 2) / (size * 2))
    noise = torch.rand(n, size, size, generator=g) * 20
    return (base + blob + noise).clamp(0, 255).to(torch.uint8)


# family -> its switch in the parameters, and the value of every other switch (all off)
OFF = {"affine", "flip", "downscale", "jpeg", "light", "gamma_on", "blur", "erase"}


def only(params: dict[str, torch.Tensor], family: str) -> dict[str, torch.Tensor]:
    """``params`` with every family but ``family`` switched off, and ``family`` on for every image."""
    out = dict(params)
    for k in OFF:
        out[k] = torch.full_like(params[k], k == family)
    return out


@pytest.mark.parametrize(("size", "strength"), [(48, 1.0), (32, 0.6), (40, 2.0), (64, 1.0)])
def test_output_is_a_float_batch_on_the_uint8_grid(size, strength):
    x = faces(16, size)
    out = BatchAugment(size, strength)(x)
    assert out.shape == (16, 1, size, size) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
    assert torch.allclose(out * 255, (out * 255).round(), atol=1e-3)


def test_strength_zero_returns_the_images_unchanged():
    x = faces(8)
    out = BatchAugment(48, 0.0)(x)
    assert torch.equal((out[:, 0] * 255).round().to(torch.uint8), x)


def test_every_image_draws_its_own_parameters():
    aug = BatchAugment(48, 1.0, seed=3)
    p = aug.sample(256)
    for key in ("scale_x", "scale_y", "angle", "shift_x", "factor", "quality", "contrast", "gamma", "sigma"):
        assert p[key].unique().numel() > 30, key  # not one value for the batch
    x = faces(1).expand(64, 48, 48)  # one image, 64 times
    out = aug(x)
    differ = (out[1:] - out[:1]).abs().flatten(1).amax(1) > 0
    assert differ.float().mean() > 0.9


RANGES = [
    ("affine", 0.85, "scale_x", (0.88, 1.18)),
    ("affine", 0.85, "scale_y", (0.88, 1.18)),
    ("affine", 0.85, "angle", (-15, 15)),
    ("affine", 0.85, "shift_y", (-0.08, 0.08)),
    ("flip", 0.5, None, None),
    ("downscale", 0.25, "factor", (0.25, 0.9)),
    ("jpeg", 0.3, "quality", (30, 95)),
    ("light", 0.6, "contrast", (0.7, 1.3)),
    ("light", 0.6, "brightness", (-0.25, 0.25)),
    ("gamma_on", 0.3, "gamma", (0.7, 1.4)),
    ("blur", 0.1, "sigma", (0.2, 0.96)),
    ("erase", 0.3, "erase_area", (0.02, 0.15)),
    ("erase", 0.3, "erase_aspect", (0.3, 3.3)),
]


@pytest.mark.parametrize(("switch", "p", "key", "bounds"), RANGES)
def test_probabilities_and_ranges_at_strength_one(switch, p, key, bounds):
    params = BatchAugment(48, 1.0, seed=1).sample(20000)
    assert params[switch].float().mean().item() == pytest.approx(p, abs=0.015)
    if key:
        lo, hi = bounds
        v = params[key]
        assert lo - 1e-6 <= v.min() and v.max() <= hi + 1e-6
        span = hi - lo
        assert v.min() < lo + 0.05 * span and v.max() > hi - 0.05 * span  # the whole range is used


def test_ranges_scale_with_strength():
    half, full = AugmentRanges.at(0.5, 48), AugmentRanges.at(1.0, 48)
    assert half.rotate == pytest.approx(full.rotate / 2) and half.shift == pytest.approx(full.shift / 2)
    assert half.p_flip == full.p_flip and half.p_jpeg == pytest.approx(full.p_jpeg / 2)
    assert AugmentRanges.at(0, 48).p_flip == 0 and AugmentRanges.at(0, 48).p_affine == 0


def test_a_flip_alone_mirrors_exactly():
    x = faces(4)
    aug = BatchAugment(48)
    out = aug.apply(x, only(aug.sample(4), "flip"))
    assert torch.allclose(out[:, 0] * 255, x.flip(-1).float(), atol=0.51)


def test_a_zoom_in_enlarges_the_centre():
    aug = BatchAugment(48)
    p = only(aug.sample(1), "affine")
    zero = torch.zeros(1)
    p.update(scale_x=torch.tensor([1.5]), scale_y=torch.tensor([1.0]), angle=zero, shift_x=zero, shift_y=zero)
    x = torch.zeros(1, 48, 48, dtype=torch.uint8)
    x[0, 20:28, 20:28] = 255  # an 8 px square in the middle
    bright = aug.apply(x, p)[0, 0] > 0.5
    assert bright.any(0).sum().item() == 12 and bright.any(1).sum().item() == 8  # 12 wide, 8 high


def test_a_shift_moves_the_image():
    aug = BatchAugment(48)
    p = only(aug.sample(1), "affine")
    one, zero = torch.ones(1), torch.zeros(1)
    p.update(scale_x=one, scale_y=one, angle=zero, shift_x=torch.tensor([0.125]), shift_y=zero)
    x = torch.zeros(1, 48, 48, dtype=torch.uint8)
    x[0, :, 10] = 255
    out = aug.apply(x, p)[0, 0]
    assert out[:, 16].min() > 0.99  # 10 + 0.125 * 48 = 16


@pytest.mark.parametrize("family", ["downscale", "jpeg", "blur"])
def test_degradations_lose_detail_but_keep_the_picture(family):
    x = faces(8)
    aug = BatchAugment(48)
    p = only(aug.sample(8), family)
    p.update(factor=torch.full((8,), 0.3), quality=torch.full((8,), 10.0), sigma=torch.full((8,), 0.96))
    out = aug.apply(x, p)[:, 0] * 255
    ref = x.float()
    detail = lambda v: (v[:, :, 1:] - v[:, :, :-1]).abs().mean()  # noqa: E731
    assert detail(out) < 0.8 * detail(ref)
    assert (out - ref).abs().mean() < 12  # still the same face


def test_jpeg_tables_follow_the_quality():
    t = jpeg_table(torch.tensor([10.0, 50.0, 95.0]))
    assert t[1, 0, 0] == 16 and t[0, 0, 0] > t[1, 0, 0] > t[2, 0, 0] >= 1


def test_light_and_gamma_change_intensity_as_drawn():
    x = torch.full((2, 48, 48), 128, dtype=torch.uint8)
    aug = BatchAugment(48)
    p = only(aug.sample(2), "light")
    p.update(contrast=torch.tensor([1.2, 1.0]), brightness=torch.tensor([0.0, -0.1]))
    out = aug.apply(x, p)[:, 0, 0, 0] * 255
    assert out.tolist() == pytest.approx([round(128 * 1.2), round(128 - 25.5)], abs=1)
    p = only(aug.sample(1), "gamma_on")
    p["gamma"] = torch.tensor([1.4])
    out = aug.apply(x[:1], p)[0, 0, 0, 0]
    assert out.item() == pytest.approx((128 / 255) ** 1.4, abs=1 / 255)


def test_erasing_blacks_out_one_rectangle_of_the_drawn_area():
    x = torch.full((1, 48, 48), 200, dtype=torch.uint8)
    aug = BatchAugment(48)
    p = only(aug.sample(1), "erase")
    p.update(erase_area=torch.tensor([0.1]), erase_aspect=torch.tensor([1.0]))
    black = aug.apply(x, p)[0, 0] == 0
    side = round(math.sqrt(0.1 * 48 * 48))
    assert black.sum().item() == side * side
    rows, cols = black.any(1).nonzero(), black.any(0).nonzero()
    assert rows.max() - rows.min() + 1 == side and cols.max() - cols.min() + 1 == side


def test_the_same_seed_draws_the_same_augmentation_and_the_state_can_be_restored():
    x = faces(16)
    a, b = BatchAugment(48, seed=7), BatchAugment(48, seed=7)
    assert torch.equal(a(x), b(x))
    state = a.generator.get_state()
    first = a(x)
    a.generator.set_state(state)
    assert torch.equal(a(x), first)
    assert not torch.equal(BatchAugment(48, seed=8)(x), first)


def test_non_multiple_of_eight_sizes_go_through_jpeg():
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, 44, 44), dtype=np.uint8))
    aug = BatchAugment(44)
    out = aug.apply(x, only(aug.sample(3), "jpeg"))
    assert out.shape == (3, 1, 44, 44)


def test_parameters_sent_to_a_device_in_one_packed_copy_give_the_same_augmentation(monkeypatch):
    x = faces(32)
    aug = BatchAugment(48, strength=1.5, seed=3)
    p = aug.sample(32)
    plain = aug.apply(x, p)
    packed = augment.packed_params(p)
    assert packed.shape == (len(p), 32) and packed.dtype == torch.float32
    calls = []

    def one_copy(params, device):
        calls.append(device)
        return augment.unpacked_params(params, augment.packed_params(params))

    monkeypatch.setattr(augment, "params_to_device", one_copy)
    assert torch.equal(aug.apply(x, p), plain)
    assert len(calls) == 1
    back = augment.unpacked_params(p, packed)
    assert all(
        back[k].dtype == v.dtype and torch.equal(back[k], v.float() if v.dtype != torch.bool else v)
        for k, v in p.items()
    )


def test_a_batch_is_augmented_on_its_device_without_reading_the_device_back():
    """On a GPU every read-back (``.any()``, ``nonzero``, ``.item()``...) waits for all queued work; on
    PyTorch's ``meta`` device, which holds no data, each one raises."""
    from ferkit.classifier.data import TrainBatches

    images = faces(40).numpy()
    targets = np.eye(7, dtype=np.float32)[np.arange(40) % 7]
    augment = BatchAugment(48, 1.5, seed=1)
    batches = TrainBatches(images, targets, augment, 0.5, 0.25, 16, torch.device("meta"))
    shapes = [tuple(x.shape) for x, _, _ in batches]
    assert shapes == [(16, 1, 48, 48)] * 2
