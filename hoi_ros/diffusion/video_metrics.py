"""Video metrics every video model here is measured with: PSNR, SSIM, temporal consistency.

Written in torch rather than taken from ``torchmetrics`` so that evaluation needs no extra
dependency; the SSIM is Wang et al. (2004) with the usual 11x11 Gaussian window (σ = 1.5).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x * x) / (2 * sigma * sigma))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float()


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SSIM (Wang et al. 2004) of uint8 frames ``[N, H, W, 3]`` → ``[N]`` (channel mean, valid window)."""
    w = _gaussian_window()[None, None].repeat(3, 1, 1, 1)
    x = a.float().permute(0, 3, 1, 2)
    y = b.float().permute(0, 3, 1, 2)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z: torch.Tensor) -> torch.Tensor:
        return F.conv2d(z, w, groups=3)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.mean(dim=(1, 2, 3)).float()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR (dB) between two uint8 videos of the same shape (MSE over all pixels)."""
    mse = float((a.double() - b.double()).pow(2).mean())
    return float(10.0 * np.log10(255.0**2 / max(mse, 1e-10)))


def temporal_consistency(video: torch.Tensor) -> float:
    """Mean SSIM between consecutive frames of a uint8 video ``[T, H, W, 3]``."""
    return float(ssim(video[:-1], video[1:]).mean())
