"""Motion metrics of SViMo Table 2: MPJPE, motion smoothness, Chamfer distance.

All functions take numpy arrays or torch tensors with any leading batch dimensions. Torch input is
computed in torch (so training losses reuse them, gradients included); anything else in float64
numpy, returning a Python float / numpy array, so this module never loads torch. Units follow the
input (metres in hoi_ros).

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


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _pair(a: Any, b: Any) -> tuple[Any, Any, bool]:
    """Both inputs as tensors like ``a`` (when ``a`` is a torch tensor; tensor methods only, so this
    module never imports torch) or as float64 numpy arrays."""
    if _is_torch(a):
        return a, (b.to(a) if _is_torch(b) else a.new_tensor(np.asarray(b))), True
    return np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), False


def _norm(x: Any, is_torch: bool) -> Any:
    return x.norm(dim=-1) if is_torch else np.linalg.norm(x, axis=-1)


def _scalar(value: Any, is_torch: bool) -> Any:
    if is_torch:
        return value
    return float(value) if np.ndim(value) == 0 else np.asarray(value)


def mpjpe(pred: Any, target: Any) -> Any:
    """Mean per-joint position error over all leading dimensions of ``[..., J, 3]`` arrays."""
    p, t, is_torch = _pair(pred, target)
    if tuple(p.shape) != tuple(t.shape) or p.shape[-1] != 3:
        raise ValueError(f"mpjpe: shapes must match and end in 3, got {tuple(p.shape)} vs {tuple(t.shape)}")
    return _scalar(_norm(p - t, is_torch).mean(), is_torch)


def motion_smoothness(joints: Any) -> Any:
    """Mean joint acceleration norm of ``[T, J, 3]`` (or ``[B, T, J, 3]``, averaged over all)."""
    h, _, is_torch = _pair(joints, joints)
    if h.ndim < 3 or h.shape[-1] != 3 or h.shape[-3] < 3:
        raise ValueError(f"motion_smoothness: expected [..., T>=3, J, 3], got {tuple(h.shape)}")
    acc = h[..., 2:, :, :] - 2 * h[..., 1:-1, :, :] + h[..., :-2, :, :]
    return _scalar(_norm(acc, is_torch).mean(), is_torch)


def chamfer_distance(a: Any, b: Any, squared: bool = False, reduce: bool = True) -> Any:
    """Symmetric Chamfer distance between point sets ``[..., Ka, 3]`` and ``[..., Kb, 3]``.

    With ``reduce`` the per-set distances are averaged over all leading dimensions (frames,
    batch); without, the ``[...]`` array of per-set distances is returned.
    """
    x, y, is_torch = _pair(a, b)
    if tuple(x.shape[:-2]) != tuple(y.shape[:-2]) or x.shape[-1] != 3 or y.shape[-1] != 3:
        raise ValueError(f"chamfer_distance: incompatible shapes {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[-2] == 0 or y.shape[-2] == 0:
        raise ValueError("chamfer_distance: empty point set")
    if is_torch:
        d2 = (x.unsqueeze(-2) - y.unsqueeze(-3)).pow(2).sum(-1)  # [..., Ka, Kb]
        near_ab, near_ba = d2.min(dim=-1).values, d2.min(dim=-2).values
        if not squared:  # sqrt with a finite gradient where a distance is exactly zero
            near_ab, near_ba = (m.clamp_min(1e-20).sqrt().where(m > 0, m.new_zeros(())) for m in (near_ab, near_ba))
    else:
        d2 = ((x[..., :, None, :] - y[..., None, :, :]) ** 2).sum(-1)
        near_ab, near_ba = d2.min(axis=-1), d2.min(axis=-2)
        if not squared:
            near_ab, near_ba = np.sqrt(near_ab), np.sqrt(near_ba)
    per_set = near_ab.mean(-1) + near_ba.mean(-1)
    return _scalar(per_set.mean() if reduce else per_set, is_torch)


def yaw_change(points: Any) -> float:
    """The turn about the vertical (z) axis of a point trajectory ``[T, K, 3]`` from its first to its
    last frame, in radians (−π, π]: the angle of the least-squares 2D rotation (Procrustes) between the
    centred xy of frame 0 and of frame T−1, the points corresponding by index. Not a SViMo metric: the
    ``rotate`` task's yaw error is the difference of this between generated and true motion."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 3 or p.shape[-1] != 3 or p.shape[0] < 2:
        raise ValueError(f"yaw_change: expected [T >= 2, K, 3], got {p.shape}")
    a = p[0, :, :2] - p[0, :, :2].mean(0)
    b = p[-1, :, :2] - p[-1, :, :2].mean(0)
    return float(np.arctan2((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum(), (a * b).sum()))


def centroid_error(a: Any, b: Any) -> float:
    """Mean over frames of the distance between the centroids of two point trajectories ``[T, Ka, 3]``
    and ``[T, Kb, 3]`` (e.g. where a generated object is against where the true one is)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim != 3 or y.ndim != 3 or x.shape[0] != y.shape[0] or x.shape[-1] != 3 or y.shape[-1] != 3:
        raise ValueError(f"centroid_error: incompatible shapes {x.shape} and {y.shape}")
    return float(np.linalg.norm(x.mean(1) - y.mean(1), axis=-1).mean())
