"""The "joint optimisation" ablation of ArtHOI's Table 5: both stages at once.

The paper's two stages are decoupled: Stage I recovers the object's articulation (Eq. 4-8), then
Stage II refines the human on the recovered object (Eq. 9-12). Table 5's "Joint Opt." row
optimises object articulation and human motion together; the paper gives no more detail than
that. Here, per frame (Stage I's schedule: frames in order, each started from the
constant-velocity prediction, Adam with early stop and gradient clipping 1.0), the moving part's
transform ``T^d(t)`` and the hand at that frame are optimised **together** with **all** losses:

``Eq. 5 (L_r^o, L_tr, L_a, L_s of the part) + Eq. 9 at frame t (hand silhouette L_r^h, L_p,
L_s of the hand against the two frames before, L_k)``

with both stages' weights (App. A), Stage I's learning rate for the part and Stage II's for the
hand, and Stage I's early stop watching the part's loss (Eq. 5). The coupling is what the
decoupled method avoids: the contact points of ``L_k`` are lifted from the object (Fig. 3c) and
**ride on the moving part** (its transform is a variable here), so ``L_k`` pulls the part towards
the hand estimate as much as the hand towards the part; the object in front of the hand (the
silhouette's occlusion) is the one predicted at the frame's start. What the joint variant gives up
by construction: the hand's whole-sequence smoothness (only the two frames before are known when a
frame is optimised) and Stage II's 1000 iterations over the whole sequence.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from hoi_ros.arthoi.config import ArtHOIConfig
from hoi_ros.arthoi.gaussians import TorchCamera, render_image
from hoi_ros.arthoi.stage1 import FrameObjective, StageIInputs, StageIResult, early_stop, rotvec_to_matrix
from hoi_ros.arthoi.stage2 import (
    OCCLUDER_FAR_M,
    HandKinematics,
    HandOffsets,
    ObjectTrack,
    _crop,
    contact_loss,
    hand_proxy,
    hand_silhouette,
    lift_contacts,
    prior_loss,
)
from hoi_ros.core.generation import GenerationCancelled


@dataclass
class JointResult:
    """Stage I's record for the part (``stage1``) and the hand ``[T, 21, 3]`` of the joint optimisation."""

    stage1: StageIResult
    hand: np.ndarray
    contact_keypoints: int


def optimise_jointly(inp: StageIInputs, estimate: np.ndarray, cfg: ArtHOIConfig, fps: float = 30.0,
                     progress: Callable[[int, int, int, float], None] | None = None,
                     cancel: threading.Event | None = None) -> JointResult:
    """The part's transforms and the hand, frame by frame, with all losses (see the module docstring).

    ``estimate``: the initial hand ``[T, 21, 3]``; ``progress(frame, frames, iterations, loss)``
    after each frame; a set ``cancel`` stops within one iteration.
    """
    c1, c2 = cfg.stage1, cfg.stage2
    start = time.perf_counter()
    objective = FrameObjective(inp, c1, cfg.render)
    dtype = objective.mu0.dtype
    camera = inp.camera
    n = inp.video.shape[0]
    est = np.asarray(estimate, dtype=np.float64)
    model_cls = HandKinematics if c2.hand_model == "kinematic" else HandOffsets
    joint_length = c2.joint_prior_length_m if c2.hand_model == "offsets" else None
    use_sil = c2.use_silhouette_loss and c2.beta_silhouette > 0
    crop = _crop(inp.hand_masks, est, camera, c2.crop_margin_px)
    r0, r1, c0, c1_ = crop
    tcam = TorchCamera.from_camera(camera, torch.float32)
    masks = torch.as_tensor(np.asarray(inp.hand_masks)[:, r0:r1, c0:c1_], dtype=torch.float32)
    dynamic = objective.dynamic
    scale = (float(fps) / c2.smoothness_fps) ** 2
    params = np.zeros((n, 6))
    hands = np.zeros_like(est)
    iters = np.zeros(n, dtype=int)
    final = np.zeros(n)
    terms: list[dict[str, float]] = []
    contacts = 0
    for t in range(n):
        init = np.zeros(6)
        if t >= 1:
            init = params[t - 1] + (params[t - 1] - params[t - 2] if t >= 2 else 0.0)
        p_obj = torch.tensor(init, dtype=dtype, requires_grad=t >= 1)
        kin = model_cls(est[t:t + 1])
        p_hand = kin.zero_params().requires_grad_(True)
        with torch.no_grad():
            means0 = objective.means_of(torch.as_tensor(init, dtype=dtype))
            out = render_image(objective.gaussians.with_means(means0), tcam)
        depth, sil = out["depth"].numpy(), out["silhouette"].numpy()
        occ = np.where(sil > c2.silhouette_threshold, depth, OCCLUDER_FAR_M)[None, r0:r1, c0:c1_]
        occluder = torch.as_tensor(occ, dtype=torch.float32)
        # L_k's contact points, lifted from the predicted object and attached to the moving part.
        moved = 0.0
        if t >= 1 and dynamic.any():
            before = objective.means_of(torch.as_tensor(params[t - 1], dtype=dtype)).numpy()
            moved = float(np.linalg.norm((means0.numpy() - before)[dynamic], axis=1).mean())
        track = ObjectTrack(depth[None], sil[None], means0.numpy().astype(np.float64)[None], dynamic,
                            np.array([t >= 1 and moved > c2.moving_min_m]))
        anchors = torch.zeros(0, 3, dtype=dtype)
        keypoints: list[int] = []
        if c2.use_contact_loss:
            k_pts, ok = lift_contacts(est[t:t + 1], camera, track, c2)
            keypoints = list(np.flatnonzero(ok[0]))
            if keypoints:
                # Canonical coordinates of the lifted points: undo the predicted transform.
                k = torch.as_tensor(k_pts[0, keypoints], dtype=dtype)
                rot = rotvec_to_matrix(torch.as_tensor(init[:3], dtype=dtype))
                anchors = (k - objective.centre - torch.as_tensor(init[3:], dtype=dtype)) @ rot + objective.centre
            contacts += len(keypoints)
        prev = torch.as_tensor(params[t - 1], dtype=dtype) if t >= 1 else None
        prev2 = torch.as_tensor(params[t - 2], dtype=dtype) if t >= 2 else None
        h1 = torch.as_tensor(hands[t - 1], dtype=torch.float64) if t >= 1 else None
        h2 = torch.as_tensor(hands[t - 2], dtype=torch.float64) if t >= 2 else None
        targets = objective.track_targets(t)
        groups = [{"params": [p_hand], "lr": c2.lr}] + ([{"params": [p_obj], "lr": c1.lr}] if t >= 1 else [])
        opt = torch.optim.Adam(groups)
        history: list[float] = []
        best = (np.inf, init.copy(), est[t].copy(), {})
        for _ in range(c1.iterations):
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled(f"joint optimisation cancelled at frame {t} of {n}")
            opt.zero_grad()
            parts: dict[str, float] = {}
            loss = torch.zeros((), dtype=torch.float64)
            loss_o = None
            if t >= 1:
                loss_o, parts = objective.loss(p_obj, t, prev, prev2, targets)
                loss = loss + loss_o.double()
            joints = kin.joints(p_hand)  # [1, 21, 3]
            loss_p = prior_loss(p_hand, c2.prior_length_m, joint_length)
            loss = loss + c2.lambda_p * loss_p
            if c2.use_smoothness_loss and h2 is not None:
                loss = loss + c2.lambda_s * (((joints[0] - 2 * h1 + h2) * scale) ** 2).sum()
            if keypoints:
                k_now = objective.move(p_obj, anchors).double() if t >= 1 else anchors.double()
                tgt = torch.zeros(1, 21, 3, dtype=torch.float64)
                tgt[0, keypoints] = k_now
                conf = torch.zeros(1, 21, dtype=torch.float64)
                conf[0, keypoints] = 1.0
                loss = loss + c2.lambda_k * contact_loss(joints, tgt, conf)
            if use_sil:
                centres, sigma = hand_proxy(joints.float(), c2)
                s = hand_silhouette(centres, sigma, tcam, occluder, crop, c2.proxy_opacity, c2.occlusion_softness_m)
                loss = loss + c2.beta_silhouette * ((s - masks[t:t + 1]) ** 2).sum()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p_hand] + ([p_obj] if t >= 1 else []), c1.grad_clip)
            value = float(loss.detach())
            if value < best[0]:
                best = (value, p_obj.detach().numpy().copy(), joints.detach().numpy()[0].copy(), parts)
            opt.step()
            # Stage I's stopping rule on the part's own loss (Eq. 5), as in Stage I; at frame 0 (no
            # part to move) on the hand's.
            history.append(float(loss_o.detach()) if loss_o is not None else value)
            if early_stop(history, c1):
                break
        params[t], hands[t], final[t], iters[t] = best[1], best[2], best[0], len(history)
        terms.append(best[3])
        if progress is not None and t >= 1:
            progress(t, n, len(history), best[0])
    s1 = StageIResult(objective.transforms(params), iters, final, terms, time.perf_counter() - start)
    return JointResult(s1, hands, contacts)

