"""Reference images to model size (the image-to-video models' shared pre-processing)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def prepare_image(image: np.ndarray, height: int, width: int) -> torch.Tensor:
    """RGB ``[H, W, 3] uint8`` → ``[height, width, 3] uint8``: scale to cover, centre crop (SViMo
    §4.1's crop to the video's aspect ratio), antialiased bilinear resampling."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"image: expected [H, W, 3] uint8, got shape {img.shape} dtype {img.dtype}")
    h, w = img.shape[:2]
    scale = max(height / h, width / w)
    nh, nw = max(height, round(h * scale)), max(width, round(w * scale))
    x = torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1)[None].float()
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (nh - height) // 2, (nw - width) // 2
    x = x[0, :, top : top + height, left : left + width]
    return x.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous()
