"""Training augmentation of grayscale face crops, done on whole batches as tensors on the training device.

The families are shaped like the crops ferkit's detector cuts out of real photos: a box a little off in scale
and position, tilted heads, mirrored faces, small or soft faces upscaled, JPEG artefacts, uneven lighting and
occlusion. Every sample of a batch draws its own parameters from one ``torch.Generator`` (kept on the CPU, so
a run draws the same augmentation on any device and its state can be saved for an exact resume).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# the JPEG standard's luminance quantisation table (ITU T.81, Annex K), quality 50
_JPEG_LUMA = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)


@dataclass(frozen=True)
class AugmentRanges:
    """Probability and range of each family at one strength; ``at(0, size)`` turns everything off."""

    p_affine: float = 0.85
    scale: tuple[float, float] = (0.88, 1.18)  # zoom out / in (box jitter in scale)
    shift: float = 0.08  # of the side, each axis (box jitter in position)
    rotate: float = 15.0  # degrees, either way
    p_flip: float = 0.5
    p_downscale: float = 0.25
    downscale: tuple[float, float] = (0.25, 0.9)  # down to this fraction of the side and back up
    p_jpeg: float = 0.3
    quality: tuple[int, int] = (30, 95)
    p_light: float = 0.6
    brightness: float = 0.25  # added, as a fraction of white
    contrast: float = 0.3  # multiplied by 1 +- this
    p_gamma: float = 0.3
    gamma: tuple[float, float] = (0.7, 1.4)
    p_blur: float = 0.1
    sigma: tuple[float, float] = (0.2, 0.96)  # Gaussian blur, pixels
    p_erase: float = 0.3
    erase_area: tuple[float, float] = (0.02, 0.15)  # of the image
    erase_aspect: tuple[float, float] = (0.3, 3.3)

    @classmethod
    def at(cls, strength: float, size: int) -> AugmentRanges:
        """The ranges at ``strength`` (1: the defaults; every range scales with it) for ``size`` inputs."""
        s, c = strength, min(strength, 1.0)
        if s <= 0:
            return cls(**{f: 0.0 for f in cls.__dataclass_fields__ if f.startswith("p_")})
        return cls(
            scale=(1 - 0.12 * s, 1 + 0.18 * s),
            shift=0.08 * s,
            rotate=15.0 * s,
            p_downscale=0.25 * c,
            downscale=(max(0.25, 1 - 0.75 * s), 0.9),
            p_jpeg=0.3 * c,
            quality=(max(5, int(95 - 65 * s)), 95),
            brightness=0.25 * s,
            contrast=0.3 * s,
            gamma=(1 - 0.3 * s, 1 + 0.4 * s),
            p_blur=0.1 * c,
            sigma=(0.2, 0.02 * size),
            p_erase=0.3 * c,
        )


@functools.cache
def _dct_matrix(device: torch.device) -> torch.Tensor:
    """The 8x8 DCT-II matrix, made once per device (no copy to the device at every batch)."""
    k = torch.arange(8, dtype=torch.float64)
    d = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    d[0] /= math.sqrt(2)
    return d.float().to(device)


@functools.cache
def _jpeg_luma(device: torch.device) -> torch.Tensor:
    return torch.tensor(_JPEG_LUMA, dtype=torch.float32).to(device)


def jpeg_table(quality: torch.Tensor) -> torch.Tensor:
    """(N, 8, 8) luminance quantisation tables of JPEG qualities 1-100 (the IJG scaling)."""
    q = quality.float().clamp(1, 100)
    scale = torch.where(q < 50, 5000 / q, 200 - 2 * q)
    base = _jpeg_luma(q.device)
    return torch.floor((base * scale[:, None, None] + 50) / 100).clamp(1, 255)


class BatchAugment:
    """Random augmentation of (N, S, S) uint8 batches into (N, 1, S, S) float images in [0, 1].

    ``sample(n)`` draws the parameters of n images (a dict of CPU tensors, one value per image);
    ``apply(images, params)`` carries them out on the images' device; calling the object does both.
    """

    def __init__(self, size: int, strength: float = 1.0, seed: int = 0) -> None:
        self.size = size
        self.ranges = AugmentRanges.at(strength, size)
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self, n: int) -> dict[str, torch.Tensor]:
        """Per-image parameters; the same number of draws whatever the probabilities (a stable stream)."""
        r, g = self.ranges, self.generator

        def uniform(lo: float, hi: float) -> torch.Tensor:
            return lo + (hi - lo) * torch.rand(n, generator=g)

        def chance(p: float) -> torch.Tensor:
            return torch.rand(n, generator=g) < p

        return {
            "affine": chance(r.p_affine),
            "scale_x": uniform(*r.scale),  # each axis its own: the box's aspect ratio jitters too
            "scale_y": uniform(*r.scale),
            "shift_x": uniform(-r.shift, r.shift),
            "shift_y": uniform(-r.shift, r.shift),
            "angle": uniform(-r.rotate, r.rotate),
            "flip": chance(r.p_flip),
            "downscale": chance(r.p_downscale),
            "factor": uniform(*r.downscale),
            "jpeg": chance(r.p_jpeg),
            "quality": uniform(r.quality[0], r.quality[1] + 1).floor().clamp(max=r.quality[1]),
            "light": chance(r.p_light),
            "contrast": uniform(1 - r.contrast, 1 + r.contrast),
            "brightness": uniform(-r.brightness, r.brightness),
            "gamma_on": chance(r.p_gamma),
            "gamma": uniform(*r.gamma),
            "blur": chance(r.p_blur),
            "sigma": uniform(*r.sigma),
            "erase": chance(r.p_erase),
            "erase_area": uniform(*r.erase_area),
            "erase_aspect": torch.exp(uniform(math.log(r.erase_aspect[0]), math.log(r.erase_aspect[1]))),
            "erase_y": torch.rand(n, generator=g),
            "erase_x": torch.rand(n, generator=g),
        }

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.apply(images, self.sample(len(images)))

    def apply(self, images: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
        """Carry out the parameters ``p`` (CPU tensors) on (N, S, S) uint8 ``images``; returns (N, 1, S, S)
        in [0, 1].

        Every choice that depends on the draws (which images a family touches, the sizes and the blur
        radius) is read from the CPU parameters, and the parameters go to the device in one copy, so that on
        a GPU a batch queues its work without waiting for the device once.
        """
        x = images.float().div_(255.0).unsqueeze(1)
        d = params_to_device(p, x.device)
        if p["affine"].any() or p["flip"].any():
            x = _affine(x, d)
        x = _subset(x, p["downscale"], lambda v, i: _down_up(v, p["factor"][i]))
        x = _subset(x, p["jpeg"], lambda v, i: _jpeg(v, d["quality"][i.to(x.device)]))
        light = d["light"].float()[:, None, None, None]
        a = 1 + (d["contrast"][:, None, None, None] - 1) * light
        b = d["brightness"][:, None, None, None] * light
        x = (x * a + b).clamp_(0, 1)
        gamma = torch.where(d["gamma_on"], d["gamma"], torch.ones_like(d["gamma"]))
        x = x.pow(gamma[:, None, None, None])
        x = _subset(x, p["blur"], lambda v, i: _blur(v, p["sigma"][i]))
        x = x * ~_erase_mask(d, x.shape[-1])[:, None]
        return x.mul_(255).round_().div_(255)  # back on the uint8 grid inference sees


def params_to_device(p: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """``p`` on ``device`` through one copy of :func:`packed` parameters."""
    if device.type == "cpu":
        return p
    packed = packed_params(p)
    if device.type == "cuda":
        packed = packed.pin_memory()
    return unpacked_params(p, packed.to(device, non_blocking=True))


def packed_params(p: dict[str, torch.Tensor]) -> torch.Tensor:
    """The parameters as one (K, N) float32 tensor, in ``p``'s order."""
    return torch.stack([v.float() for v in p.values()])


def unpacked_params(p: dict[str, torch.Tensor], packed: torch.Tensor) -> dict[str, torch.Tensor]:
    """:func:`packed_params` back into ``p``'s names and dtypes (booleans as booleans)."""
    return {k: packed[j] > 0.5 if v.dtype == torch.bool else packed[j] for j, (k, v) in enumerate(p.items())}


def _subset(x: torch.Tensor, on: torch.Tensor, fn) -> torch.Tensor:
    """``x`` with ``fn(x[idx], idx)`` written into the images where ``on`` (a CPU tensor) is true; ``idx``
    is given on the CPU."""
    idx = on.nonzero().flatten()
    if idx.numel() == 0:
        return x
    at = idx.to(x.device, non_blocking=True)
    x = x.clone()
    x[at] = fn(x[at], idx)
    return x


def _affine(x: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
    """Zoom, shift and rotate about the centre (replicated borders), then mirror, per image."""
    on = p["affine"]
    one = torch.ones_like(p["scale_x"])
    sx, sy = torch.where(on, p["scale_x"], one), torch.where(on, p["scale_y"], one)
    angle = torch.where(on, p["angle"], torch.zeros_like(p["angle"])) * (math.pi / 180)
    tx = torch.where(on, p["shift_x"], torch.zeros_like(p["shift_x"])) * 2  # [-1, 1] coordinates
    ty = torch.where(on, p["shift_y"], torch.zeros_like(p["shift_y"])) * 2
    c, s = torch.cos(angle), torch.sin(angle)
    flip = 1 - 2 * p["flip"].float()
    # output(q) = input(A^-1 (F q - t)), with A = R(angle) diag(sx, sy), F the mirror and t the shift
    theta = torch.stack(
        [
            torch.stack([c / sx * flip, s / sx, -(c * tx + s * ty) / sx], 1),
            torch.stack([-s / sy * flip, c / sy, -(-s * tx + c * ty) / sy], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _down_up(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Each image shrunk to ``factor`` (CPU) of its side (area) and enlarged back (bilinear): a small face."""
    side = x.shape[-1]
    small = (factor * side).round().clamp(min=2).long()
    out = torch.empty_like(x)
    for k in small.unique().tolist():
        i = (small == k).nonzero().flatten().to(x.device, non_blocking=True)
        down = F.interpolate(x[i], size=(k, k), mode="area")
        out[i] = F.interpolate(down, size=(side, side), mode="bilinear", align_corners=False)
    return out


def _jpeg(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG's lossy step on each image: 8x8 block DCT, quantised with the table of its quality."""
    n, _, h, w = x.shape
    ph, pw = -h % 8, -w % 8
    v = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
    hh, ww = h + ph, w + pw
    blocks = (v[:, 0] * 255 - 128).reshape(n, hh // 8, 8, ww // 8, 8).transpose(2, 3)
    d = _dct_matrix(x.device)
    table = jpeg_table(quality)[:, None, None]
    coef = d @ blocks @ d.T
    blocks = d.T @ (torch.round(coef / table) * table) @ d
    v = (blocks.transpose(2, 3).reshape(n, 1, hh, ww) + 128).round().clamp(0, 255) / 255
    return v[..., :h, :w]


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """A Gaussian blur of its own sigma (CPU) per image (separable, reflected borders)."""
    n, _, h, w = x.shape
    radius = max(1, math.ceil(3 * float(sigma.max())))
    sigma = sigma.to(x.device, non_blocking=True)
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-(t[None] ** 2) / (2 * sigma[:, None] ** 2))
    k = k / k.sum(1, keepdim=True)
    v = F.pad(x.reshape(1, n, h, w), (radius, radius, radius, radius), mode="reflect")
    v = F.conv2d(v, k[:, None, None, :], groups=n)
    v = F.conv2d(v, k[:, None, :, None], groups=n)
    return v.reshape(n, 1, h, w)


def _erase_mask(p: dict[str, torch.Tensor], side: int) -> torch.Tensor:
    """(N, S, S) boolean: one black rectangle of the drawn area and aspect per erased image."""
    area = p["erase_area"] * side * side
    eh = (area * p["erase_aspect"]).sqrt().round().clamp(1, side)
    ew = (area / p["erase_aspect"]).sqrt().round().clamp(1, side)
    top = (p["erase_y"] * (side - eh + 1)).floor()
    left = (p["erase_x"] * (side - ew + 1)).floor()
    r = torch.arange(side, device=area.device, dtype=area.dtype)
    rows = (r[None] >= top[:, None]) & (r[None] < (top + eh)[:, None])
    cols = (r[None] >= left[:, None]) & (r[None] < (left + ew)[:, None])
    return rows[:, :, None] & cols[:, None, :] & p["erase"][:, None, None]
