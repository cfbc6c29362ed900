"""ArtHOI on one scene: flow-based part segmentation (§3.1), Stage I (§3.2, Eq. 4-8), then, with
an initial hand, Stage II (§3.2, Eq. 9-12; :mod:`hoi_ros.arthoi.stage2`), or both stages at once
(Table 5's joint optimisation, :mod:`hoi_ros.arthoi.joint`); the result as an
:class:`~hoi_ros.core.articulation.Articulation` and, for sim scenes, its errors.

Inputs (:class:`SceneInput`): the video, the object and hand masks ``M^o(t)``, ``M^h(t)`` (the
paper gets them from SAM; sim scenes give them from the renderer's segmentation), the camera and
the object's surface points at frame 0 (its "known geometry", App. A), never its parts: which
points move is what §3.1 finds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hoi_ros.arthoi.config import ArtHOIConfig
from hoi_ros.arthoi.flow import FlowModel, make_flow_model
from hoi_ros.arthoi.gaussians import canonical_gaussians, colors_from_image
from hoi_ros.arthoi.metrics import articulation_metrics, relative_motion
from hoi_ros.arthoi.segmentation import PartSegmentation, segment_parts, visible_points
from hoi_ros.arthoi.stage1 import JointEstimate, StageIInputs, StageIResult, estimate_joint, optimise_articulation
from hoi_ros.arthoi.stage2 import (
    ObjectTrack,
    StageIIResult,
    hand_metrics,
    part_moving,
    refine_hand,
    simulated_hand_estimate,
)
from hoi_ros.core.articulation import Articulation, Joint
from hoi_ros.core.camera import Camera
from hoi_ros.core.generation import GenerationCancelled
from hoi_ros.core.sequence import HOISequence


@dataclass
class SceneInput:
    """One monocular scene for ArtHOI (see the module docstring)."""

    video: np.ndarray  # [T, H, W, 3] uint8
    object_masks: np.ndarray  # [T, H, W] bool
    hand_masks: np.ndarray  # [T, H, W] bool
    camera: Camera
    surface_points: np.ndarray  # [G, 3] world, frame 0
    name: str = "object"
    hand_estimate: np.ndarray | None = None  # [T, 21, 3] initial hand (Stage II runs when given)
    truth: dict[str, Any] | None = None  # sim ground truth (for metrics only)
    fps: float = 12.0  # frames per second of the video


@dataclass
class ArtHOIResult:
    """Segmentation, Stage I, the joint and the articulation; ``metrics`` when the truth is known."""

    segmentation: PartSegmentation
    stage1: StageIResult
    joint: JointEstimate
    articulation: Articulation
    timings: dict[str, float]
    metrics: dict[str, float] = field(default_factory=dict)
    hand: np.ndarray | None = None  # [T, 21, 3] Stage II's hand
    stage2: StageIIResult | None = None


def scene_from_episode(episode: Any, num_points: int = 1200, seed: int = 0, hand_drift_m: float = 0.02
                       ) -> SceneInput:
    """A :class:`SceneInput` from an :class:`hoi_ros.sim.articulated.ArticulatedEpisode`.

    Masks come from the rendered segmentation (labels >= 2: the object, 1: the hand); the surface
    points are the object's geometry placed at its frame-0 pose; the initial hand is
    :func:`~hoi_ros.arthoi.stage2.simulated_hand_estimate` of the true keypoints (the substitute for
    a hand pose estimator). The truth (part poses, joint, the moving part's points, hand joints,
    the parts' boxes) is kept for the metrics.
    """
    from hoi_ros.sim.articulated import LABEL_FIRST_PART
    from hoi_ros.sim.scene import LABEL_HAND

    seq = episode.sequence
    art = seq.articulations[0]
    local, parts = episode.spec.surface_points(num_points, np.random.default_rng(seed))
    pose0 = art.part_poses[0][parts]  # [G, 4, 4]
    xyz0 = np.einsum("gij,gj->gi", pose0, np.concatenate([local, np.ones((len(local), 1))], 1))[:, :3]
    origin, axis = art.axis_world(0, 0)
    truth = {"part_poses": art.part_poses[:, 1], "joint_type": art.joints[0].type, "axis": axis, "origin": origin,
             "states": art.joint_state(0) - art.joint_state(0)[0], "point_parts": parts,
             "hand_joints": seq.hand_joints.astype(np.float64), "object_points": seq.object_points.astype(np.float64),
             "all_part_poses": art.part_poses,
             "boxes": [(i, np.asarray(g.pos), np.asarray(g.size)) for i, p in enumerate(episode.spec.parts)
                       for g in p.geoms]}
    hand = simulated_hand_estimate(truth["hand_joints"], drift_m=hand_drift_m, seed=seed)
    return SceneInput(seq.video, episode.segmentation >= LABEL_FIRST_PART, episode.segmentation == LABEL_HAND,
                      seq.camera, xyz0, art.object_name, hand, truth, float(seq.fps))


def inside_boxes(truth: dict[str, Any], t: int, points: np.ndarray) -> np.ndarray:
    """``[N]`` bool: which points are inside a box of the object at frame t (sim truth)."""
    out = np.zeros(len(points), dtype=bool)
    homog = np.concatenate([points, np.ones((len(points), 1))], 1)
    for part, centre, half in truth["boxes"]:
        local = (homog @ np.linalg.inv(truth["all_part_poses"][t, part]).T)[:, :3]
        out |= np.all(np.abs(local - centre) < half, axis=1)
    return out


class _CancellableFlow:
    """A flow model that raises :class:`GenerationCancelled` before a frame pair once ``cancel`` is set."""

    def __init__(self, model: FlowModel, cancel: threading.Event) -> None:
        self.model, self.cancel = model, cancel

    def __call__(self, image0: np.ndarray, image1: np.ndarray) -> np.ndarray:
        if self.cancel.is_set():
            raise GenerationCancelled("segmentation cancelled")
        return self.model(image0, image1)


def _check_cancel(cancel: threading.Event | None, where: str) -> None:
    if cancel is not None and cancel.is_set():
        raise GenerationCancelled(f"cancelled {where}")


def run_arthoi(scene: SceneInput, cfg: ArtHOIConfig | None = None,
               progress: Callable[[str, int, int, dict[str, float]], None] | None = None,
               cancel: threading.Event | None = None, reuse: ArtHOIResult | None = None) -> ArtHOIResult:
    """Segmentation (§3.1), Stage I and, with a hand estimate, Stage II (§3.2) on ``scene``.

    With ``cfg.optimisation == "joint"`` Stage I and Stage II run as one (Table 5's ablation,
    :mod:`hoi_ros.arthoi.joint`). ``reuse``: a result of this scene whose segmentation and Stage I
    are taken as they are (a variant that changes only Stage II; the caller checks the configs
    agree); its timings are copied.

    ``progress(stage, step, steps, info)`` reports along (stage: ``segmentation``, ``stage1`` per
    frame, ``stage2`` per iteration). A set ``cancel`` event stops the run within one flow frame
    pair, Stage I iteration or Stage II iteration by raising
    :class:`~hoi_ros.core.generation.GenerationCancelled`; without one (or while it is unset) the
    results are the same as without the argument.
    """
    cfg = cfg or ArtHOIConfig()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    _check_cancel(cancel, "before segmentation")
    if progress:
        progress("segmentation", 0, 1, {})
    if reuse is not None:
        seg = reuse.segmentation
        timings["segmentation_s"] = reuse.timings.get("segmentation_s", 0.0)
    else:
        flow_model = None
        if cancel is not None:
            flow_model = _CancellableFlow(make_flow_model(cfg.segmentation.flow_method,
                                                          cfg.segmentation.flow_weights), cancel)
        seg = segment_parts(scene.video, scene.object_masks, scene.camera, scene.surface_points, cfg.segmentation,
                            flow_model=flow_model)
        timings["segmentation_s"] = time.perf_counter() - t0
    _check_cancel(cancel, "after segmentation")
    if progress:
        progress("segmentation", 1, 1, {"dynamic_points": int(seg.points.dynamic.sum()), "pairs": len(seg.pairs)})
    t1 = time.perf_counter()
    vis = visible_points(scene.surface_points, scene.camera)
    colors = colors_from_image(scene.surface_points, scene.video[0], scene.camera, vis)
    gauss = canonical_gaussians(scene.surface_points, colors, cfg.render.sigma_m, cfg.render.opacity,
                                spacing_factor=cfg.render.sigma_spacing)
    inp = StageIInputs(scene.video, scene.object_masks, scene.hand_masks, scene.camera, gauss, seg.w_dynamic,
                       seg.w_static, seg.pairs, seg.flows, seg.back_flows)

    def frame_done(t: int, n: int, iters: int, loss: float) -> None:
        if progress:
            progress("stage1", t, n - 1, {"iterations": iters, "loss": loss})

    joint_run = None
    if cfg.optimisation == "joint":
        if scene.hand_estimate is None or np.asarray(scene.hand_estimate).shape[1] != 21:
            raise ValueError("optimisation joint: needs a one-hand estimate [T, 21, 3] (hand_estimate)")
        from hoi_ros.arthoi.joint import optimise_jointly

        joint_run = optimise_jointly(inp, scene.hand_estimate, cfg, scene.fps, frame_done, cancel)
        s1 = joint_run.stage1
        timings["stage1_s"] = time.perf_counter() - t1
    elif reuse is not None:
        s1 = reuse.stage1
        timings["stage1_s"] = reuse.timings.get("stage1_s", 0.0)
    else:
        s1 = optimise_articulation(inp, cfg.stage1, cfg.render, frame_done, cancel)
        timings["stage1_s"] = time.perf_counter() - t1
    dyn = seg.dynamic
    centroid = scene.surface_points[dyn].mean(0) if dyn.any() else scene.surface_points.mean(0)
    joint = estimate_joint(s1.transforms, centroid, cfg.stage1.revolute_min_deg)
    n = len(s1.transforms)
    art = Articulation(scene.name, ("static", "moving"),
                       (Joint("joint", joint.type, 0, 1, tuple(joint.axis), tuple(joint.origin)),),
                       joint.states.reshape(n, 1), np.stack([np.tile(np.eye(4), (n, 1, 1)), s1.transforms], axis=1))
    result = ArtHOIResult(seg, s1, joint, art, timings)
    if joint_run is not None:
        result.hand = joint_run.hand
        timings["stage2_s"] = 0.0  # inside stage1_s: both stages ran at once
    elif scene.hand_estimate is not None and cfg.stage2.enabled:
        t2 = time.perf_counter()
        steps = max(int(cfg.stage2.iterations), 1)
        every = max(steps // 20, 1)  # about 20 reports over Stage II's iterations
        if progress:
            progress("stage2", 0, steps, {})

        def iteration_done(i: int, n_iter: int) -> None:
            if progress and i % every == 0 and i < n_iter:
                progress("stage2", i, steps, {})

        result.stage2 = _stage2(scene, inp, s1, cfg, iteration_done, cancel)
        result.hand = result.stage2.joints
        timings["stage2_s"] = time.perf_counter() - t2
        if progress:
            progress("stage2", steps, steps, {})
    if scene.truth is not None:
        tr = scene.truth
        gt_motion = relative_motion(tr["part_poses"])
        moving_pts = scene.surface_points[np.asarray(tr["point_parts"]) == 1]
        result.metrics = articulation_metrics(s1.transforms, gt_motion, joint.axis, tr["axis"], joint.states,
                                              tr["states"], tr["joint_type"], moving_pts)
        result.metrics["joint_type_correct"] = float(joint.type == tr["joint_type"])
        truth_dyn = np.asarray(tr["point_parts"]) == 1
        result.metrics["gaussian_part_accuracy"] = float(np.mean(dyn == truth_dyn))
        if result.hand is not None:
            def inside(t: int, pts: np.ndarray) -> np.ndarray:
                return inside_boxes(tr, t, pts)

            for name, joints in (("hand_init", scene.hand_estimate), ("hand", result.hand)):
                hm = hand_metrics(joints, tr["hand_joints"], tr["object_points"], inside)
                result.metrics.update({f"{name}_{k}": v for k, v in hm.items()})
    return result


def object_track(inp: StageIInputs, transforms: np.ndarray, camera: Camera, moving_min_m: float,
                 cancel: threading.Event | None = None) -> ObjectTrack:
    """Stage I's object per frame for Stage II (:class:`~hoi_ros.arthoi.stage2.ObjectTrack`): the
    Gaussians moved by Eq. 4 with ``transforms [T, 4, 4]``, their depth and silhouette rendered at
    the video's resolution, and the frames at which the moving part moves."""
    import torch

    from hoi_ros.arthoi.gaussians import TorchCamera, render_image

    cam = TorchCamera.from_camera(camera, torch.float32)
    mu0 = inp.gaussians.means.detach().numpy().astype(np.float64)
    homog = np.concatenate([mu0, np.ones((len(mu0), 1))], 1)
    wd, ws = inp.w_dynamic[:, None], inp.w_static[:, None]
    depth, sil, pts = [], [], []
    for tf in transforms:
        _check_cancel(cancel, "in Stage II")
        means = wd * (homog @ tf.T)[:, :3] + ws * mu0  # Eq. 4
        with torch.no_grad():
            out = render_image(inp.gaussians.with_means(torch.as_tensor(means, dtype=torch.float32)), cam)
        depth.append(out["depth"].numpy())
        sil.append(out["silhouette"].numpy())
        pts.append(means)
    dynamic = inp.w_dynamic > inp.w_static
    points = np.stack(pts)
    return ObjectTrack(np.stack(depth), np.stack(sil), points, dynamic, part_moving(points, dynamic, moving_min_m))


def _stage2(scene: SceneInput, inp: StageIInputs, s1: StageIResult, cfg: ArtHOIConfig,
            progress: Callable[[int, int], None] | None = None, cancel: threading.Event | None = None
            ) -> StageIIResult:
    """Stage II on Stage I's object (:func:`object_track`), then the hand (Eq. 9-12)."""
    track = object_track(inp, s1.transforms, scene.camera, cfg.stage2.moving_min_m, cancel)
    estimate = np.asarray(scene.hand_estimate, dtype=np.float64)
    if estimate.shape[1] == 21:
        return refine_hand(estimate, scene.camera, track, scene.hand_masks, cfg.stage2, scene.fps, progress, cancel)
    # Two hands: each refined on its own; one hand mask holds both, so no silhouette term.
    one = replace(cfg.stage2, use_silhouette_loss=False)
    runs = [refine_hand(estimate[:, k:k + 21], scene.camera, track, None, one, scene.fps, progress, cancel)
            for k in (0, 21)]
    return StageIIResult(np.concatenate([r.joints for r in runs], 1), np.concatenate([r.params for r in runs], 1),
                         np.concatenate([r.targets for r in runs], 1), np.concatenate([r.confident for r in runs], 1),
                         {k: runs[0].terms.get(k, 0.0) + runs[1].terms.get(k, 0.0) for k in runs[0].terms})


def recovered_sequence(scene: SceneInput, result: ArtHOIResult, prompt: str = "",
                       metadata: dict[str, Any] | None = None) -> HOISequence:
    """The recovered scene as an :class:`~hoi_ros.core.sequence.HOISequence` with its articulation.

    Object points per frame are the canonical Gaussians moved by Eq. 4 (``w^d T^d(t) mu(0) + w^s
    mu(0)``, §3.2); each point's part is §3.1's (1 where ``w^d > w^s``, else 0). The hand is Stage
    II's (§3.2) when it ran, else the scene's estimate; a scene without a hand gets 21 joints at
    the origin and ``metadata["hand"] = "none"``.
    """
    mu0 = np.asarray(scene.surface_points, dtype=np.float64)
    homog = np.concatenate([mu0, np.ones((len(mu0), 1))], 1)
    wd, ws = result.segmentation.w_dynamic[:, None], result.segmentation.w_static[:, None]
    points = np.stack([wd * (homog @ tf.T)[:, :3] + ws * mu0 for tf in result.stage1.transforms])  # Eq. 4
    meta = dict(metadata or {})
    if result.hand is not None:
        hand, meta["hand"] = result.hand, "stage2"
    elif scene.hand_estimate is not None:
        hand, meta["hand"] = scene.hand_estimate, "estimate"
    else:
        hand, meta["hand"] = np.zeros((len(points), 21, 3)), "none"
    parts = result.segmentation.dynamic.astype(np.int16)
    art = result.articulation
    art = Articulation(art.object_name, art.parts, art.joints, art.joint_states, art.part_poses, parts)
    return HOISequence(hand_joints=hand, object_points=points, camera=scene.camera, fps=scene.fps, prompt=prompt,
                       video=scene.video, object_point_labels=np.zeros(len(mu0), dtype=np.uint8),
                       object_names=(art.object_name,), metadata=meta, articulations=(art,))
