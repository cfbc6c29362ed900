"""Closing the loop: articulated sim → PAM video → ArtHOI, both recoveries against the sim's truth.

    python -m hoi_ros.pipelines.sim_pam_arthoi --sim door [--action open] [--model models/pam_small] \
        [--steps N] [--out DIR] [--arthoi-config config/models/arthoi/fast.yaml] [--camera arthoi|ego] \
        [--reference] [--no-rescale]

1. **Sim** (:mod:`hoi_ros.sim.articulated`): the hand opens (or closes) the articulated object
   through contact, rendered at PAM's clip: the model config's ``clip`` gives the frame count, the
   size (the sim renders at exactly that size, no resizing) and the fps. The episode's fixed phases
   (approach, descend, close, release, retreat) take :data:`SIM_PHASES_S`; the operating phase is
   stretched so that the whole episode spans the clip at the clip's fps (:func:`clip_timing`). The
   small PAM's clip (17 frames at 2.5 fps = 6.4 s) gets a 4.5 s operating phase and the sim records
   at 2.5 fps, i.e. the clip is the episode in real time. A clip too short for the fixed phases
   (the tiny test config: 9 frames at 8 fps = 1 s) keeps the default 2.4 s operating phase and the
   sim records ``num_frames`` frames over the whole episode: a time-lapse (``time_scale`` > 1 in
   the result).
2. **PAM's conditions** from the sim's render: metric depth as is; segmentation mapped to the
   labels PAM was trained with (:func:`pam_segmentation`: PAM's sim data label 1 the hand, 2 the
   manipulated object and 3 a second, static object such as a place target, so the articulated
   scene's moving part becomes 2 and its base 3); the hand-keypoint map drawn from the sim's hand
   joints (:func:`hoi_ros.core.episodes.keypoint_maps`). PAM generates the video
   (:class:`hoi_ros.pam.pipeline.PAMPipeline`).
3. **ArtHOI** (:func:`hoi_ros.arthoi.pipeline.run_arthoi`) on (a) the sim's own render and (b)
   PAM's video, with everything else the same: the object and hand masks from the sim's
   segmentation (the conditions are known, so PAM's video is supposed to show the object where
   they say), the camera, the object's surface points at frame 0 and the initial hand estimate.
   Both results are compared with the sim's ground truth: rotation error of the moving part's
   motion (mean / max / min), the translation error of that motion, axis error, joint type, angle
   (or slide) error and, where Stage II runs, the hand's metrics; PAM's video is also compared with
   the sim's render (PSNR, SSIM, PSNR on the object's pixels). ArtHOI's §3.1 pixel thresholds
   (App. A's, for the articulated scenes' 160 px width) are scaled to the clip's width
   (:func:`arthoi_config_for_width`; ``--no-rescale`` keeps them); ``--reference`` also runs ArtHOI
   on the same episode rendered at 160 x 120, which separates what the clip's size costs from what
   PAM costs.

Writes ``result.json``, ``sheet.png`` (rows: depth, segmentation and hand-keypoint conditions, PAM's
frames, the sim's frames, then ArtHOI's part masks and recovered axes on both) and PAM's video as an
:class:`~hoi_ros.core.sequence.HOISequence` (``pam_video.npz`` + ``.mp4``) to ``--out``, and prints a
short table. Progress bars (stderr) for PAM's stages and ArtHOI's segmentation, Stage I and Stage II.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hoi_ros.arthoi.config import ArtHOIConfig
from hoi_ros.arthoi.metrics import relative_motion
from hoi_ros.arthoi.pipeline import ArtHOIResult, SceneInput, run_arthoi, scene_from_episode
from hoi_ros.core.camera import Camera
from hoi_ros.core.episodes import keypoint_maps
from hoi_ros.core.sequence import HOISequence
from hoi_ros.pam.pipeline import PAMPipeline, PAMRequest

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = ROOT / "models" / "pam_small"
DEFAULT_ARTHOI_CONFIG = ROOT / "config" / "models" / "arthoi" / "fast.yaml"
DEFAULT_OUT = ROOT / "out" / "sim_pam_arthoi"

# simulate_articulated's fixed phases: approach 0.5 + descend 0.35 + close 0.45 + release 0.3 + retreat 0.3 s
SIM_PHASES_S = 1.9
MIN_OPERATE_S = 2.4  # ArticulatedTask's default operating phase: the shortest one used here
# PAM's labels (its sim training data, hoi_ros.sim.scene): 1 hand, 2 + i object i, object 0 the manipulated one
PAM_LABEL_HAND, PAM_LABEL_MOVING, PAM_LABEL_BASE = 1, 2, 3
CAMERAS = ("arthoi", "ego")  # ArtHOI's front-left view (ArticulatedTask's default) or PAM's training view

Progress = Callable[..., None]


@dataclass(frozen=True)
class ClipTiming:
    """How the articulated episode fills PAM's clip (:func:`clip_timing`)."""

    num_frames: int
    clip_fps: float  # the model's clip fps (what PAM was trained on)
    sim_fps: float  # the rate the sim records at
    operate_time: float  # s, the operating phase (the wrist along the knob's arc or line)

    @property
    def duration_s(self) -> float:
        """The episode's length in simulated seconds (frame 0 to the last frame)."""
        return (self.num_frames - 1) / self.sim_fps

    @property
    def time_scale(self) -> float:
        """Clip time / simulated time: 1 when the clip plays the episode in real time, > 1 a time-lapse."""
        return self.clip_fps / self.sim_fps


def clip_timing(num_frames: int, clip_fps: float, phases_s: float = SIM_PHASES_S,
                min_operate_s: float = MIN_OPERATE_S) -> ClipTiming:
    """The operating phase and recording rate so that ``num_frames`` frames span the whole episode.

    The clip spans ``(num_frames - 1) / clip_fps`` seconds; the operating phase takes what the fixed
    phases leave, at least ``min_operate_s``; the sim then records ``num_frames`` frames over the
    episode (at the clip's fps when the clip is long enough, faster than real time otherwise).
    """
    if num_frames < 2 or clip_fps <= 0:
        raise ValueError(f"clip: needs at least 2 frames and a positive fps, got {num_frames} at {clip_fps}")
    span = (num_frames - 1) / float(clip_fps)
    operate = max(float(min_operate_s), span - phases_s)
    return ClipTiming(int(num_frames), float(clip_fps), (num_frames - 1) / (phases_s + operate), operate)


def articulated_task(obj: str, action: str, clip: Any, camera: str = "arthoi") -> tuple[Any, ClipTiming]:
    """The :class:`~hoi_ros.sim.articulated.ArticulatedTask` rendered at PAM's ``clip`` (``num_frames``,
    ``fps``, ``height``, ``width``) and its :class:`ClipTiming`. ``camera``: ``arthoi`` (the task's
    default front-left view) or ``ego`` (the view PAM's sim data was rendered from)."""
    from hoi_ros.sim.articulated import ArticulatedTask
    from hoi_ros.sim.camera import CAMERA_PRESETS

    if camera not in CAMERAS:
        raise ValueError(f"camera: expected one of {list(CAMERAS)}, got {camera!r}")
    timing = clip_timing(int(clip.num_frames), float(clip.fps))
    view = {} if camera == "arthoi" else dict(zip(("camera_eye", "camera_target"), CAMERA_PRESETS["ego"]))
    # Half a frame more of operating time, so the sim's rounding of its recording step never
    # leaves the episode a frame short; the extra frame (if any) is dropped.
    task = ArticulatedTask(object=obj, action=action, fps=timing.sim_fps,
                           operate_time=timing.operate_time + 0.5 / timing.sim_fps,
                           width=int(clip.width), height=int(clip.height), **view)
    return task, timing


def first_frames(episode: Any, n: int) -> Any:
    """The episode's first ``n`` frames (the last repeated when it is shorter): a new
    :class:`~hoi_ros.sim.articulated.ArticulatedEpisode` with the same fields."""
    seq = episode.sequence
    idx = np.minimum(np.arange(n), seq.num_frames - 1)
    arts = tuple(replace(a, joint_states=a.joint_states[idx], part_poses=a.part_poses[idx])
                 for a in seq.articulations)
    out = HOISequence(hand_joints=seq.hand_joints[idx], object_points=seq.object_points[idx], camera=seq.camera,
                      fps=seq.fps, prompt=seq.prompt, video=None if seq.video is None else seq.video[idx],
                      object_point_labels=seq.object_point_labels, metadata=dict(seq.metadata),
                      hand_sides=seq.hand_sides, object_names=seq.object_names, articulations=arts)
    return replace(episode, sequence=out, depth=episode.depth[idx], segmentation=episode.segmentation[idx],
                   joint_states=episode.joint_states[idx], wrist_poses=episode.wrist_poses[idx])


def pam_segmentation(segmentation: np.ndarray) -> np.ndarray:
    """The articulated scene's labels (0 background, 1 hand, 2 base, 3 moving part) → PAM's
    (0 background, 1 hand, 2 the manipulated object = the moving part, 3 a static second object =
    the base), as int64."""
    from hoi_ros.sim.articulated import LABEL_FIRST_PART
    from hoi_ros.sim.articulated_objects import PART_BASE, PART_MOVING
    from hoi_ros.sim.scene import LABEL_HAND

    seg = np.asarray(segmentation)
    out = np.zeros(seg.shape, dtype=np.int64)
    out[seg == LABEL_HAND] = PAM_LABEL_HAND
    out[seg == LABEL_FIRST_PART + PART_MOVING] = PAM_LABEL_MOVING
    out[seg == LABEL_FIRST_PART + PART_BASE] = PAM_LABEL_BASE
    return out


def pam_request(episode: Any, steps: int = 0, seed: int = 0, subset: str = "all",
                prompt: str | None = None) -> PAMRequest:
    """PAM's conditions of an episode already at the clip's size and frame count: depth, the
    segmentation in PAM's labels, the hand-keypoint map; the trajectory without its video."""
    seq = episode.sequence
    return PAMRequest(depth=np.asarray(episode.depth, dtype=np.float32), segmentation=pam_segmentation(
        episode.segmentation), keypoint_map=keypoint_maps(seq.hand_joints, seq.camera), sequence=seq.with_video(None),
        prompt=prompt or seq.prompt, num_frames=seq.num_frames, num_inference_steps=int(steps), seed=int(seed),
        condition_subset=subset)


PIXEL_FIELDS = ("dynamic_px", "static_px", "quasi_static_min_px", "qs_pixel_radius")


def arthoi_config_for_width(cfg: ArtHOIConfig, width: int, reference_width: int | None = None) -> ArtHOIConfig:
    """``cfg`` adapted to a video ``width`` pixels wide: §3.1's pixel thresholds (:data:`PIXEL_FIELDS`:
    dynamic / static motion, the quasi-static floor and radius) scaled by ``width / reference_width``,
    and Stage I's render scale raised by the inverse (at most 1) so that it renders as many pixels as
    at the reference. App. A's thresholds hold for the articulated scenes' own size
    (``reference_width``, default :class:`~hoi_ros.sim.articulated.ArticulatedTask`'s 160 px); in a
    smaller clip the same motion covers fewer pixels (docs/benchmarks.md has the door at 96 x 64
    with and without)."""
    if reference_width is None:
        from hoi_ros.sim.articulated import ArticulatedTask

        reference_width = int(ArticulatedTask.width)
    k = float(width) / float(reference_width)
    seg = replace(cfg.segmentation, **{f: getattr(cfg.segmentation, f) * k for f in PIXEL_FIELDS})
    render = replace(cfg.render, scale=min(1.0, cfg.render.scale / k))
    return replace(cfg, segmentation=seg, render=render)


def real_first_frame_video(pipe: PAMPipeline, request: PAMRequest, first_frame: np.ndarray) -> np.ndarray:
    """PAM's Stage III alone: the video from the request's conditions and the sim's true first
    frame ``[H, W, 3] uint8`` instead of Stage II's (the model card's "all, real I₀" row), its noise
    seeded with ``request.seed + 1``. ArtHOI on it separates what Stage III does to the motion from
    what Stage II does to the appearance of an object it never saw. uint8 ``[T, H, W, 3]``."""
    import torch

    from hoi_ros.pam.conditions import CONDITIONS, condition_images, encode_conditions, subset_keep

    request = pipe.resolve(request)
    with torch.no_grad():
        text = pipe.text.encode([request.prompt]).to(pipe.device, pipe.dtype)
        images = condition_images({
            "depth": torch.as_tensor(np.asarray(request.depth, dtype=np.float32))[None],
            "segmentation": torch.as_tensor(np.asarray(request.segmentation, dtype=np.int64))[None],
            "keypoint_map": torch.as_tensor(np.asarray(request.keypoint_map, dtype=np.uint8))[None],
        })
        cond = encode_conditions({c: images[c] for c in CONDITIONS}, pipe.vae.encode).to(pipe.device, pipe.dtype)
        frame0 = torch.as_tensor(np.asarray(first_frame, dtype=np.float32) / 255.0)[None, None]  # [1, 1, H, W, 3]
        image_latents = pipe.vae.encode(frame0).to(pipe.device, pipe.dtype)
        g = torch.Generator().manual_seed(int(request.seed) + 1)
        keep = subset_keep(request.condition_subset).to(pipe.device)
        lat = pipe.video_latents(image_latents, cond, text, keep, request.num_inference_steps, g, lambda step: None)
        video = pipe.vae.decode(lat)[0, : request.num_frames]
    return (video * 255.0).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


def motion_translation_errors(transforms: np.ndarray, truth_part_poses: np.ndarray) -> np.ndarray:
    """``[T - 1]`` m: distance between the translations of the estimated and the true motion of the
    moving part since frame 0 (both ``P(t) P(0)^-1`` in the world frame), frames 1..T-1."""
    gt = relative_motion(truth_part_poses)
    est = np.asarray(transforms, dtype=np.float64)
    return np.linalg.norm(est[1:, :3, 3] - gt[1:, :3, 3], axis=-1)


def no_motion_baseline(truth_part_poses: np.ndarray) -> dict[str, float]:
    """The errors of guessing that nothing moves (identity motion at every frame): the rotation
    error is then the true rotation since frame 0 and the translation error the true translation,
    over frames 1..T-1. A recovery is only informative where it beats this."""
    from scipy.spatial.transform import Rotation

    gt = relative_motion(truth_part_poses)[1:]
    rot = np.rad2deg(np.linalg.norm(Rotation.from_matrix(gt[:, :3, :3]).as_rotvec(), axis=1))
    trans = np.linalg.norm(gt[:, :3, 3], axis=1)
    return {"rot_mean_deg": float(rot.mean()), "rot_max_deg": float(rot.max()), "trans_mean_m": float(trans.mean())}


def video_agreement(generated: np.ndarray, reference: np.ndarray, object_masks: np.ndarray) -> dict[str, float]:
    """PAM's video against the sim's render: PSNR (dB), mean SSIM, and PSNR over the object's pixels."""
    import torch

    from hoi_ros.diffusion.video_metrics import psnr, ssim

    a, b = torch.as_tensor(np.asarray(generated)), torch.as_tensor(np.asarray(reference))
    m = np.asarray(object_masks, bool)
    diff = np.asarray(generated, np.float64)[m] - np.asarray(reference, np.float64)[m]
    obj = float(10 * np.log10(255.0**2 / max(float(np.mean(diff**2)), 1e-10))) if m.any() else float("nan")
    return {"psnr_db": psnr(a, b), "ssim": float(ssim(a, b).mean()), "object_psnr_db": obj}


def run_summary(result: ArtHOIResult, scene: SceneInput) -> dict[str, Any]:
    """JSON-ready: the joint found, ArtHOI's metrics against the truth (plus the motion's
    translation error), timings and Stage I's iterations."""
    metrics = dict(result.metrics)
    if scene.truth is not None:
        err = motion_translation_errors(result.stage1.transforms, scene.truth["part_poses"])
        metrics.update(trans_mean_m=float(err.mean()), trans_max_m=float(err.max()))
    return {"joint_type": result.joint.type, "axis": np.asarray(result.joint.axis).tolist(),
            "origin": np.asarray(result.joint.origin).tolist(), "metrics": metrics, "timings": dict(result.timings),
            "stage2_ran": result.hand is not None,
            "iterations_per_frame_mean": float(np.mean(result.stage1.iterations[1:]))
            if len(result.stage1.iterations) > 1 else 0.0}


@dataclass
class LoopResult:
    """Everything one loop produced: the episode, PAM's request and video, the ArtHOI scene (the
    sim's render) and the ArtHOI results (``results["sim"]``, ``results["pam"]``, and
    ``"sim_reference"`` / ``"pam_real_i0"`` when asked for), and the JSON summary."""

    episode: Any
    request: PAMRequest
    pam_video: np.ndarray
    scene: SceneInput
    results: dict[str, ArtHOIResult]
    summary: dict[str, Any] = field(default_factory=dict)
    pam_real_i0_video: np.ndarray | None = None  # PAM's Stage III from the sim's first frame, when run


def progress_bars(prefix: str, quiet: bool = False) -> Progress:
    """A progress callback ``(stage, step, total[, info])`` drawing one tqdm bar per stage on stderr."""
    from tqdm.auto import tqdm

    bars: dict[str, Any] = {}

    def report(stage: str, step: int, total: int, info: dict[str, Any] | None = None) -> None:
        if quiet:
            return
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=f"{prefix} {stage}", file=sys.stderr, leave=False)
        bar.update(step - bar.n)
        if info:
            bar.set_postfix({k: round(v, 4) if isinstance(v, float) else v for k, v in info.items()})
        if step >= total:
            bar.close()

    return report


def close_loop(obj: str, action: str, pipe: PAMPipeline, arthoi_cfg: ArtHOIConfig, steps: int = 0,
               pam_seed: int = 0, scene_seed: int | None = None, camera: str = "arthoi", subset: str = "all",
               quiet: bool = False, model_name: str = "", rescale: bool = True, reference: bool = False,
               real_first_frame: bool = False) -> LoopResult:
    """Sim → PAM → ArtHOI on the sim's render and on PAM's video (module docstring).

    ``rescale``: ArtHOI's pixel thresholds scaled to the clip's width (:func:`arthoi_config_for_width`;
    both runs get the same config). ``reference``: also ArtHOI (``arthoi_cfg`` as given) on the same
    episode rendered at the articulated scenes' own size (160 x 120), to show what the clip's size
    costs ArtHOI before PAM is involved (``results["sim_reference"]``). ``real_first_frame``: also
    ArtHOI on PAM's Stage III given the sim's true first frame (:func:`real_first_frame_video`,
    ``results["pam_real_i0"]``).
    """
    from hoi_ros.sim.articulated import ArticulatedTask, run_articulated_episode

    timings: dict[str, float] = {}
    clip = pipe.cfg.clip
    task, timing = articulated_task(obj, action, clip, camera)
    loop_cfg = arthoi_config_for_width(arthoi_cfg, int(clip.width)) if rescale else arthoi_cfg
    t0 = time.perf_counter()
    if not quiet:
        print(f"sim: {obj} {action}, {timing.num_frames} frames of {clip.width}x{clip.height} at "
              f"{timing.sim_fps:.3g} fps (operating phase {timing.operate_time:.2f} s)", file=sys.stderr)
    episode = first_frames(run_articulated_episode(task, seed=0), timing.num_frames)
    timings["sim_s"] = time.perf_counter() - t0

    request = pam_request(episode, steps, pam_seed, subset)
    t1 = time.perf_counter()
    generated = pipe.generate(request, progress=progress_bars("pam", quiet))
    timings["pam_s"] = time.perf_counter() - t1
    pam_video = np.asarray(generated.video)
    pam_i0_video = None
    if real_first_frame:
        t1 = time.perf_counter()
        pam_i0_video = real_first_frame_video(pipe, request, episode.sequence.video[0])
        timings["pam_real_i0_s"] = time.perf_counter() - t1

    seed = arthoi_cfg.seed if scene_seed is None else int(scene_seed)
    scene = scene_from_episode(episode, loop_cfg.render.num_gaussians, seed)
    # The same masks, camera, surface points, hand estimate and truth: only the video differs.
    scenes = {"sim": scene, "pam": replace(scene, video=pam_video)}
    configs = {"sim": loop_cfg, "pam": loop_cfg}
    if pam_i0_video is not None:
        scenes["pam_real_i0"], configs["pam_real_i0"] = replace(scene, video=pam_i0_video), loop_cfg
    if reference:
        big = replace(task, width=int(ArticulatedTask.width), height=int(ArticulatedTask.height))
        scenes["sim_reference"] = scene_from_episode(first_frames(run_articulated_episode(big, seed=0),
                                                                  timing.num_frames),
                                                     arthoi_cfg.render.num_gaussians, seed)
        configs["sim_reference"] = arthoi_cfg
    results: dict[str, ArtHOIResult] = {}
    for name, sc in scenes.items():
        t2 = time.perf_counter()
        results[name] = run_arthoi(sc, configs[name], progress_bars(f"arthoi[{name}]", quiet))
        timings[f"arthoi_{name}_s"] = time.perf_counter() - t2
    timings["total_s"] = time.perf_counter() - t0

    truth = scene.truth or {}
    summary = {
        "scene": {"object": obj, "action": action, "camera": camera, "drive": episode.info.get("drive"),
                  "sim_success": bool(episode.success), "fraction_reached": float(episode.info["fraction_reached"]),
                  "frames": timing.num_frames, "size": [int(clip.width), int(clip.height)],
                  "sim_fps": float(episode.sequence.fps), "clip_fps": timing.clip_fps,
                  "operate_time_s": timing.operate_time, "time_scale": timing.time_scale,
                  "prompt": request.prompt, "scene_seed": seed},
        "truth": {"joint_type": truth.get("joint_type"), "axis": np.asarray(truth.get("axis")).tolist(),
                  "origin": np.asarray(truth.get("origin")).tolist(),
                  "final_state": float(np.asarray(truth.get("states"))[-1]) if "states" in truth else None,
                  "no_motion_baseline": no_motion_baseline(truth["part_poses"]) if "part_poses" in truth else None},
        "pam": {"model": model_name, "config": pipe.cfg.name, "weights_trained": bool(pipe.weights_trained),
                "steps": int(generated.metadata.get("num_inference_steps", steps)), "seed": int(pam_seed),
                "condition_subset": subset,
                "labels": {"hand": PAM_LABEL_HAND, "moving_part": PAM_LABEL_MOVING, "base": PAM_LABEL_BASE},
                "vs_sim_render": video_agreement(pam_video, episode.sequence.video, scene.object_masks),
                **({"real_i0_vs_sim_render": video_agreement(pam_i0_video, episode.sequence.video,
                                                             scene.object_masks)} if pam_i0_video is not None
                   else {})},
        "runs": {name: {**run_summary(r, scenes[name]), "size": [scenes[name].camera.width,
                                                              scenes[name].camera.height]}
                 for name, r in results.items()},
        "timings": timings,
        "arthoi_config": loop_cfg.to_dict(),
        "arthoi_pixel_scale": loop_cfg.segmentation.dynamic_px / arthoi_cfg.segmentation.dynamic_px,
    }
    return LoopResult(episode, request, pam_video, scene, results, summary, pam_i0_video)


# ------------------------------------------------------------------ picture and table
def _upscale(video: np.ndarray, scale: int) -> np.ndarray:
    return np.asarray(video).repeat(scale, axis=-3).repeat(scale, axis=-2)


def _draw_line(img: np.ndarray, camera: Camera, a: np.ndarray, b: np.ndarray, color: tuple[int, int, int],
               scale: int, thickness: int = 2) -> None:
    import cv2

    uv, z = camera.project(np.stack([a, b]))
    if np.all(np.isfinite(uv)) and np.all(z > 0):
        p = [tuple(int(np.rint(v)) for v in (q + 0.5) * scale) for q in uv]
        cv2.line(img, p[0], p[1], color, thickness, cv2.LINE_AA)


def _draw_joint(img: np.ndarray, camera: Camera, joint_type: str, origin: Any, axis: Any, final_state: float,
                color: tuple[int, int, int], scale: int, thickness: int = 2, half_length_m: float = 0.15) -> None:
    """A revolute axis as a line through its origin, a prismatic joint as its slide from the origin."""
    o, ax = np.asarray(origin, float), np.asarray(axis, float)
    if joint_type == "revolute":
        _draw_line(img, camera, o - half_length_m * ax, o + half_length_m * ax, color, scale, thickness)
    else:
        _draw_line(img, camera, o, o + float(final_state) * ax, color, scale, thickness)


TRUTH_COLOR, SIM_COLOR, PAM_COLOR = (0, 230, 230), (255, 0, 255), (255, 220, 0)


def loop_figure(loop: LoopResult, columns: int = 9, scale: int = 2) -> np.ndarray:
    """``uint8 [H, W, 3]``: rows of the depth, segmentation and hand-keypoint conditions, PAM's frames
    (and PAM's Stage III from the true first frame, when run) and the sim's frames (evenly spaced),
    then two panels per ArtHOI run at the clip's size (the sim's render, PAM's video, then the real-I₀
    video): the moving-part mask ArtHOI found on frame 0 (red), and the last frame with the true
    joint (cyan) and the recovered one (magenta on the sim's render, yellow on PAM's videos)."""
    import torch

    from hoi_ros.core.visualize import contact_sheet
    from hoi_ros.pam.conditions import condition_images

    req = loop.request
    images = condition_images({"depth": torch.as_tensor(req.depth), "segmentation": torch.as_tensor(req.segmentation),
                               "keypoint_map": torch.as_tensor(req.keypoint_map)})
    sim_video = np.asarray(loop.episode.sequence.video)
    cam = loop.scene.camera
    truth = loop.summary["truth"]
    panels = []
    runs = [("sim", sim_video, SIM_COLOR), ("pam", loop.pam_video, PAM_COLOR)]
    if loop.pam_real_i0_video is not None and "pam_real_i0" in loop.results:
        runs.append(("pam_real_i0", loop.pam_real_i0_video, PAM_COLOR))
    for name, video, color in runs:
        res = loop.results[name]
        first = video[0].astype(np.float32)
        mask = np.asarray(res.segmentation.part_mask, bool)
        first[mask] = 0.45 * first[mask] + 0.55 * np.array([230, 30, 30])
        panels.append(_upscale(first.astype(np.uint8), scale))
        last = np.ascontiguousarray(_upscale(video[-1], scale))
        if truth["joint_type"] is not None:
            _draw_joint(last, cam, truth["joint_type"], truth["origin"], truth["axis"], truth["final_state"] or 0.0,
                        TRUTH_COLOR, scale, 1)
        _draw_joint(last, cam, res.joint.type, res.joint.origin, res.joint.axis, float(res.joint.states[-1]), color,
                    scale)
        panels.append(last)
    rows = [_upscale(images[c].numpy(), scale) for c in ("depth", "segmentation", "keypoint_map")]
    rows.append(_upscale(loop.pam_video, scale))
    labels = ["depth", "segmentation", "hand keypoints", "PAM video"]
    if len(runs) > 2:
        rows.append(_upscale(loop.pam_real_i0_video, scale))
        labels.append("PAM, real I0")
    rows += [_upscale(sim_video, scale), np.stack(panels)]
    labels += ["sim render", "ArtHOI: " + ", ".join(r[0] for r in runs)]
    return contact_sheet(rows, labels, columns=columns)


def _fmt(v: Any, unit: float = 1.0, digits: int = 2) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{unit * float(v):.{digits}f}"


def summary_table(summary: dict[str, Any]) -> str:
    """The short table printed at the end: one row per ArtHOI run, then the truth and PAM's video."""
    s, truth = summary["scene"], summary["truth"]
    head = (f"{s['object']} {s['action']} ({s['frames']} frames {s['size'][0]}x{s['size'][1]}, sim {s['sim_fps']:.3g} "
            f"fps, camera {s['camera']}); PAM {summary['pam']['config']} "
            f"({'trained' if summary['pam']['weights_trained'] else 'UNTRAINED: random weights'}), "
            f"{summary['pam']['steps']} steps")
    cols = ("ArtHOI on", "joint", "rot mean/max (deg)", "trans mean (cm)", "axis err (deg)", "angle/slide err",
            "part acc", "hand MPJPE init->II (cm)")
    lines = [head, " | ".join(cols)]
    for name, label in (("sim", "sim render"), ("pam", "PAM video"), ("pam_real_i0", "PAM Stage III, real I0"),
                        ("sim_reference", "sim render")):
        run = summary["runs"].get(name)
        if run is None:
            continue
        label = f"{label} {run['size'][0]}x{run['size'][1]}"
        m = run["metrics"]
        state = (f"{_fmt(m['angle_error_mean_deg'])} deg" if "angle_error_mean_deg" in m
                 else f"{_fmt(m.get('translation_error_mean_m'), 100)} cm")
        hand = (f"{_fmt(m['hand_init_mpjpe_m'], 100)} -> {_fmt(m['hand_mpjpe_m'], 100)}" if "hand_mpjpe_m" in m
                else "-")
        ok = "" if m.get("joint_type_correct", 1.0) else " (wrong)"
        lines.append(" | ".join([label, run["joint_type"] + ok, f"{_fmt(m['rot_mean_deg'])} / {_fmt(m['rot_max_deg'])}",
                                 _fmt(m.get("trans_mean_m"), 100), _fmt(m["axis_error_deg"]), state,
                                 _fmt(m.get("gaussian_part_accuracy"), 1, 3), hand]))
    base = truth.get("no_motion_baseline")
    if base:
        lines.append(" | ".join(["no motion (baseline)", "-", f"{_fmt(base['rot_mean_deg'])} / "
                                 f"{_fmt(base['rot_max_deg'])}", _fmt(base["trans_mean_m"], 100), "-", "-", "-", "-"]))
    lines.append(f"truth: {truth['joint_type']}, final state {_fmt(truth['final_state'], 1, 3)}"
                 f" ({'rad' if truth['joint_type'] == 'revolute' else 'm'}); sim success {s['sim_success']}")
    v = summary["pam"]["vs_sim_render"]
    lines.append(f"PAM video vs sim render: PSNR {_fmt(v['psnr_db'])} dB, SSIM {_fmt(v['ssim'], 1, 3)}, "
                 f"object PSNR {_fmt(v['object_psnr_db'])} dB")
    v = summary["pam"].get("real_i0_vs_sim_render")
    if v is not None:
        lines.append(f"PAM Stage III (real I0) vs sim render: PSNR {_fmt(v['psnr_db'])} dB, SSIM "
                     f"{_fmt(v['ssim'], 1, 3)}, object PSNR {_fmt(v['object_psnr_db'])} dB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The command (module docstring); returns the exit status (2 for a bad model or config)."""
    import torch

    from hoi_ros.core.visualize import save_png
    from hoi_ros.pam.conditions import SUBSETS
    from hoi_ros.sim.articulated import ACTIONS
    from hoi_ros.sim.articulated_objects import ARTICULATED_NAMES

    ap = argparse.ArgumentParser(prog="python -m hoi_ros.pipelines.sim_pam_arthoi",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--sim", required=True, choices=ARTICULATED_NAMES, help="articulated sim object")
    ap.add_argument("--action", default="open", choices=ACTIONS)
    ap.add_argument("--model", default=str(DEFAULT_MODEL), help="PAM model folder or config YAML")
    ap.add_argument("--steps", type=int, default=0, help="PAM's denoising steps per stage (0: the model's default)")
    ap.add_argument("--seed", type=int, default=0, help="PAM's sampling seed")
    ap.add_argument("--scene-seed", type=int, default=None,
                    help="ArtHOI's scene seed (surface samples, hand estimate); default: the config's")
    ap.add_argument("--arthoi-config", default=str(DEFAULT_ARTHOI_CONFIG), help="ArtHOI YAML")
    ap.add_argument("--camera", default="arthoi", choices=CAMERAS,
                    help="arthoi: ArtHOI's front-left view; ego: the view PAM's training data was rendered from")
    ap.add_argument("--subset", default="all", choices=sorted(SUBSETS), help="PAM's conditions")
    ap.add_argument("--no-rescale", action="store_true",
                    help="keep ArtHOI's pixel thresholds (App. A's, for 160 px wide) at the clip's size")
    ap.add_argument("--reference", action="store_true",
                    help="also ArtHOI on the same episode rendered at 160 x 120 (the articulated scenes' size)")
    ap.add_argument("--real-first-frame", action="store_true",
                    help="also ArtHOI on PAM's Stage III given the sim's true first frame (isolates Stage III)")
    ap.add_argument("--out", default=None, help=f"output folder (default {DEFAULT_OUT}/<sim>_<action>)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    try:
        arthoi_cfg = ArtHOIConfig.from_yaml(args.arthoi_config)
        t0 = time.perf_counter()
        pipe = PAMPipeline.from_pretrained(args.model)
        load_s = time.perf_counter() - t0
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not pipe.weights_trained:
        print(f"warning: {args.model} has untrained (random) weights: its video is noise-like, not a result",
              file=sys.stderr)
    loop = close_loop(args.sim, args.action, pipe, arthoi_cfg, args.steps, args.seed, args.scene_seed, args.camera,
                      args.subset, args.quiet, model_name=str(args.model), rescale=not args.no_rescale,
                      reference=args.reference, real_first_frame=args.real_first_frame)
    loop.summary["timings"]["pam_load_s"] = load_s
    out = Path(args.out) if args.out else DEFAULT_OUT / f"{args.sim}_{args.action}"
    out.mkdir(parents=True, exist_ok=True)
    loop.summary["command"] = "python -m hoi_ros.pipelines.sim_pam_arthoi " + " ".join(
        sys.argv[1:] if argv is None else argv)
    (out / "result.json").write_text(json.dumps(loop.summary, indent=2, default=float))
    save_png(out / "sheet.png", loop_figure(loop))
    loop.request.sequence.with_video(loop.pam_video).save(out / "pam_video")
    print(summary_table(loop.summary))
    t = loop.summary["timings"]
    print("time: " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()))
    print(f"wrote {out / 'result.json'}, {out / 'sheet.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
