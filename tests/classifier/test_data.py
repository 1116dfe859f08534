"""Batch mixing (mixup, CutMix): what is mixed with what, in which proportion, drawn where."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from ferkit.classifier.data import BatchMix


def batch(n: int = 16, side: int = 12, k: int = 7):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, side, side, generator=g)
    y = torch.eye(k)[torch.arange(n) % k]
    t = torch.log_softmax(torch.randn(n, k, generator=g), 1)
    return x, y, t


def test_mixup_blends_images_targets_and_teachers_in_one_proportion():
    x, y, t = batch()
    mix = BatchMix(mixup=0.4, seed=3)
    kind, lam, order, _ = copy.deepcopy(mix).draw(16, 12)  # the same draw, from a copy of the generator
    mx, my, mt = mix(x, y, t)
    assert kind == "mixup" and 0 < lam < 1 and sorted(order) == list(range(16))
    perm = torch.from_numpy(order)
    torch.testing.assert_close(mx, lam * x + (1 - lam) * x[perm])
    torch.testing.assert_close(my, lam * y + (1 - lam) * y[perm])
    torch.testing.assert_close(mt.exp(), lam * t.exp() + (1 - lam) * t.exp()[perm])
    torch.testing.assert_close(my.sum(1), torch.ones(16))
    torch.testing.assert_close(mt.exp().sum(1), torch.ones(16))


def test_cutmix_pastes_one_box_and_weights_targets_by_its_area():
    x, y, t = batch()
    mix = BatchMix(cutmix=1.0, seed=5)
    for _ in range(20):  # several draws: boxes of many sizes, some clipped by the border
        kind, lam, order, (y0, y1, x0, x1) = copy.deepcopy(mix).draw(16, 12)
        mx, my, _ = mix(x, y, t)
        perm = torch.from_numpy(order)
        inside = torch.zeros(12, 12, dtype=torch.bool)
        inside[y0:y1, x0:x1] = True
        assert kind == "cutmix" and lam == pytest.approx(1 - inside.float().mean().item())
        torch.testing.assert_close(mx[..., inside], x[perm][..., inside])
        torch.testing.assert_close(mx[..., ~inside], x[..., ~inside])
        torch.testing.assert_close(my, lam * y + (1 - lam) * y[perm])
    assert x.equal(batch()[0])  # the batch given is not changed in place


def test_both_on_each_batch_gets_one_and_the_weight_follows_beta():
    mix = BatchMix(mixup=0.2, cutmix=1.0, seed=0)
    draws = [mix.draw(8, 48) for _ in range(400)]
    kinds = [d[0] for d in draws]
    assert 150 < kinds.count("mixup") < 250  # about half each
    lams = np.array([d[1] for d in draws if d[0] == "mixup"])
    assert np.mean(np.abs(lams - 0.5) > 0.4) > 0.5  # Beta(0.2, 0.2) sits near 0 and 1
    assert ((lams >= 0) & (lams <= 1)).all()


def test_the_same_seed_mixes_the_same_way_and_the_state_can_be_restored():
    a, b = BatchMix(mixup=0.4, cutmix=1.0, seed=1), BatchMix(mixup=0.4, cutmix=1.0, seed=1)
    state = a.generator.bit_generator.state
    first = [a.draw(8, 12)[1] for _ in range(5)]
    assert first == [b.draw(8, 12)[1] for _ in range(5)]
    a.generator.bit_generator.state = state
    assert [a.draw(8, 12)[1] for _ in range(5)] == first


def test_a_batch_is_mixed_on_its_device_without_reading_it_back():
    x, y, t = (v.to("meta") for v in batch())
    for mix in (BatchMix(mixup=0.4, seed=0), BatchMix(cutmix=1.0, seed=0)):
        mx, my, mt = mix(x, y, t)
        assert mx.shape == x.shape and my.shape == y.shape and mt.shape == t.shape


@pytest.mark.parametrize(("mixup", "cutmix"), [(0.0, 0.0), (-0.1, 1.0), (0.2, -1.0)])
def test_bad_mixing_settings_are_refused(mixup, cutmix):
    with pytest.raises(ValueError, match="mixup and cutmix"):
        BatchMix(mixup, cutmix)
