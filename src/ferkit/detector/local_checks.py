"""Local answers to two checks ultralytics makes while training, which would each download a file.

Whether mixed precision works on the device, and a font for its plots. Neither touches ultralytics.
"""

from __future__ import annotations

from pathlib import Path

import torch


def amp_works(device: torch.device) -> bool:
    """Whether mixed precision gives the float32 result on ``device``, checked on a small local network.

    ultralytics' own check downloads a model for this; this one needs nothing. Only CUDA trains with AMP.
    """
    if device.type != "cuda":
        return False
    gen = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.SiLU(), torch.nn.Conv2d(16, 8, 3, stride=2)
    )
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
        net = net.to(device)
        x = torch.rand(2, 3, 64, 64, generator=gen).to(device)
        ref = net(x)
        try:
            with torch.autocast(device.type, dtype=torch.float16):
                half = net(x)
        except RuntimeError:
            return False
    return bool(torch.isfinite(half).all() and torch.allclose(ref, half.float(), atol=0.05, rtol=0.05))


def local_font(name: str = "Arial.ttf") -> Path:
    """A font already on this machine for ultralytics' plots: the one asked for, or matplotlib's DejaVu."""
    from matplotlib import font_manager

    for f in font_manager.fontManager.ttflist:
        if Path(f.fname).name == name and Path(f.fname).is_file():
            return Path(f.fname)
    return Path(font_manager.findfont("DejaVu Sans", fallback_to_default=True))
