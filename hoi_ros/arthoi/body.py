"""ArtHOI's Stage II with a whole body: SMPL-X from the user's local files (§3.2, Eq. 9, 11, 12).

The paper optimises an SMPL-X body ``A`` (pose θ, translation ψ) initialised from a video-based
estimate (θ_v, ψ_v; GVHMR in the paper) with

    L = λ_p L_p + λ_fs L_fs + λ_s L_s + λ_k L_k            (Eq. 9, without the silhouette term)
    L_p = Σ_t ‖θ(t) − θ_v(t)‖² + η Σ_t ‖ψ(t) − ψ_v(t)‖²    (Eq. 12)
    L_fs = Σ_t Σ_{v ∈ V_foot} ‖v(t) − v(t−1)‖²             (Eq. 12, :func:`hoi_ros.bodies.smplx_body.foot_sliding_loss`)

with App. A's weights (λ_p 1, λ_fs 10, λ_s 1e4, λ_k 1e4) and Adam at 1e-3 for 1000 iterations. The
contact term L_k (Eq. 11) pulls the right hand's keypoints to contact points lifted onto the object
(:func:`hoi_ros.arthoi.stage2.lift_contacts`, the same targets as the hand-only path). The body model
comes from the user's SMPL-X ``.npz`` (``stage2.smplx_model_path``; ``docs/bodies.md``); none ships.

Deviations: the body's silhouette term L_r^h is not rendered (the hand-only path renders the hand's);
η is not given by the paper: ψ is measured in units of ``stage2.prior_length_m`` (η = 1/length²), as
the hand path's root translation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hoi_ros.arthoi.config import StageIIConfig
from hoi_ros.arthoi.stage2 import contact_loss, smoothness_loss
from hoi_ros.bodies.smplx_body import SMPLXModel, foot_sliding_loss
from hoi_ros.core.generation import GenerationCancelled

POSE_KEYS = ("global_orient", "body_pose", "right_hand_pose", "left_hand_pose")  # θ (axis-angle)


@dataclass
class BodyEstimate:
    """The initial body (θ_v, ψ_v) per frame: axis-angle ``global_orient [T, 3]``, ``body_pose
    [T, 63]``, ``right_hand_pose`` / ``left_hand_pose [T, 45]``, ``transl [T, 3]``; ``betas [10]``."""

    global_orient: np.ndarray
    body_pose: np.ndarray
    right_hand_pose: np.ndarray
    left_hand_pose: np.ndarray
    transl: np.ndarray
    betas: np.ndarray | None = None

    @property
    def frames(self) -> int:
        return int(np.asarray(self.transl).shape[0])


@dataclass
class BodyResult:
    """The refined body: parameters, ``right_hand [T, 21, 3]``, ``body_joints [T, 22, 3]``, terms."""

    params: dict[str, np.ndarray]
    right_hand: np.ndarray
    body_joints: np.ndarray
    terms: dict[str, float]


def refine_body(model: SMPLXModel, estimate: BodyEstimate, targets: np.ndarray, confident: np.ndarray,
                cfg: StageIIConfig | None = None, fps: float = 30.0, foot_contact: np.ndarray | None = None,
                progress: Callable[[int, int], None] | None = None,
                cancel: threading.Event | None = None) -> BodyResult:
    """Eq. 9 over the sequence for an SMPL-X body (module docstring). ``targets [T, 21, 3]`` and
    ``confident [T, 21]`` are the right hand's contact points (Eq. 11); ``foot_contact [T, F]`` weights
    L_fs per foot vertex (None: every frame counts). A set ``cancel`` stops within one iteration."""
    cfg = cfg or StageIIConfig()
    t_n = estimate.frames
    init = {k: torch.as_tensor(np.asarray(getattr(estimate, k)), dtype=torch.float32) for k in (*POSE_KEYS, "transl")}
    params = {k: v.clone().requires_grad_(True) for k, v in init.items()}
    betas = None if estimate.betas is None else torch.as_tensor(np.asarray(estimate.betas), dtype=torch.float32)
    feet = torch.as_tensor(model.foot_vertex_ids(), dtype=torch.long)
    contact = None if foot_contact is None else torch.as_tensor(np.asarray(foot_contact), dtype=torch.float32)
    tgt = torch.as_tensor(np.asarray(targets), dtype=torch.float32)
    conf = torch.as_tensor(np.asarray(confident), dtype=torch.float32)
    opt = torch.optim.Adam(list(params.values()), lr=cfg.lr)
    terms: dict[str, float] = {}
    for i in range(cfg.iterations):
        if cancel is not None and cancel.is_set():
            raise GenerationCancelled(f"Stage II (body) cancelled at iteration {i} of {cfg.iterations}")
        opt.zero_grad()
        out = model(betas=betas, num_frames=t_n, **params)
        loss_p = sum(((params[k] - init[k]) ** 2).sum() for k in POSE_KEYS) + \
            (((params["transl"] - init["transl"]) / cfg.prior_length_m) ** 2).sum()
        loss_fs = foot_sliding_loss(out.vertices[:, feet], contact)
        joints = torch.cat([out.body_joints, out.hand_joints], dim=1)
        loss_s = smoothness_loss(joints, fps, cfg.smoothness_fps)
        loss_k = contact_loss(out.hand_joints[:, :21], tgt, conf)
        loss = (cfg.lambda_p * loss_p + cfg.lambda_fs * loss_fs
                + (cfg.lambda_s * loss_s if cfg.use_smoothness_loss else 0.0)
                + (cfg.lambda_k * loss_k if cfg.use_contact_loss else 0.0))
        terms = {"L_p": float(loss_p.detach()), "L_fs": float(loss_fs.detach()), "L_s": float(loss_s.detach()),
                 "L_k": float(loss_k.detach())}
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(list(params.values()), cfg.grad_clip)
        opt.step()
        if progress is not None:
            progress(i + 1, cfg.iterations)
    with torch.no_grad():
        out = model(betas=betas, num_frames=t_n, **params)
    return BodyResult({k: v.detach().numpy() for k, v in params.items()}, out.hand_joints[:, :21].numpy(),
                      out.body_joints.numpy(), terms)


def load_body_model(cfg: StageIIConfig) -> Any:
    """The user's SMPL-X model named by ``stage2.smplx_model_path`` (a ValueError names the field)."""
    if not cfg.smplx_model_path:
        raise ValueError("stage2.smplx_model_path: the whole-body path needs the user's SMPL-X .npz (docs/bodies.md)")
    return SMPLXModel(cfg.smplx_model_path)
