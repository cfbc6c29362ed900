"""SViMo training losses: Eq. 5 (SViMo), Eq. 6 / App. B.2 Eq. 12-13 (VID) and the §3.5 objective.

- :func:`svimo_loss` — Eq. 5, x₀-prediction MSE on the video and the motion latents; optionally
  weighted per sample (``sample_weights``: CogVideoX's ``1 / (1 − ᾱₜ)``, see
  :mod:`hoi_ros.diffusion.loss_weighting`, which makes it the v-MSE of a v-prediction model).
- :func:`hand_loss` — Eq. 12, ``‖h − ĥ‖² + 0.2‖h′ − ĥ′‖² + 0.05‖h″ − ĥ″‖²`` with ′ the first and
  ″ the second difference between frames.
- :func:`object_loss` — Eq. 13, on the tool half and the target half of the K object points
  separately, averaged: ``L₁`` the per-frame Chamfer distance between prediction and truth,
  ``L₂`` the MAE between the consecutive-frame Chamfer distances of the truth and of the
  prediction, ``L_obj = L₁ + 0.1·L₂``.
- :func:`vid_loss` — Eq. 6 as refined by App. B.2: ``L_VID = L_hand + L_obj``; optionally
  ``+ w_obj_points·‖o − ô‖²`` (not in the paper, off by default): Eq. 13's Chamfer terms do not
  depend on the points' order, so nothing ties generated point i to a place on the object, and a
  turn about the vertical (the sim's ``rotate``) is supervised only through the outline. With points
  in a canonical order (``hoi_ros.data.point_order``) this per-index term supervises the turn.
- :func:`total_loss` — §3.5, ``L = ω₁·L_SViMo + ω₂·L_VID`` (ω₁ = 1, ω₂ = 0.05 in §4.2).

Where the paper is silent:
- ``‖·‖²₂`` in Eq. 12 is taken as the mean squared error over all elements (Eq. 6 writes the same
  term as ``MSE(h₀, ĥ₀)``), so the three terms are means over batch, frames, joints and axes.
- The Chamfer distance is :func:`hoi_ros.core.metrics.chamfer_distance` (symmetric, Euclidean,
  not squared — the same definition as the Table 2 metric), computed with batch dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hoi_ros.core.metrics import chamfer_distance

HAND_VEL_WEIGHT = 0.2  # Eq. 12
HAND_ACC_WEIGHT = 0.05  # Eq. 12
OBJ_DYN_WEIGHT = 0.1  # Eq. 13


def _check_motion(pred: torch.Tensor, target: torch.Tensor, name: str) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"{name}: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    if pred.ndim != 4 or pred.shape[-1] != 3:
        raise ValueError(f"{name}: expected [B, T, N, 3], got {tuple(pred.shape)}")


def hand_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 12 on hand joints ``[B, T, J, 3]``: positions + 0.2·velocities + 0.05·accelerations.

    A difference term is dropped when there are too few frames for it (T = 1 or 2).
    """
    _check_motion(pred, target, "hand_loss")
    loss = (pred - target).pow(2).mean()
    if pred.shape[1] >= 2:
        dp, dt = pred.diff(dim=1), target.diff(dim=1)
        loss = loss + HAND_VEL_WEIGHT * (dp - dt).pow(2).mean()
        if pred.shape[1] >= 3:
            loss = loss + HAND_ACC_WEIGHT * (dp.diff(dim=1) - dt.diff(dim=1)).pow(2).mean()
    return loss


def _object_part_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 13 for one object part ``[B, N, K', 3]``: ``L₁ + 0.1·L₂``."""
    l1 = chamfer_distance(pred, target)  # per-frame CD, averaged over B and N
    if pred.shape[1] < 2:
        return l1
    # Consecutive-frame Chamfer distances [B, N-1] ("reshape to [B×N, K/2, 3]" in B.2).
    d_true = chamfer_distance(target[:, 1:], target[:, :-1], reduce=False)
    d_pred = chamfer_distance(pred[:, 1:], pred[:, :-1], reduce=False)
    l2 = (d_true - d_pred).abs().mean()
    return l1 + OBJ_DYN_WEIGHT * l2


def object_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 13 on object points ``[B, N, K, 3]``: tool (first K/2) and target (last K/2) halves.

    The two halves' losses are averaged. K must be even (the paper splits K into two halves).
    """
    _check_motion(pred, target, "object_loss")
    k = pred.shape[2]
    if k < 2 or k % 2:
        raise ValueError(f"object_loss: the number of object points K must be even and >= 2, got {k}")
    half = k // 2
    tool = _object_part_loss(pred[:, :, :half], target[:, :, :half])
    tgt = _object_part_loss(pred[:, :, half:], target[:, :, half:])
    return 0.5 * (tool + tgt)


def vid_loss(
    hand_pred: torch.Tensor, obj_pred: torch.Tensor, hand_true: torch.Tensor, obj_true: torch.Tensor,
    point_weight: float = 0.0,
) -> dict[str, torch.Tensor]:
    """Eq. 6 / B.2: ``{"hand": L_hand, "object": L_obj, "vid": L_hand + L_obj}``. ``point_weight`` > 0
    adds ``point_weight·MSE(ô, o)`` per index to ``L_obj`` (module docstring; not in the paper)."""
    lh = hand_loss(hand_pred, hand_true)
    lo = object_loss(obj_pred, obj_true)
    if point_weight:
        lo = lo + float(point_weight) * (obj_pred - obj_true).pow(2).mean()
    return {"hand": lh, "object": lo, "vid": lh + lo}


LOSS_WEIGHTINGS = ("none", "cogvideox")


def svimo_loss(
    video_x0_pred: torch.Tensor,
    video_x0_true: torch.Tensor,
    motion_x0_pred: torch.Tensor,
    motion_x0_true: torch.Tensor,
    sample_weights: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Eq. 5: ``MSE(z₀ⱽ, ẑ₀ⱽ) + MSE(z₀ᴹ, ẑ₀ᴹ)`` on x₀ latents ``[B, F, C, h, w]``.

    ``sample_weights [B]`` (optional): each sample's squared error is weighted, ``mean_b(w_b·MSE_b)``
    (CogVideoX's ``1 / (1 − ᾱₜ)``: :func:`hoi_ros.diffusion.loss_weighting.loss_weights`); None is the
    unweighted MSE."""
    for name, p, t in (("video", video_x0_pred, video_x0_true), ("motion", motion_x0_pred, motion_x0_true)):
        if p.shape != t.shape:
            raise ValueError(f"svimo_loss: {name} prediction {tuple(p.shape)} and target {tuple(t.shape)} differ")
    if sample_weights is None:
        lv = (video_x0_pred.float() - video_x0_true.float()).pow(2).mean()
        lm = (motion_x0_pred.float() - motion_x0_true.float()).pow(2).mean()
        return {"video": lv, "motion": lm, "svimo": lv + lm}
    w = sample_weights.reshape(-1).float()
    if w.numel() != video_x0_pred.shape[0]:
        raise ValueError(f"svimo_loss: {w.numel()} sample weights for a batch of {video_x0_pred.shape[0]}")

    def weighted(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        per_sample = (p.float() - t.float()).pow(2).reshape(p.shape[0], -1).mean(dim=1)
        return (w.to(per_sample.device) * per_sample).mean()

    lv, lm = weighted(video_x0_pred, video_x0_true), weighted(motion_x0_pred, motion_x0_true)
    return {"video": lv, "motion": lm, "svimo": lv + lm}


@dataclass
class LossWeights:
    """§3.5 / §4.2 weights of ``L = ω₁·L_SViMo + ω₂·L_VID``."""

    w_svimo: float = 1.0
    w_vid: float = 0.05
    w_obj_points: float = 0.0  # per-index object term in L_VID (vid_loss; not in the paper)

    def __post_init__(self) -> None:
        for name in ("w_svimo", "w_vid", "w_obj_points"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name}: must be a non-negative number, got {value!r}")


def total_loss(l_svimo: torch.Tensor, l_vid: torch.Tensor | None, weights: LossWeights) -> torch.Tensor:
    """§3.5: ``ω₁·L_SViMo + ω₂·L_VID`` (``l_vid`` None when the VID is ablated away)."""
    loss = weights.w_svimo * l_svimo
    if l_vid is not None:
        loss = loss + weights.w_vid * l_vid
    return loss
