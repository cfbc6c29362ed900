"""Motion metrics of SViMo Table 2: MPJPE, motion smoothness, Chamfer distance.

All functions take numpy arrays or torch tensors with any leading batch dimensions and compute
in torch (so training losses reuse them); with numpy input they return a Python float / numpy
array. Units follow the input (metres in hoi_ros).

Definitions (the paper names the metrics without formulas):
- MPJPE: mean over frames and joints of the Euclidean distance between predicted and true joints.
- Motion smoothness (MSmo.): mean over frames and joints of the norm of the joint acceleration,
  i.e. the second finite difference ``||h[t+1] - 2 h[t] + h[t-1]||`` (metres per frame^2). Lower
  is smoother. Needs at least 3 frames.
- Chamfer distance: symmetric, per frame, averaged over frames:
  ``CD(A, B) = mean_a min_b ||a - b|| + mean_b min_a ||a - b||`` (Euclidean, not squared, by
  default; ``squared=True`` gives the PyTorch3D-style squared variant).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def _to_tensor(x: Any) -> tuple[torch.Tensor, bool]:
    if isinstance(x, torch.Tensor):
        return x, False
    return torch.as_tensor(np.asarray(x, dtype=np.float64)), True


def _out(value: torch.Tensor, was_numpy: bool) -> Any:
    if not was_numpy:
        return value
    arr = value.detach().cpu().numpy()
    return float(arr) if arr.ndim == 0 else arr


def mpjpe(pred: Any, target: Any) -> Any:
    """Mean per-joint position error over all leading dimensions of ``[..., J, 3]`` arrays."""
    p, was_np = _to_tensor(pred)
    t, _ = _to_tensor(target)
    if p.shape != t.shape or p.shape[-1] != 3:
        raise ValueError(f"mpjpe: shapes must match and end in 3, got {tuple(p.shape)} vs {tuple(t.shape)}")
    return _out(torch.linalg.vector_norm(p - t.to(p), dim=-1).mean(), was_np)


def motion_smoothness(joints: Any) -> Any:
    """Mean joint acceleration norm of ``[T, J, 3]`` (or ``[B, T, J, 3]``, averaged over all)."""
    h, was_np = _to_tensor(joints)
    if h.ndim < 3 or h.shape[-1] != 3 or h.shape[-3] < 3:
        raise ValueError(f"motion_smoothness: expected [..., T>=3, J, 3], got {tuple(h.shape)}")
    acc = h[..., 2:, :, :] - 2 * h[..., 1:-1, :, :] + h[..., :-2, :, :]
    return _out(torch.linalg.vector_norm(acc, dim=-1).mean(), was_np)


def chamfer_distance(a: Any, b: Any, squared: bool = False, reduce: bool = True) -> Any:
    """Symmetric Chamfer distance between point sets ``[..., Ka, 3]`` and ``[..., Kb, 3]``.

    With ``reduce`` the per-set distances are averaged over all leading dimensions (frames,
    batch); without, the ``[...]`` array of per-set distances is returned.
    """
    x, was_np = _to_tensor(a)
    y, _ = _to_tensor(b)
    y = y.to(x)
    if x.shape[:-2] != y.shape[:-2] or x.shape[-1] != 3 or y.shape[-1] != 3:
        raise ValueError(f"chamfer_distance: incompatible shapes {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[-2] == 0 or y.shape[-2] == 0:
        raise ValueError("chamfer_distance: empty point set")
    d2 = (x.unsqueeze(-2) - y.unsqueeze(-3)).pow(2).sum(-1)  # [..., Ka, Kb]
    near_ab, near_ba = d2.min(dim=-1).values, d2.min(dim=-2).values
    if not squared:  # sqrt with a finite gradient where a distance is exactly zero
        near_ab, near_ba = (
            torch.where(m > 0, m.clamp_min(1e-20).sqrt(), torch.zeros_like(m)) for m in (near_ab, near_ba)
        )
    per_set = near_ab.mean(-1) + near_ba.mean(-1)
    return _out(per_set.mean() if reduce else per_set, was_np)
