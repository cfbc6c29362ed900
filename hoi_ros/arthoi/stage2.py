"""Stage II, the hand conditioned on the recovered object (ArtHOI §3.2, Eq. 9-12; Fig. 3c).

Eq. 9 without the foot-sliding term (a hand has no feet; the whole-body SMPL-X path with
``L_fs`` is :mod:`hoi_ros.bodies`'s): the hand's motion ``theta(t)`` is refined from an initial
per-frame estimate ``theta_v(t)`` by minimising, over the whole sequence at once,

``beta^h L_r^h + lambda_p L_p + lambda_s L_s + lambda_k L_k``

- **the hand** (``hand_model``): the estimate's 21 keypoints moved per frame by a rigid root
  (rotation about the wrist, translation) and then each by its own offset (:class:`HandOffsets`,
  the default), or driven by forward kinematics on the hand skeleton
  (:data:`hoi_ros.core.hand.BONES`), one rotation per bone composed from the wrist outwards
  (:class:`HandKinematics`: SMPL-X/MANO's parametrisation in miniature, bone lengths kept). Zero
  parameters give the estimate (``theta_v`` of Eq. 12).
- ``L_r^h`` (Eq. 10, silhouette term): the hand rendered as 3D Gaussians on its bones and palm
  (:func:`hand_proxy`), hidden where Stage I's object is in front of it (a soft depth test
  against the object's rendered depth), against the hand masks ``M^h(t)``; summed over pixels.
  The colour term of Eq. 10 is not used (a keypoint skeleton has no appearance to render).
- ``L_k`` (Eq. 11): confident contact keypoints onto 3D contact points ``K_j(t)`` lifted from
  their 2D positions with the object's geometry (Fig. 3c; :func:`lift_contacts`), refreshed every
  ``contact_refresh`` iterations from the current hand.
- ``L_p`` (Eq. 12): the parameters near the estimate's (all zero): rotations in radians, the
  root translation in units of ``prior_length_m``, joint offsets in units of
  ``joint_prior_length_m`` (in metres with weight 1 it held nothing against ``L_k``'s 1e4).
- ``L_s``: smoothness, the squared second difference of the joints over time (metres), measured
  as at ``smoothness_fps`` (30, App. C): App. A's weight is for 30 fps video.

Sums as the paper writes them (over frames, joints and pixels), App. A's weights (λ_s 1e4,
λ_k 1e4, λ_p 1), Adam 1e-3, 1000 iterations, gradient clipping 1.0. Camera parameters are not
optimised (App. A's 1e-4 for them): the scenes' cameras are known.

**Contact keypoints** (``K_t`` of Eq. 11, "confident contact keypoints"; the paper does not say
how confidence is decided). Here: a candidate keypoint (the fingertips) at a frame where Stage I's
moving part moves (no actuator drives an articulated part in these scenes: it moves only while
the hand pushes it) whose lifted point lies on the moving part and within ``contact_radius_m`` of
the keypoint's current position along its ray (before, without the motion test, frames of
approach and release took the hand onto the object). Lifting (``lift``): ``depth``, the paper's Fig.
3c: the object's rendered depth at the keypoint's pixel, minus the fingertip's radius along the
ray; ``ray`` (default): the point of the keypoint's camera ray where it comes within the
fingertip's radius of the object's surface (Stage I's Gaussians), the one nearest the keypoint's
current depth. For a surface facing the camera the two agree; for fingers on a knob's sides or
behind it (a grasp from above) the surface behind the fingertip is not the one it touches.
Measured on the sim scenes neither is clearly better (``docs/arthoi.md``).

On sim video the initial estimate is a documented substitute for a hand pose estimator,
:func:`simulated_hand_estimate`; on photo-like video, MediaPipe's
(:mod:`hoi_ros.arthoi.hand_estimate`).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from hoi_ros.arthoi.config import StageIIConfig
from hoi_ros.arthoi.gaussians import PIXEL_BLUR, TorchCamera
from hoi_ros.core.camera import Camera
from hoi_ros.core.generation import GenerationCancelled
from hoi_ros.core.hand import BONES, HAND_JOINT_NAMES

FINGERTIPS: tuple[int, ...] = tuple(i for i, n in enumerate(HAND_JOINT_NAMES) if n.endswith("tip"))
NUM_BONES = len(BONES)
# Bones by depth from the wrist: level k holds the k-th bone of every finger (BONES is ordered
# finger by finger, from the palm outwards).
_LEVELS: tuple[tuple[int, ...], ...] = tuple(tuple(4 * f + k for f in range(5)) for k in range(4))
PARAMS_PER_FRAME = 6 + 3 * NUM_BONES  # root rotation, root translation, one rotation per bone
OCCLUDER_FAR_M = 1e3  # depth of pixels without object (nothing hides the hand there)
MAX_SPLAT_RADIUS_PX = 8
SPLAT_SIGMAS = 2.5  # splat window half-size in footprints (the hand proxy)


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


class HandKinematics:
    """Forward kinematics of the 21-keypoint hand about an estimate ``[T, 21, 3]`` (``theta_v``).

    ``joints(params [T, 66])``: the wrist moved by the translation ``params[:, 3:6]``; every bone
    turned by its parent's accumulated rotation (the root rotation ``params[:, :3]`` at the wrist)
    times its own (``params[:, 6:]`` as 20 rotation vectors, :data:`hoi_ros.core.hand.BONES`
    order). Bone directions at zero parameters are the estimate's; bone lengths are the estimate's
    per frame, or with ``shared_lengths`` one per bone for the whole sequence (their median: a
    hand's shape does not change, as SMPL-X's ``beta`` is one per sequence), which removes the
    estimate's per-frame length noise (all-zero parameters then give the estimate with those
    lengths).
    """

    def __init__(self, estimate: np.ndarray | torch.Tensor, shared_lengths: bool = False) -> None:
        est = torch.as_tensor(estimate, dtype=torch.float64)
        if est.ndim != 3 or est.shape[1:] != (21, 3):
            raise ValueError(f"hand estimate: expected [T, 21, 3], got {tuple(est.shape)}")
        self.estimate = est
        bones = torch.as_tensor(BONES, dtype=torch.long)
        offsets = est[:, bones[:, 1]] - est[:, bones[:, 0]]  # [T, 20, 3]
        if shared_lengths:
            length = offsets.norm(dim=-1, keepdim=True)
            offsets = offsets / length.clamp(min=1e-9) * length.median(dim=0, keepdim=True).values
        self.offsets = offsets

    @property
    def frames(self) -> int:
        return int(self.estimate.shape[0])

    def zero_params(self) -> torch.Tensor:
        return torch.zeros(self.frames, PARAMS_PER_FRAME, dtype=torch.float64)

    def joints(self, params: torch.Tensor) -> torch.Tensor:
        t_n = params.shape[0]
        root = rotvecs_to_matrices(params[:, :3])  # [T, 3, 3]
        local = rotvecs_to_matrices(params[:, 6:].reshape(-1, 3)).reshape(t_n, NUM_BONES, 3, 3)
        pos: list[torch.Tensor | None] = [None] * 21
        rot: list[torch.Tensor | None] = [None] * 21
        pos[0], rot[0] = self.estimate[:, 0] + params[:, 3:6], root
        for level in _LEVELS:
            parents = [BONES[b][0] for b in level]
            children = [BONES[b][1] for b in level]
            r_parent = torch.stack([rot[p] for p in parents], 1)  # [T, 5, 3, 3]
            r_child = r_parent @ local[:, list(level)]
            bone = (r_child @ self.offsets[:, list(level), :, None])[..., 0]
            p_child = torch.stack([pos[p] for p in parents], 1) + bone
            for i, c in enumerate(children):
                pos[c], rot[c] = p_child[:, i], r_child[:, i]
        return torch.stack(pos, 1)


class HandOffsets:
    """The 21 keypoints about an estimate ``[T, 21, 3]`` moved rigidly per frame and then each by
    its own offset: ``params [T, 69]`` = root rotation about the wrist (3), translation (3), one
    offset per joint (63, metres). All-zero parameters give the estimate."""

    def __init__(self, estimate: np.ndarray | torch.Tensor) -> None:
        est = torch.as_tensor(estimate, dtype=torch.float64)
        if est.ndim != 3 or est.shape[1:] != (21, 3):
            raise ValueError(f"hand estimate: expected [T, 21, 3], got {tuple(est.shape)}")
        self.estimate = est

    @property
    def frames(self) -> int:
        return int(self.estimate.shape[0])

    def zero_params(self) -> torch.Tensor:
        return torch.zeros(self.frames, 6 + 63, dtype=torch.float64)

    def joints(self, params: torch.Tensor) -> torch.Tensor:
        root = rotvecs_to_matrices(params[:, :3])
        wrist = self.estimate[:, :1]
        moved = (self.estimate - wrist) @ root.transpose(1, 2) + wrist + params[:, None, 3:6]
        return moved + params[:, 6:].reshape(-1, 21, 3)


def _proxy_weights() -> tuple[np.ndarray, np.ndarray]:
    """Linear map ``[N, 21]`` from the keypoints to the hand proxy's Gaussian centres and each
    centre's kind (0 finger, 1 palm): four samples per bone, the wrist, four per palm triangle."""
    rows, kind = [], []
    for parent, child in BONES:
        for f in (0.25, 0.5, 0.75, 1.0):
            w = np.zeros(21)
            w[parent], w[child] = 1.0 - f, f
            rows.append(w)
            kind.append(0)
    w = np.zeros(21)
    w[0] = 1.0
    rows.append(w)
    kind.append(1)
    for tri in ((0, 1, 5), (0, 5, 9), (0, 9, 13), (0, 13, 17)):
        for bary in ((1 / 3, 1 / 3, 1 / 3), (0.6, 0.2, 0.2), (0.2, 0.6, 0.2), (0.2, 0.2, 0.6)):
            w = np.zeros(21)
            w[list(tri)] = bary
            rows.append(w)
            kind.append(1)
    return np.stack(rows), np.asarray(kind)


PROXY_WEIGHTS, PROXY_KIND = _proxy_weights()


def hand_proxy(joints: torch.Tensor, cfg: StageIIConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The hand as isotropic 3D Gaussians: centres ``[T, N, 3]`` on its bones and palm, sigma ``[N]``."""
    w = torch.as_tensor(PROXY_WEIGHTS, dtype=joints.dtype)
    sigma = torch.as_tensor(np.where(PROXY_KIND == 0, cfg.finger_sigma_m, cfg.palm_sigma_m), dtype=joints.dtype)
    return torch.einsum("nj,tjc->tnc", w, joints), sigma


def hand_silhouette(centres: torch.Tensor, sigma: torch.Tensor, camera: TorchCamera, occluder_depth: torch.Tensor,
                    crop: tuple[int, int, int, int], opacity: float, softness_m: float) -> torch.Tensor:
    """``S(G^h(t))`` of Eq. 10 over a crop ``(r0, r1, c0, c1)``: ``[T, r1 - r0, c1 - c0]``.

    Each Gaussian splats ``opacity * exp(-d^2 / 2 s^2)`` onto the pixels within
    :data:`SPLAT_SIGMAS` footprints (``s = f sigma / z``, as
    :func:`hoi_ros.arthoi.gaussians.render`), times a soft depth test against the object in front
    (``sigmoid((z_object - z) / softness_m)``, ``occluder_depth`` ``[T, h, w]`` over the same
    crop); the silhouette is ``1 - prod(1 - alpha)`` (compositing order does not matter for
    coverage). Gaussians of one size are splatted together (one window size per size).
    """
    r0, r1, c0, c1 = crop
    h, w = r1 - r0, c1 - c0
    t_n = centres.shape[0]
    uv, z = camera.project(centres)  # [T, N, 2], [T, N]
    z = z.clamp(min=1e-3)
    occ = occluder_depth.reshape(-1)
    acc = torch.zeros(t_n * h * w + 1, dtype=centres.dtype)  # the last bin collects splats off the crop
    frame = torch.arange(t_n).reshape(t_n, 1, 1) * (h * w)
    for size in torch.unique(sigma):
        sel = torch.nonzero(sigma == size).reshape(-1)
        uv_g, z_g = uv[:, sel], z[:, sel]  # [T, n, 2], [T, n]
        s2 = (camera.K[1, 1] * size / z_g) ** 2 + PIXEL_BLUR**2
        radius = min(MAX_SPLAT_RADIUS_PX, max(1, int(np.ceil(SPLAT_SIGMAS * float(s2.detach().max().sqrt())))))
        off = torch.arange(-radius, radius + 1)
        oy, ox = torch.meshgrid(off, off, indexing="ij")
        centre = torch.round(uv_g.detach()).long()
        px = centre[..., 0:1] + ox.reshape(1, 1, -1)  # [T, n, K] image pixels
        py = centre[..., 1:2] + oy.reshape(1, 1, -1)
        qx, qy = px - c0, py - r0
        inside = (qx >= 0) & (qx < w) & (qy >= 0) & (qy < h)
        flat = torch.where(inside, frame + qy.clamp(0, h - 1) * w + qx.clamp(0, w - 1), t_n * h * w)
        dx = px.to(uv.dtype) - uv_g[..., 0:1]
        dy = py.to(uv.dtype) - uv_g[..., 1:2]
        alpha = opacity * torch.exp(-0.5 * (dx * dx + dy * dy) / s2[..., None])
        seen = torch.sigmoid((torch.take(occ, flat.clamp(max=len(occ) - 1)) - z_g[..., None]) / softness_m)
        acc = acc.index_add(0, flat.reshape(-1), torch.log1p(-(alpha * seen).clamp(max=0.99)).reshape(-1))
    return (1.0 - torch.exp(acc[:-1])).reshape(t_n, h, w)


@dataclass
class ObjectTrack:
    """Stage I's object as Stage II reads it, per frame: rendered depth (camera z, 0 where none)
    and silhouette ``[T, H, W]``, the Gaussians moved by Eq. 4 ``[T, G, 3]``, which Gaussians are
    the moving part ``[G]`` and at which frames it moves ``[T]``."""

    depth: np.ndarray
    silhouette: np.ndarray
    points: np.ndarray
    dynamic: np.ndarray
    moving: np.ndarray


def part_moving(points: np.ndarray, dynamic: np.ndarray, min_m: float, fill_frames: int = 2) -> np.ndarray:
    """``[T]`` bool: frames at which the moving part's Gaussians move more than ``min_m`` per frame
    (central difference, mean over the part), with gaps of up to ``fill_frames`` frames filled."""
    pts = np.asarray(points)[:, np.asarray(dynamic, bool)]
    t_n = len(pts)
    if pts.shape[1] == 0 or t_n < 2:
        return np.zeros(t_n, dtype=bool)
    step = np.linalg.norm(np.diff(pts, axis=0), axis=-1).mean(1)  # [T-1]
    speed = np.empty(t_n)
    speed[0], speed[-1] = step[0], step[-1]
    speed[1:-1] = 0.5 * (step[1:] + step[:-1])
    moving = speed > min_m
    idx = np.flatnonzero(moving)
    for a, b in itertools.pairwise(idx):
        if 1 < b - a <= fill_frames + 1:
            moving[a:b] = True
    return moving


def _ray_touch(camera_centre: np.ndarray, point: np.ndarray, tree, radius: float, search: float, step: float
               ) -> tuple[np.ndarray | None, int]:
    """The point of the ray from the camera through ``point`` where it comes within ``radius`` of the
    object (its Gaussians in ``tree``), nearest ``point``'s own distance along the ray; and the index
    of the object Gaussian it touches (-1 when none within ``search``)."""
    d = point - camera_centre
    s0 = float(np.linalg.norm(d))
    d = d / s0
    s = s0 + np.arange(-search, search + 0.5 * step, step)
    dist, idx = tree.query(camera_centre + s[:, None] * d)
    near = dist <= radius
    if not near.any():
        return None, -1
    # The ends of each run of "within radius" samples: entering the object's skin from the camera
    # side (the front surface) or leaving it (the back surface). A run that reaches the window's
    # edge has an end outside the window: that end is not a candidate.
    edges = np.flatnonzero(np.diff(near.astype(np.int8)))
    candidates = [i + 1 if near[i + 1] else i for i in edges]
    if not candidates:
        return None, -1
    best = min(candidates, key=lambda i: abs(s[i] - s0))
    return camera_centre + s[best] * d, int(idx[best])


def lift_contacts(joints: np.ndarray, camera: Camera, track: ObjectTrack, cfg: StageIIConfig
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Fig. 3c: ``(K [T, J, 3], confident [T, J] bool)`` for the hand ``joints [T, J, 3]``.

    See the module docstring for the confident set and the two liftings (``cfg.lift``).
    """
    from scipy.spatial import cKDTree

    if cfg.lift not in ("ray", "depth"):
        raise ValueError(f"stage2.lift: expected 'ray' or 'depth', got {cfg.lift!r}")
    t_n, j_n = joints.shape[:2]
    targets = np.zeros_like(joints, dtype=np.float64)
    ok = np.zeros((t_n, j_n), dtype=bool)
    cands = [j for j in FINGERTIPS if j < j_n] if cfg.fingertips_only else list(range(j_n))
    centre = np.linalg.inv(camera.extrinsics)[:3, 3]
    h, w = track.depth.shape[1:]
    dynamic = np.asarray(track.dynamic, bool)
    for t in np.flatnonzero(track.moving):
        tree = cKDTree(track.points[t])
        for j in cands:
            p = np.asarray(joints[t, j], dtype=np.float64)
            ray = p - centre
            s0 = float(np.linalg.norm(ray))
            ray /= s0
            if cfg.lift == "ray":
                k, g = _ray_touch(centre, p, tree, cfg.fingertip_radius_m, cfg.contact_radius_m, cfg.ray_step_m)
                if k is None:
                    continue
            else:
                uv, _ = camera.project(p[None])
                if not np.all(np.isfinite(uv)):
                    continue
                u, v = (int(np.rint(x)) for x in uv[0])
                if not (0 <= u < w and 0 <= v < h) or track.silhouette[t, v, u] <= cfg.silhouette_threshold:
                    continue
                surface = camera.backproject(uv[0], np.asarray(track.depth[t, v, u]))
                k = surface - cfg.fingertip_radius_m * ray
                g = int(tree.query(surface)[1])
            if abs(float(np.linalg.norm(k - centre)) - s0) > cfg.contact_radius_m or not dynamic[g]:
                continue
            targets[t, j], ok[t, j] = k, True
    return targets, ok


def _crop(hand_masks: np.ndarray, estimate: np.ndarray, camera: Camera, margin: int) -> tuple[int, int, int, int]:
    """One box over all frames holding the hand masks and the estimate's projection, plus a margin."""
    uv, _ = camera.project(np.asarray(estimate, dtype=np.float64).reshape(-1, 3))
    uv = uv[np.all(np.isfinite(uv), axis=1)]
    rows, cols = np.nonzero(np.asarray(hand_masks).any(0))
    us = np.concatenate([cols, uv[:, 0]]) if len(uv) else cols.astype(float)
    vs = np.concatenate([rows, uv[:, 1]]) if len(uv) else rows.astype(float)
    if len(us) == 0:
        return 0, camera.height, 0, camera.width
    r0 = int(np.clip(np.floor(vs.min()) - margin, 0, camera.height - 1))
    r1 = int(np.clip(np.ceil(vs.max()) + margin + 1, r0 + 1, camera.height))
    c0 = int(np.clip(np.floor(us.min()) - margin, 0, camera.width - 1))
    c1 = int(np.clip(np.ceil(us.max()) + margin + 1, c0 + 1, camera.width))
    return r0, r1, c0, c1


@dataclass
class StageIIResult:
    """The refined hand ``[T, 21, 3]``, its parameters ``[T, 66]``, the last contact keypoints and
    the final value of each term (weighted sums are ``lambda * term``)."""

    joints: np.ndarray
    params: np.ndarray
    targets: np.ndarray
    confident: np.ndarray
    terms: dict[str, float] = field(default_factory=dict)


def prior_loss(params: torch.Tensor, length_m: float, joint_length_m: float | None = None) -> torch.Tensor:
    """``L_p`` of Eq. 12 about the estimate (its parameters are all zero): rotations in radians, the
    root translation in units of ``length_m``; per-joint offsets (:class:`HandOffsets`, when
    ``joint_length_m`` is given) in units of ``joint_length_m``."""
    rest = params[:, 6:] if joint_length_m is None else params[:, 6:] / joint_length_m
    return (params[:, :3] ** 2).sum() + ((params[:, 3:6] / length_m) ** 2).sum() + (rest**2).sum()


def smoothness_loss(joints: torch.Tensor, fps: float = 30.0, reference_fps: float = 30.0) -> torch.Tensor:
    """``L_s``: the squared second difference of the joints over time, summed (metres^2), as it would
    be at ``reference_fps``: the second difference at ``fps`` times ``(fps / reference_fps)^2``, so
    the same acceleration costs the same at any frame rate (App. A's weight is for 30 fps video)."""
    if joints.shape[0] < 3:
        return joints.new_zeros(())
    scale = (float(fps) / float(reference_fps)) ** 2
    return (((joints[2:] - 2 * joints[1:-1] + joints[:-2]) * scale) ** 2).sum()


def contact_loss(joints: torch.Tensor, targets: torch.Tensor, confident: torch.Tensor) -> torch.Tensor:
    """``L_k`` of Eq. 11: the squared distance of each confident keypoint to its 3D contact point."""
    return (((joints - targets) ** 2).sum(-1) * confident).sum()


def refine_hand(estimate: np.ndarray, camera: Camera, track: ObjectTrack, hand_masks: np.ndarray | None,
                cfg: StageIIConfig | None = None, fps: float = 30.0, progress: Callable[[int, int], None] | None = None,
                cancel: threading.Event | None = None) -> StageIIResult:
    """Eq. 9 (without ``L_fs``) over the whole sequence; see the module docstring.

    ``cfg.use_contact_loss`` / ``use_smoothness_loss`` / ``use_silhouette_loss`` switch terms off
    (ablations); without ``hand_masks`` the silhouette term is off. ``progress(done, iterations)``
    after each iteration; a set ``cancel`` stops within one iteration
    (:class:`~hoi_ros.core.generation.GenerationCancelled`).
    """
    cfg = cfg or StageIIConfig()
    if cfg.hand_model not in ("kinematic", "offsets"):
        raise ValueError(f"stage2.hand_model: expected 'kinematic' or 'offsets', got {cfg.hand_model!r}")
    kin = (HandKinematics(estimate, cfg.shared_bone_lengths) if cfg.hand_model == "kinematic"
           else HandOffsets(estimate))
    joint_length = cfg.joint_prior_length_m if cfg.hand_model == "offsets" else None
    t_n = kin.frames
    params = kin.zero_params().requires_grad_(True)
    opt = torch.optim.Adam([params], lr=cfg.lr)
    use_sil = cfg.use_silhouette_loss and hand_masks is not None and cfg.beta_silhouette > 0
    if use_sil:
        crop = _crop(hand_masks, estimate, camera, cfg.crop_margin_px)
        r0, r1, c0, c1 = crop
        tcam = TorchCamera.from_camera(camera, torch.float32)
        mask = torch.as_tensor(np.asarray(hand_masks)[:, r0:r1, c0:c1], dtype=torch.float32)
        occ = np.where(track.silhouette > cfg.silhouette_threshold, track.depth, OCCLUDER_FAR_M)[:, r0:r1, c0:c1]
        occluder = torch.as_tensor(occ, dtype=torch.float32)
    targets_np = np.zeros((t_n, 21, 3))
    confident_np = np.zeros((t_n, 21), dtype=bool)
    tgt = torch.zeros(t_n, 21, 3, dtype=torch.float64)
    conf = torch.zeros(t_n, 21, dtype=torch.float64)
    terms: dict[str, float] = {}
    for i in range(cfg.iterations):
        if cancel is not None and cancel.is_set():
            raise GenerationCancelled(f"Stage II cancelled at iteration {i} of {cfg.iterations}")
        opt.zero_grad()
        joints = kin.joints(params)
        since = i - cfg.contact_start
        if cfg.use_contact_loss and since >= 0 and (since == 0 or (cfg.contact_refresh > 0
                                                                    and since % cfg.contact_refresh == 0)):
            targets_np, confident_np = lift_contacts(joints.detach().numpy(), camera, track, cfg)
            tgt = torch.as_tensor(targets_np, dtype=torch.float64)
            conf = torch.as_tensor(confident_np, dtype=torch.float64)
        loss_p = prior_loss(params, cfg.prior_length_m, joint_length)
        loss = cfg.lambda_p * loss_p
        terms = {"L_p": float(loss_p.detach())}
        if cfg.use_contact_loss:
            loss_k = contact_loss(joints, tgt, conf)
            loss = loss + cfg.lambda_k * loss_k
            terms["L_k"] = float(loss_k.detach())
        if cfg.use_smoothness_loss:
            loss_s = smoothness_loss(joints, fps, cfg.smoothness_fps)
            loss = loss + cfg.lambda_s * loss_s
            terms["L_s"] = float(loss_s.detach())
        if use_sil:
            centres, sigma = hand_proxy(joints.float(), cfg)
            sil = hand_silhouette(centres, sigma, tcam, occluder, crop, cfg.proxy_opacity, cfg.occlusion_softness_m)
            loss_r = ((sil - mask) ** 2).sum()  # Eq. 10, silhouette term
            loss = loss + cfg.beta_silhouette * loss_r
            terms["L_r_sil"] = float(loss_r.detach())
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_([params], cfg.grad_clip)
        opt.step()
        if progress is not None:
            progress(i + 1, cfg.iterations)
    with torch.no_grad():
        out = kin.joints(params).numpy()
    terms["contact_keypoints"] = float(confident_np.sum())
    terms["contact_frames"] = float(confident_np.any(1).sum())
    return StageIIResult(out, params.detach().numpy(), targets_np, confident_np, terms)


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
