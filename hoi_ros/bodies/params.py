"""Per-frame model parameters as tensors: numpy or torch in, validated torch out."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def as_tensor(value: Any, name: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``value`` (array-like or tensor) as a finite tensor of ``dtype`` on ``device``."""
    t = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value, dtype=np.float64))
    t = t.to(device=device, dtype=dtype)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name}: contains NaN or Inf")
    return t


def per_frame(value: Any, name: str, t: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``value`` as ``[t, width]`` (``None`` -> zeros; one row is repeated over the frames)."""
    if value is None:
        return torch.zeros(t, width, dtype=dtype, device=device)
    out = as_tensor(value, name, dtype, device)
    if out.ndim == 1:
        out = out.unsqueeze(0).expand(t, -1)
    if out.shape != (t, width):
        raise ValueError(f"{name}: expected shape [{t}, {width}] (or [{width}]), got {list(out.shape)}")
    return out
