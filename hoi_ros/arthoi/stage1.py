"""Stage I, object articulation (ArtHOI §3.2, Eq. 4-8, App. A).

Per frame t the moving part's rigid transform ``T^d(t) = [R^d(t), t^d(t)]`` drives the object's
Gaussians (Eq. 4): ``mu_i(t) = w^d_i T^d(t) mu_i(0) + w^s_i mu_i(0)``, optimised with
``L_r + lambda_a L_a + lambda_s L_s + lambda_tr L_tr`` (Eq. 5) by Adam with gradient clipping,
frame after frame, each starting from the previous frames' constant-velocity prediction and
stopping early when the loss stops improving. Then the joint is read off the transforms
(:func:`estimate_joint`): revolute when the part turns more than ``revolute_min_deg``, its axis the
mean rotation axis and its origin the least-squares fixed point; prismatic otherwise, its axis
the principal direction of the translations.

Choices the paper leaves open (all in :class:`~hoi_ros.arthoi.config.StageIConfig` or here):

- ``T^d`` is parametrised as a rotation vector about the dynamic Gaussians' canonical centroid
  plus a translation (the same transform; better conditioned than a rotation about the world
  origin). Frame 0 is the canonical frame: ``T^d(0) = I``.
- L_r (Eq. 6): colour error on the object's pixels ``M^o(t)`` plus ``beta^o`` times the
  silhouette error on every pixel the hand does not cover (the hand is not part of ``G^o``);
  means over pixels, at ``render.scale`` of the video's resolution, inside the object's crop.
- L_tr (Eq. 8): each dynamic Gaussian seen at frame 0 should project onto its flow track (the
  flows chained from frame 0, :func:`gaussian_tracks`) while the track is kept; mean squared
  error in units of :data:`TRACK_UNIT_PX` pixels.
- L_a (Eq. 7): the sum over the binding pairs of the squared change of their distance (metres).
- L_s: the squared second difference of the transform parameters (first difference at t = 1).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from scipy.spatial.transform import Rotation

from hoi_ros.arthoi.config import RenderConfig, StageIConfig
from hoi_ros.arthoi.flow import track_points
from hoi_ros.arthoi.gaussians import Gaussians, TorchCamera, render
from hoi_ros.arthoi.segmentation import visible_points
from hoi_ros.core.camera import Camera
from hoi_ros.core.generation import GenerationCancelled

TRACK_UNIT_PX = 10.0
CROP_MARGIN_PX = 3


def rotvec_to_matrix(r: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, differentiable (also at r = 0)."""
    theta2 = (r * r).sum()
    theta = torch.sqrt(theta2 + 1e-24)
    z = torch.zeros((), dtype=r.dtype)
    k = torch.stack([torch.stack([z, -r[2], r[1]]), torch.stack([r[2], z, -r[0]]), torch.stack([-r[1], r[0], z])])
    small = theta2 < 1e-12
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / (theta2 + 1e-24))
    return torch.eye(3, dtype=r.dtype) + a * k + b * (k @ k)


@dataclass
class StageIInputs:
    """What Stage I needs: the video, masks, camera, canonical Gaussians, weights and flow."""

    video: np.ndarray  # [T, H, W, 3] uint8
    object_masks: np.ndarray  # [T, H, W] bool, M^o(t)
    hand_masks: np.ndarray  # [T, H, W] bool, M^h(t)
    camera: Camera
    gaussians: Gaussians  # canonical, world frame at frame 0
    w_dynamic: np.ndarray  # [G]
    w_static: np.ndarray  # [G]
    pairs: np.ndarray  # [E, 2]
    flows: np.ndarray  # [T-1, H, W, 2], F_{t -> t+1}
    back_flows: np.ndarray | None = None  # [T-1, H, W, 2], F_{t+1 -> t} (forward-backward check)


@dataclass
class StageIResult:
    """Per-frame transforms of the moving part (world frame) and the optimisation's record."""

    transforms: np.ndarray  # [T, 4, 4], T^d(t)
    iterations: np.ndarray  # [T] iterations run per frame (0 for frame 0)
    final_loss: np.ndarray  # [T]
    loss_terms: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


class _Frames:
    """The video resized to the render resolution and cropped to the object's box, as tensors."""

    def __init__(self, inp: StageIInputs, rcfg: RenderConfig) -> None:
        cam = TorchCamera.from_camera(inp.camera, torch.float32, rcfg.scale)
        self.camera = cam
        size = (cam.width, cam.height)
        obj = np.stack([cv2.resize(m.astype(np.float32), size, interpolation=cv2.INTER_AREA) for m in inp.object_masks])
        hand = np.stack([cv2.resize(m.astype(np.float32), size, interpolation=cv2.INTER_AREA) for m in inp.hand_masks])
        img = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in inp.video]).astype(np.float32) / 255
        rows, cols = np.nonzero(obj.max(axis=0) > 0)
        r0, r1 = max(rows.min() - CROP_MARGIN_PX, 0), min(rows.max() + CROP_MARGIN_PX + 1, cam.height)
        c0, c1 = max(cols.min() - CROP_MARGIN_PX, 0), min(cols.max() + CROP_MARGIN_PX + 1, cam.width)
        self.pixels = cam.pixel_grid().reshape(cam.height, cam.width, 2)[r0:r1, c0:c1].reshape(-1, 2)
        crop = (slice(None), slice(r0, r1), slice(c0, c1))
        self.obj = torch.as_tensor(obj[crop].reshape(len(obj), -1))
        self.valid = torch.as_tensor((hand[crop] < 0.5).reshape(len(hand), -1).astype(np.float32))
        self.rgb = torch.as_tensor(img[crop].reshape(len(img), -1, 3))
        self.background = tuple(rcfg.background)


def gaussian_tracks(inp: StageIInputs, dynamic: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eq. 8's 2D targets: the dynamic Gaussians seen at frame 0, tracked through the video by the
    flow (``F_{t -> t+1}`` chained, with the forward-backward check when ``back_flows`` is given).

    Returns the Gaussians' indices ``[N]``, their tracks ``[T, N, 2]`` and visibility ``[T, N]``;
    tracking from frame 0 (as CoTracker does) keeps the targets independent of the estimate.
    """
    idx = np.flatnonzero(dynamic & visible_points(inp.gaussians.means.detach().numpy().astype(np.float64),
                                                  inp.camera))
    if len(idx) == 0:
        return idx, np.zeros((len(inp.video), 0, 2)), np.zeros((len(inp.video), 0), dtype=bool)
    uv, _ = inp.camera.project(inp.gaussians.means.detach().numpy().astype(np.float64)[idx])
    h, w = inp.object_masks.shape[1:]
    px = np.clip(np.round(uv).astype(int), 0, [w - 1, h - 1])
    on_object = inp.object_masks[0][px[:, 1], px[:, 0]]
    idx, uv = idx[on_object], uv[on_object]
    tracks, visible = track_points(inp.flows, uv, inp.object_masks, inp.back_flows)
    return idx, tracks, visible


class FrameObjective:
    """Stage I's objective at one frame (Eq. 5): ``lambda_r L_r + lambda_tr L_tr + lambda_a L_a +
    lambda_s L_s`` of the moving part's parameters ``p [6]`` (rotation vector about the dynamic
    Gaussians' canonical centroid, translation). Shared by :func:`optimise_articulation` and the
    joint optimisation (:mod:`hoi_ros.arthoi.joint`)."""

    def __init__(self, inp: StageIInputs, cfg: StageIConfig, rcfg: RenderConfig) -> None:
        self.cfg = cfg
        self.frames = _Frames(inp, rcfg)
        self.gaussians = inp.gaussians
        mu0 = inp.gaussians.means.detach()
        self.mu0 = mu0
        self.wd = torch.as_tensor(inp.w_dynamic, dtype=mu0.dtype)[:, None]
        self.ws = torch.as_tensor(inp.w_static, dtype=mu0.dtype)[:, None]
        self.dynamic = inp.w_dynamic > inp.w_static
        self.centre = mu0[torch.as_tensor(self.dynamic)].mean(0) if self.dynamic.any() else mu0.mean(0)
        self.pairs = torch.as_tensor(inp.pairs, dtype=torch.long).reshape(-1, 2)
        self.d0 = (mu0[self.pairs[:, 0]] - mu0[self.pairs[:, 1]]).norm(dim=1) if len(self.pairs) else None
        self.full_cam = TorchCamera.from_camera(inp.camera, torch.float32)
        self.track_idx, self.tracks, self.track_vis = gaussian_tracks(inp, self.dynamic)

    def move(self, p: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """``points [N, 3]`` (canonical) moved rigidly by ``T^d`` of the parameters ``p``."""
        rot = rotvec_to_matrix(p[:3])
        return (points - self.centre) @ rot.T + self.centre + p[3:]

    def means_of(self, p: torch.Tensor) -> torch.Tensor:
        return self.wd * self.move(p, self.mu0) + self.ws * self.mu0  # Eq. 4

    def track_targets(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        seen = self.track_vis[t]
        return (torch.as_tensor(self.track_idx[seen], dtype=torch.long),
                torch.as_tensor(self.tracks[t][seen], dtype=self.mu0.dtype))

    def loss(self, p: torch.Tensor, t: int, prev: torch.Tensor, prev2: torch.Tensor | None,
             targets: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, frames = self.cfg, self.frames
        tr_idx_t, tr_target_t = targets
        means = self.means_of(p)
        out = render(self.gaussians.with_means(means), frames.camera, frames.pixels, background=frames.background)
        obj, valid = frames.obj[t], frames.valid[t]
        colour = (((out["rgb"] - frames.rgb[t]) ** 2).sum(-1) * obj).sum() / obj.sum().clamp(min=1.0)
        sil = (((out["silhouette"] - obj) ** 2) * valid).sum() / valid.sum().clamp(min=1.0)
        loss_r = colour + cfg.beta_silhouette * sil  # Eq. 6
        loss = cfg.lambda_r * loss_r
        parts = {"L_r": float(loss_r.detach())}
        if cfg.use_tracking_loss and len(tr_idx_t):
            uv, _ = self.full_cam.project(means[tr_idx_t])
            loss_tr = (((uv - tr_target_t) / TRACK_UNIT_PX) ** 2).sum(-1).mean()  # Eq. 8
            loss = loss + cfg.lambda_tr * loss_tr
            parts["L_tr"] = float(loss_tr.detach())
        if cfg.use_articulation_loss and self.d0 is not None:
            d = (means[self.pairs[:, 0]] - means[self.pairs[:, 1]]).norm(dim=1)
            loss_a = ((d - self.d0) ** 2).sum()  # Eq. 7
            loss = loss + cfg.lambda_a * loss_a
            parts["L_a"] = float(loss_a.detach())
        if cfg.use_smoothness_loss:
            loss_s = ((p - 2 * prev + prev2) ** 2).sum() if prev2 is not None else ((p - prev) ** 2).sum()
            loss = loss + cfg.lambda_s * loss_s
            parts["L_s"] = float(loss_s.detach())
        return loss, parts

    def transforms(self, params: np.ndarray) -> np.ndarray:
        """``[T, 4, 4]`` world transforms ``T^d(t)`` of the parameters ``[T, 6]``."""
        n = len(params)
        transforms = np.tile(np.eye(4), (n, 1, 1))
        c = self.centre.numpy().astype(np.float64)
        for t in range(n):
            rot = Rotation.from_rotvec(params[t, :3]).as_matrix()
            transforms[t, :3, :3] = rot
            transforms[t, :3, 3] = c - rot @ c + params[t, 3:]
        return transforms


def early_stop(history: list[float], cfg: StageIConfig) -> bool:
    """No relative improvement of ``early_stop_rel`` over the last ``early_stop_patience`` values."""
    k = cfg.early_stop_patience
    return len(history) > k and history[-k - 1] - min(history[-k:]) < cfg.early_stop_rel * abs(history[-k - 1])


def optimise_articulation(inp: StageIInputs, cfg: StageIConfig | None = None, rcfg: RenderConfig | None = None,
                          progress: Callable[[int, int, int, float], None] | None = None,
                          cancel: threading.Event | None = None) -> StageIResult:
    """Stage I (Eq. 4-8) over all frames; ``progress(frame, frames, iterations, loss)`` after each frame.

    A set ``cancel`` event stops it within one iteration: :class:`~hoi_ros.core.generation.GenerationCancelled`.
    """
    cfg = cfg or StageIConfig()
    rcfg = rcfg or RenderConfig()
    start = time.perf_counter()
    objective = FrameObjective(inp, cfg, rcfg)
    dtype = objective.mu0.dtype
    n = inp.video.shape[0]
    params = np.zeros((n, 6))  # rotvec, translation about the centroid
    iters = np.zeros(n, dtype=int)
    final = np.zeros(n)
    terms: list[dict[str, float]] = [{}]
    for t in range(1, n):
        init = params[t - 1] + (params[t - 1] - params[t - 2] if t >= 2 else 0.0)
        p = torch.tensor(init, dtype=dtype, requires_grad=True)
        prev = torch.as_tensor(params[t - 1], dtype=dtype)
        prev2 = torch.as_tensor(params[t - 2], dtype=dtype) if t >= 2 else None
        targets = objective.track_targets(t)
        opt = torch.optim.Adam([p], lr=cfg.lr)
        history: list[float] = []
        best = (np.inf, init.copy(), {})
        for _ in range(cfg.iterations):
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled(f"Stage I cancelled at frame {t} of {n}")
            opt.zero_grad()
            loss, parts = objective.loss(p, t, prev, prev2, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p], cfg.grad_clip)
            value = float(loss.detach())
            if value < best[0]:
                best = (value, p.detach().numpy().copy(), parts)
            opt.step()
            history.append(value)
            if early_stop(history, cfg):
                break
        params[t], final[t], iters[t] = best[1], best[0], len(history)
        terms.append(best[2])
        if progress is not None:
            progress(t, n, len(history), best[0])
    return StageIResult(objective.transforms(params), iters, final, terms, time.perf_counter() - start)


@dataclass
class JointEstimate:
    """A joint read off the transforms (world frame at frame 0 = the estimated object frame)."""

    type: str  # revolute | prismatic
    axis: np.ndarray  # [3] unit
    origin: np.ndarray  # [3] a point on the axis (revolute); the part's centroid (prismatic)
    states: np.ndarray  # [T] rad or m, 0 at frame 0


def estimate_joint(transforms: np.ndarray, centroid: np.ndarray, revolute_min_deg: float = 5.0) -> JointEstimate:
    """Joint type, axis, origin and per-frame state from ``T^d(t)`` ``[T, 4, 4]`` (frame 0 = identity)."""
    tf = np.asarray(transforms, dtype=np.float64)
    rv = Rotation.from_matrix(tf[:, :3, :3]).as_rotvec()
    angles = np.linalg.norm(rv, axis=1)
    if np.rad2deg(angles.max()) < revolute_min_deg:
        trans = tf[:, :3, 3]
        if np.linalg.norm(trans, axis=1).max() < 1e-9:
            return JointEstimate("prismatic", np.array([1.0, 0.0, 0.0]), np.asarray(centroid, float), np.zeros(len(tf)))
        axis = np.linalg.svd(trans - 0.0, full_matrices=False)[2][0]
        if (trans @ axis).sum() < 0:
            axis = -axis
        return JointEstimate("prismatic", axis, np.asarray(centroid, float), trans @ axis)
    axis = (rv * angles[:, None]).sum(0)
    axis /= np.linalg.norm(axis)
    states = rv @ axis
    if states.sum() < 0:
        axis, states = -axis, -states
    use = angles > np.deg2rad(revolute_min_deg) / 2
    a = np.concatenate([np.eye(3) - tf[i, :3, :3] for i in np.flatnonzero(use)])
    b = np.concatenate([tf[i, :3, 3] for i in np.flatnonzero(use)])
    p = np.linalg.lstsq(a, b, rcond=None)[0]
    c = np.asarray(centroid, dtype=np.float64)
    origin = p + axis * ((c - p) @ axis)  # the point of the axis nearest the part
    return JointEstimate("revolute", axis, origin, states)
