"""Stage II, the hand conditioned on the recovered object (ArtHOI §3.2, Eq. 9, 11, 12; Fig. 3c).

What is built: the hand as its 21 keypoints (:mod:`hoi_ros.core.hand`) moved per frame by a rigid
transform (rotation vector about the wrist + translation), refined from an initial per-frame
estimate with

- ``L_k`` (Eq. 11): the hand's *contact keypoints* onto 3D contact points ``K_j(t)``: the joint's
  2D position lifted with the **object's depth** rendered from Stage I's Gaussians (Fig. 3c; the
  object's depth is known behind the hand, the hand's own depth is not), for joints whose 2D
  position falls on the object's rendered silhouette and that the estimate puts within
  ``contact_radius_m`` of the object's surface (the "confident contact keypoints" ``K_t``);
- ``L_p`` (Eq. 12): stay near the estimate (the transform parameters near zero);
- ``L_s``: smoothness, the squared second difference of the joints over time;

weights λ_k 1e4, λ_p 1, λ_s 1e4 (App. A), Adam 1e-3, 1000 iterations over the whole sequence.

Not built: the hand silhouette term (``L_r^h``, Eq. 10; it needs a hand surface to render), the
per-finger articulation (only the rigid transform is optimised), MediaPipe on real video and the
SMPL-X whole-body path with ``L_fs``. On sim video the initial estimate is a documented substitute
for a hand pose estimator: :func:`simulated_hand_estimate` (the true keypoints with a smooth
drifting offset and per-joint noise).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import torch

from hoi_ros.arthoi.config import StageIIConfig
from hoi_ros.core.camera import Camera
from hoi_ros.core.generation import GenerationCancelled
from hoi_ros.core.hand import HAND_JOINT_NAMES

FINGERTIPS: tuple[int, ...] = tuple(i for i, n in enumerate(HAND_JOINT_NAMES) if n.endswith("tip"))


def rotvecs_to_matrices(r: torch.Tensor) -> torch.Tensor:
    """Batched Rodrigues: ``[N, 3]`` rotation vectors -> ``[N, 3, 3]`` (differentiable at 0)."""
    theta2 = (r * r).sum(-1, keepdim=True)[..., None]  # [N, 1, 1]
    theta = torch.sqrt(theta2 + 1e-24)
    z = torch.zeros_like(r[:, 0])
    k = torch.stack([torch.stack([z, -r[:, 2], r[:, 1]], -1), torch.stack([r[:, 2], z, -r[:, 0]], -1),
                     torch.stack([-r[:, 1], r[:, 0], z], -1)], 1)
    small = theta2 < 1e-12
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / (theta2 + 1e-24))
    eye = torch.eye(3, dtype=r.dtype).expand_as(k)
    return eye + a * k + b * (k @ k)


def simulated_hand_estimate(joints: np.ndarray, drift_m: float = 0.02, noise_m: float = 0.004,
                            seed: int = 0) -> np.ndarray:
    """A stand-in for a hand pose estimator on sim video: the true keypoints ``[T, 21, 3]`` with a
    smooth random offset of the whole hand (up to about ``drift_m``, as a monocular estimator's
    depth error) and independent per-joint noise (``noise_m``)."""
    rng = np.random.default_rng(seed)
    t = len(joints)
    knots = rng.normal(scale=drift_m / np.sqrt(3), size=(max(2, t // 12 + 2), 3))
    offset = np.stack([np.interp(np.linspace(0, len(knots) - 1, t), np.arange(len(knots)), knots[:, k])
                       for k in range(3)], axis=1)
    return joints + offset[:, None] + rng.normal(scale=noise_m, size=joints.shape)


def contact_targets(estimate: np.ndarray, camera: Camera, object_depth: np.ndarray, object_silhouette: np.ndarray,
                    object_points: np.ndarray, cfg: StageIIConfig) -> tuple[np.ndarray, np.ndarray]:
    """Fig. 3c: ``(K [T, J, 3], confident [T, J] bool)`` from the estimate ``[T, J, 3]``, the object's
    rendered depth and silhouette ``[T, H, W]`` and its points ``[T, G, 3]`` (Stage I)."""
    from scipy.spatial import cKDTree

    t_n, j_n = estimate.shape[:2]
    targets = np.zeros_like(estimate)
    ok = np.zeros((t_n, j_n), dtype=bool)
    h, w = object_depth.shape[1:]
    tips = np.zeros(j_n, dtype=bool)
    tips[[j for j in FINGERTIPS if j < j_n] if cfg.fingertips_only else slice(None)] = True
    for t in range(t_n):
        uv, _ = camera.project(estimate[t])
        px = np.round(np.nan_to_num(uv, nan=-1)).astype(int)
        inside = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
        pxc = np.clip(px, 0, [w - 1, h - 1])
        on_object = inside & (object_silhouette[t][pxc[:, 1], pxc[:, 0]] > cfg.silhouette_threshold)
        depth = object_depth[t][pxc[:, 1], pxc[:, 0]]
        dist, _ = cKDTree(object_points[t]).query(estimate[t])
        conf = on_object & (depth > 0) & (dist < cfg.contact_radius_m) & tips
        if conf.any():
            targets[t, conf] = camera.backproject(uv[conf], depth[conf])
        ok[t] = conf
    return targets, ok


def refine_hand(estimate: np.ndarray, targets: np.ndarray, confident: np.ndarray, cfg: StageIIConfig | None = None,
                use_contact: bool = True, use_smoothness: bool = True,
                progress: Callable[[int, int], None] | None = None,
                cancel: threading.Event | None = None) -> tuple[np.ndarray, dict[str, float]]:
    """Eq. 9 without the silhouette term: the refined joints ``[T, J, 3]`` and the final loss terms.

    ``progress(iterations_done, iterations)`` after each iteration; a set ``cancel`` event stops it
    within one iteration (:class:`~hoi_ros.core.generation.GenerationCancelled`).
    """
    cfg = cfg or StageIIConfig()
    est = torch.as_tensor(estimate, dtype=torch.float64)
    tgt = torch.as_tensor(targets, dtype=torch.float64)
    conf = torch.as_tensor(confident, dtype=torch.float64)
    t_n = est.shape[0]
    params = torch.zeros(t_n, 6, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([params], lr=cfg.lr)
    wrist = est[:, :1]
    terms: dict[str, float] = {}

    def joints_of(p: torch.Tensor) -> torch.Tensor:
        rots = rotvecs_to_matrices(p[:, :3])
        return (est - wrist) @ rots.transpose(1, 2) + wrist + p[:, None, 3:]

    for i in range(cfg.iterations):
        if cancel is not None and cancel.is_set():
            raise GenerationCancelled(f"Stage II cancelled at iteration {i} of {cfg.iterations}")
        opt.zero_grad()
        joints = joints_of(params)
        loss_p = (params**2).sum()  # Eq. 12, theta - theta_v
        loss = cfg.lambda_p * loss_p
        terms = {"L_p": float(loss_p.detach())}
        if use_contact and conf.sum() > 0:
            loss_k = ((((joints - tgt) ** 2).sum(-1)) * conf).sum() / conf.sum()  # Eq. 11 (mean)
            loss = loss + cfg.lambda_k * loss_k
            terms["L_k"] = float(loss_k.detach())
        if use_smoothness and t_n > 2:
            loss_s = ((joints[2:] - 2 * joints[1:-1] + joints[:-2]) ** 2).sum(-1).mean()
            loss = loss + cfg.lambda_s * loss_s
            terms["L_s"] = float(loss_s.detach())
        loss.backward()
        opt.step()
        if progress is not None:
            progress(i + 1, cfg.iterations)
    with torch.no_grad():
        return joints_of(params).numpy(), terms


def hand_metrics(joints: np.ndarray, truth: np.ndarray, object_points: np.ndarray, inside_object,
                 contact_m: float = 0.01) -> dict[str, float]:
    """MPJPE against the truth; contact % (frames where a fingertip is within ``contact_m`` of the
    object's surface points, App. C with fingertips for wrists); penetration % (frames where any
    joint is inside the object: ``inside_object(t, points) -> bool [N]``); smoothness (App. C: the
    standard deviation of joint speeds, per frame)."""
    from scipy.spatial import cKDTree

    t_n = len(joints)
    contact = np.zeros(t_n, dtype=bool)
    pen = np.zeros(t_n, dtype=bool)
    for t in range(t_n):
        d, _ = cKDTree(object_points[t]).query(joints[t][list(FINGERTIPS)])
        contact[t] = bool((d < contact_m).any())
        pen[t] = bool(np.any(inside_object(t, joints[t])))
    speed = np.linalg.norm(np.diff(joints, axis=0), axis=-1)
    return {"mpjpe_m": float(np.linalg.norm(joints - truth, axis=-1).mean()),
            "contact_pct": float(100 * contact.mean()), "penetration_pct": float(100 * pen.mean()),
            "smoothness": float(speed.std())}
