"""The PAM engine in one call: sim request (or rendered poses) → conditions → first frame → video.

Paper, "Overall Architecture": (1) Pose Generation gives the hand–object trajectory — here the
MuJoCo sim's rollout (:mod:`hoi_ros.sim`), which also renders the per-frame depth, segmentation and
hand-keypoint maps; (2) Appearance Generation synthesises the first frame I₀ from the first
conditions (Flux + ControlNet, :mod:`hoi_ros.pam.image_controlnet`); (3) Motion Generation renders
the video from I₀ and the condition sequences (CogVideoX-I2V + video ControlNet,
:mod:`hoi_ros.pam.video_controlnet`).

:class:`PAMPipeline` is a :class:`hoi_ros.core.generation.Generator` of :class:`PAMRequest`:
progress is reported in the seam's stages (``encoding``, ``denoising`` over both stages' steps,
``decoding``), and a set ``cancel`` event stops it within one step. ``condition_subset`` picks the
paper's ablation (``seg``, ``depth``, ``hand``, ``depth+seg``, ``all``): the other conditions'
latents are zeroed, as in the masked training. The result is the request's trajectory as an
:class:`~hoi_ros.core.sequence.HOISequence` with the generated video.

Samplers: Stage II integrates Flux's rectified flow with Euler steps over σ = 1 → 0 (linear);
Stage III runs the CogVideoX scheduler (DDIM, v-prediction) from pure noise.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from hoi_ros.core.camera import Camera
from hoi_ros.core.episodes import keypoint_maps
from hoi_ros.core.generation import (
    ConditionRequest,
    GenerationCancelled,
    GeneratorLimits,
    ProgressCallback,
    RequestError,
)
from hoi_ros.core.sequence import HOISequence
from hoi_ros.data.sim import resample_indices, resize_frames, resize_video, scaled_camera
from hoi_ros.diffusion.text import build_text_encoder
from hoi_ros.diffusion.vae import build_vae
from hoi_ros.pam.conditions import CONDITIONS, SUBSETS, condition_images, encode_conditions, subset_keep
from hoi_ros.pam.config import PAMConfig, build_video_scheduler
from hoi_ros.pam.image_controlnet import ControlledFlux
from hoi_ros.pam.image_vae import ImageVAE
from hoi_ros.pam.models import build_image_model, build_video_model
from hoi_ros.pam.pooled_text import PooledTextEncoder, mean_pooled
from hoi_ros.pam.video_controlnet import ControlledCogVideoX

MODEL_CONFIG = "pam.yaml"  # the config file inside a shipped model folder


@dataclass(frozen=True)
class PAMRequest:
    """Conditions of a trajectory → video. Condition arrays at the model's clip size and frame count:
    ``depth [T, H, W]`` float metres (0 = nothing hit), ``segmentation [T, H, W]`` integer labels,
    ``keypoint_map [T, H, W, 3]`` uint8; ``sequence`` is the trajectory (T frames) returned with the video."""

    kind: ClassVar[str] = "pam_conditions"

    depth: np.ndarray
    segmentation: np.ndarray
    keypoint_map: np.ndarray
    sequence: HOISequence
    prompt: str
    num_frames: int
    num_inference_steps: int
    seed: int
    condition_subset: str = "all"


def _check_request(req: PAMRequest, height: int, width: int) -> None:
    t = req.num_frames
    shapes = {"depth": (t, height, width), "segmentation": (t, height, width), "keypoint_map": (t, height, width, 3)}
    for name, shape in shapes.items():
        arr = np.asarray(getattr(req, name))
        if arr.shape != shape:
            raise RequestError(name, f"expected shape {shape}, got {arr.shape}")
        if name == "depth" and not np.isfinite(arr).all():
            raise RequestError(name, "contains NaN or infinite values")
    if req.sequence.num_frames != t:
        raise RequestError("sequence", f"{req.sequence.num_frames} frames, the conditions have {t}")
    if req.condition_subset not in SUBSETS:
        raise RequestError("condition_subset", f"one of {sorted(SUBSETS)}, got {req.condition_subset!r}")


def resample_sequence(seq: HOISequence, idx: np.ndarray, camera: Camera, fps: float) -> HOISequence:
    """The frames ``idx`` of ``seq`` (no video), seen by ``camera`` and played at ``fps``."""
    return HOISequence(
        hand_joints=seq.hand_joints[idx], object_points=seq.object_points[idx], camera=camera, fps=fps,
        prompt=seq.prompt, object_point_labels=seq.object_point_labels, metadata=dict(seq.metadata),
        hand_sides=seq.hand_sides, object_names=seq.object_names,
    )


def request_from_episode(episode: Any, cfg: PAMConfig, num_inference_steps: int = 0, seed: int = 0,
                         condition_subset: str = "all", prompt: str | None = None) -> PAMRequest:
    """A :class:`PAMRequest` from a sim :class:`~hoi_ros.core.episodes.Episode`: its frames resampled
    to the clip's fps and frame count, conditions resized (nearest) to the clip size, the keypoint
    map redrawn there. ``num_inference_steps = 0`` is the pipeline's default."""
    seq, clip = episode.sequence, cfg.clip
    if episode.depth is None or episode.segmentation is None:
        raise RequestError("episode", "render the episode with depth and segmentation (EpisodeConfig)")
    idx = resample_indices(seq.num_frames, seq.fps, clip.num_frames, clip.fps)
    size = (clip.height, clip.width)
    cam = scaled_camera(seq.camera, *size)
    out = resample_sequence(seq, idx, cam, clip.fps)
    return PAMRequest(
        depth=resize_frames(episode.depth[idx], size, "nearest")[:, 0].numpy(),
        segmentation=resize_frames(episode.segmentation[idx].astype(np.float32), size, "nearest")[:, 0]
        .round().long().numpy(),
        keypoint_map=keypoint_maps(out.hand_joints, cam), sequence=out, prompt=prompt or seq.prompt,
        num_frames=clip.num_frames, num_inference_steps=num_inference_steps, seed=seed,
        condition_subset=condition_subset,
    )


def simulate(task_request: Any, cfg: PAMConfig, sim_seed: int = 0) -> Any:
    """Stage I: the sim's rollout of a :class:`hoi_ros.sim.tasks.TaskRequest` (e.g. from
    :func:`hoi_ros.sim.request.build_request`), rendered at the clip's size and fps (an Episode)."""
    from hoi_ros.sim.episode import EpisodeConfig, run_episode

    clip = cfg.clip
    return run_episode(task_request, EpisodeConfig(width=clip.width, height=clip.height, fps=clip.fps),
                       seed=sim_seed)


def request_from_sim(task_request: Any, cfg: PAMConfig, sim_seed: int = 0, **kwargs: Any) -> PAMRequest:
    """:func:`simulate`, then :func:`request_from_episode` (``kwargs``: steps, seed, subset, prompt)."""
    return request_from_episode(simulate(task_request, cfg, sim_seed), cfg, **kwargs)


def ground_truth_video(episode: Any, cfg: PAMConfig) -> np.ndarray:
    """The sim's own RGB render of the episode at the clip's frames and size (uint8 ``[T, H, W, 3]``)."""
    seq, clip = episode.sequence, cfg.clip
    idx = resample_indices(seq.num_frames, seq.fps, clip.num_frames, clip.fps)
    return resize_video(seq.video[idx], (clip.height, clip.width)).numpy()


SOURCE_KEYS = ("task", "object", "target_object", "object_pose", "target_object_pose", "initial_wrist",
               "initial_fingers", "target_wrist", "target_fingers", "side", "sim_seed")


def _field_error(exc: ValueError, prefix: str = "source") -> RequestError:
    """A sim ``ValueError`` ("object: unknown ...") as a RequestError naming the field."""
    field, _, reason = str(exc).partition(": ")
    return RequestError(f"{prefix}.{field}" if reason else prefix, reason or str(exc))


def task_request_from_source(source: dict[str, Any]) -> tuple[Any, int]:
    """A sim :class:`~hoi_ros.sim.tasks.TaskRequest` and sim seed from a ``ConditionRequest.source``
    mapping (``SimRollout``'s fields: ``task``, ``object``, ``target_object``, poses as
    ``((x, y, z), (w, x, y, z))``, ``initial_wrist`` + ``initial_fingers``, ``target_wrist`` +
    ``target_fingers``, ``side``, ``sim_seed``)."""
    from hoi_ros.sim.request import build_request

    unknown = sorted(set(source) - set(SOURCE_KEYS))
    if unknown:
        raise RequestError("source", f"unknown field(s) {unknown}; known: {list(SOURCE_KEYS)}")
    if not source.get("task") or not source.get("object"):
        raise RequestError("source", "a sim request needs 'task' and 'object'")

    def hand(wrist: str, fingers: str) -> Any:
        return None if source.get(wrist) is None else (source[wrist], list(source.get(fingers) or []))

    try:
        req = build_request(
            task=str(source["task"]), object_name=str(source["object"]), object_pose=source.get("object_pose"),
            target_object=str(source.get("target_object", "")), target_object_pose=source.get("target_object_pose"),
            initial_hand=hand("initial_wrist", "initial_fingers"), target_hand=hand("target_wrist", "target_fingers"),
            side=str(source.get("side", "right")),
        )
    except ValueError as exc:
        raise _field_error(exc) from None
    return req, int(source.get("sim_seed", 0))


def request_from_pose_file(path: str, cfg: PAMConfig, mano_model_path: str | None = None,
                           **kwargs: Any) -> PAMRequest:
    """A :class:`PAMRequest` from a pose file: an ``HOISequence`` ``.npz`` or a GraspXL-style MANO
    trajectory (:mod:`hoi_ros.bodies.graspxl`; its joints through the user's MANO model at
    ``mano_model_path``, a sim-library ``object_name`` resolved to the sim's surface points). The
    hand joints give the keypoint map; depth and segmentation, which need the sim's render of the
    scene, are left empty, so only the ``hand`` subset applies."""
    from pathlib import Path

    from hoi_ros.bodies.graspxl import load_pose_file

    file = Path(path).expanduser()
    try:
        seq = load_pose_file(file, mano_model_path=mano_model_path, object_points_for=_sim_object_points)
    except (OSError, ValueError, KeyError) as exc:
        raise RequestError("source", f"{file} is not a readable pose file ({exc})") from None
    clip = cfg.clip
    idx = resample_indices(seq.num_frames, seq.fps, clip.num_frames, clip.fps)
    cam = scaled_camera(seq.camera, clip.height, clip.width)
    out = resample_sequence(seq, idx, cam, clip.fps)
    t, h, w = clip.num_frames, clip.height, clip.width
    return PAMRequest(depth=np.zeros((t, h, w), np.float32), segmentation=np.zeros((t, h, w), np.int64),
                      keypoint_map=keypoint_maps(out.hand_joints, cam), sequence=out, num_frames=t, **kwargs)


def _sim_object_points(name: str) -> np.ndarray:
    """Surface points (object frame) of a sim-library object named in a GraspXL file."""
    from hoi_ros.sim.objects import parse_object, sample_surface_points

    return sample_surface_points(parse_object(name), 298, np.random.default_rng(0))


def build_pooled_text(cfg: PAMConfig) -> PooledTextEncoder | None:
    """Flux's pooled CLIP text encoder when ``image.pooled_text_path`` is set (else None: mean pooling)."""
    if not cfg.image.pooled_text_path:
        return None
    return PooledTextEncoder(cfg.image.pooled_text_path, dtype=cfg.image.dtype)


class PAMPipeline:
    """Stage II + Stage III behind the generator seam (module docstring)."""

    request_type: ClassVar[type] = ConditionRequest  # what the nodes send; PAMRequest is accepted too

    def __init__(self, cfg: PAMConfig, image_model: ControlledFlux, video_model: ControlledCogVideoX,
                 vae: Any, text_encoder: Any, default_steps: int = 50, image_vae: Any | None = None,
                 pooled_text: Any | None = None) -> None:
        self.cfg, self.image_model, self.video_model = cfg, image_model.eval(), video_model.eval()
        self.vae, self.text, self.pooled_text = vae, text_encoder, pooled_text
        self.image_vae = image_vae if image_vae is not None else vae  # Flux's VAE, or the video VAE on frames
        for stage, v in (("image", self.image_vae), ("video", self.vae)):
            if getattr(cfg, stage).condition_latent_channels != v.latent_channels:
                raise ValueError(f"{stage}.condition_latent_channels: {getattr(cfg, stage).condition_latent_channels}"
                                 f" differs from its VAE's {v.latent_channels} latent channels")
        self.scheduler = build_video_scheduler(cfg.video)
        self.weights_trained = False  # set by from_config; an untrained PAM's video is noise-like
        self.mano_model_path: str | None = None  # the user's MANO .npz, for GraspXL pose files (docs/bodies.md)
        n = cfg.clip.num_frames
        self.limits = GeneratorLimits(min_frames=n, max_frames=n, default_frames=n, default_steps=default_steps)
        fc = image_model.base.config
        if int(fc.joint_attention_dim) != text_encoder.dim:
            raise ValueError(f"text: the encoder's {text_encoder.dim} features do not fit Flux's joint_attention_dim "
                             f"{fc.joint_attention_dim}")
        pooled_dim = pooled_text.dim if pooled_text is not None else text_encoder.dim
        if int(fc.pooled_projection_dim) != pooled_dim:
            raise ValueError(f"image.pooled_text_path: Flux's pooled_projection_dim is {fc.pooled_projection_dim}, the "
                             f"pooled text is {pooled_dim} wide (set a local CLIP text encoder)")

    @classmethod
    def from_config(cls, cfg: PAMConfig, image_controlnet: str | None = None, video_controlnet: str | None = None,
                    device: str | None = None, default_steps: int | None = None) -> PAMPipeline:
        """Every part from ``cfg`` (local weights where paths are set, seeded random ones elsewhere);
        ControlNet folders written by ``save_pretrained`` replace fresh ones."""
        image = build_image_model(cfg.image, device, image_controlnet)
        video = build_video_model(cfg.video, device, video_controlnet)
        vae = build_vae(cfg.vae)
        image_vae = ImageVAE(cfg.image.vae_path, cfg.image.dtype) if cfg.image.vae_path else None
        text = build_text_encoder(cfg.text)
        pooled = build_pooled_text(cfg)
        if device is not None:
            for part in (vae, text, image_vae, pooled):
                if part is not None:
                    part.to(device)
        pipe = cls(cfg, image, video, vae, text, int(default_steps or cfg.default_steps), image_vae, pooled)
        # Trained only when both bases are pretrained (local folders) and both ControlNets were loaded.
        pipe.weights_trained = bool(cfg.image.pretrained and cfg.video.pretrained and image_controlnet
                                    and video_controlnet)
        return pipe

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device: str | None = None,
                        default_steps: int | None = None) -> PAMPipeline:
        """A PAM from a config YAML (seeded random weights where it names none) or a model folder
        (``pam.yaml`` with bases and VAE as subfolders, plus ``image_controlnet/`` and
        ``video_controlnet/``), as ``python -m hoi_ros.pam.recipe`` ships it."""
        from pathlib import Path

        path = Path(path).expanduser()
        if path.is_dir():
            cfg_file = path / MODEL_CONFIG
            if not cfg_file.is_file():
                raise ValueError(f"PAM model folder {path}: no {MODEL_CONFIG}")
            nets = {k: str(path / k) if (path / k).is_dir() else None for k in ("image_controlnet", "video_controlnet")}
            return cls.from_config(PAMConfig.from_yaml(cfg_file), nets["image_controlnet"], nets["video_controlnet"],
                                   device, default_steps)
        if not path.is_file():
            raise ValueError(f"PAM model: {path} is neither a model folder nor a config file")
        return cls.from_config(PAMConfig.from_yaml(path), device=device, default_steps=default_steps)

    @property
    def device(self) -> torch.device:
        return self.video_model.base.device

    @property
    def dtype(self) -> torch.dtype:
        return self.video_model.base.dtype

    # ------------------------------------------------------------------ generation
    def resolve(self, request: PAMRequest) -> PAMRequest:
        """The request with 0 steps resolved to the default, checked against the limits."""
        from dataclasses import replace

        steps = self.limits.resolve_count(request.num_inference_steps, "num_inference_steps")
        request = replace(request, num_inference_steps=steps)
        self.limits.check(request)
        _check_request(request, self.cfg.clip.height, self.cfg.clip.width)
        return request

    def conditions_request(self, request: ConditionRequest,
                           progress: ProgressCallback | None = None) -> PAMRequest:
        """Stage I for a seam request: a sim request is simulated and rendered, a pose file read."""
        from dataclasses import replace

        steps = self.limits.resolve_count(request.num_inference_steps, "num_inference_steps")
        frames = self.limits.resolve_count(request.num_frames, "num_frames")
        self.limits.check(replace(request, num_inference_steps=steps, num_frames=frames))
        common = dict(num_inference_steps=steps, seed=int(request.seed), condition_subset=request.conditions,
                      prompt=request.prompt)
        if isinstance(request.source, str):
            if request.conditions != "hand":
                raise RequestError("conditions", "a pose file gives only the hand-keypoint condition (depth and "
                                   "segmentation need the sim's render); use 'hand' or a sim request")
            return request_from_pose_file(request.source, self.cfg, self.mano_model_path, **common)
        task, sim_seed = task_request_from_source(dict(request.source))
        report = progress or (lambda stage, step, total: None)
        report("rendering", 0, 1)
        episode = simulate(task, self.cfg, sim_seed)
        report("rendering", 1, 1)
        return request_from_episode(episode, self.cfg, **common)

    @torch.no_grad()
    def generate(self, request: PAMRequest | ConditionRequest, progress: ProgressCallback | None = None,
                 cancel: threading.Event | None = None) -> HOISequence:
        """(Stage I for a :class:`ConditionRequest`,) conditions → first frame → video; returns the
        request's trajectory with the video."""
        if isinstance(request, ConditionRequest):
            request = self.conditions_request(request, progress)
        request = self.resolve(request)
        report = progress or (lambda stage, step, total: None)
        steps = request.num_inference_steps
        total = 2 * steps

        def tick(step: int) -> None:
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("cancelled")
            report("denoising", step, total)

        g = torch.Generator().manual_seed(int(request.seed))
        report("encoding", 0, 1)
        if cancel is not None and cancel.is_set():
            raise GenerationCancelled("cancelled")
        text = self.text.encode([request.prompt]).to(self.device, self.dtype)
        pooled = (self.pooled_text.encode([request.prompt]) if self.pooled_text is not None
                  else mean_pooled(text)).to(self.device, self.dtype)
        images = condition_images({
            "depth": torch.as_tensor(np.asarray(request.depth, dtype=np.float32))[None],
            "segmentation": torch.as_tensor(np.asarray(request.segmentation, dtype=np.int64))[None],
            "keypoint_map": torch.as_tensor(np.asarray(request.keypoint_map, dtype=np.uint8))[None],
        })
        cond = encode_conditions(images, self.vae.encode).to(self.device, self.dtype)  # [1, F, 3C, h, w]
        first_cond = encode_conditions({c: images[c][:, :1] for c in CONDITIONS}, self.image_vae.encode)[:, 0]
        keep = subset_keep(request.condition_subset).to(self.device)
        report("encoding", 1, 1)

        latent0 = self.first_frame_latent(first_cond.to(self.device, self.dtype), text, pooled, keep, steps, g, tick)
        frame0 = self.image_vae.decode(latent0[:, None])  # I₀: [1, 1, H, W, 3] float in [0, 1]
        image_latents = self.vae.encode(frame0)  # the generated I₀, encoded as the video model sees a real one
        latents = self.video_latents(image_latents.to(self.device, self.dtype), cond, text, keep, steps, g, tick)
        report("decoding", 0, 1)
        video = self.vae.decode(latents)[0, : request.num_frames]
        report("decoding", 1, 1)
        frames = (video * 255.0).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
        out = request.sequence.with_video(frames)
        out.metadata.update({"generator": "pam", "config": self.cfg.name, "seed": int(request.seed),
                             "num_inference_steps": steps, "condition_subset": request.condition_subset,
                             "weights_trained": bool(self.weights_trained)})
        return out

    def first_frame_latent(self, cond: torch.Tensor, text: torch.Tensor, pooled: torch.Tensor, keep: torch.Tensor,
                           steps: int, g: torch.Generator, tick: Any) -> torch.Tensor:
        """Stage II: Euler integration of the rectified flow from noise (σ = 1) to an image latent (σ = 0)."""
        b, _, h, w = cond.shape
        c = int(self.image_vae.latent_channels)
        x = torch.randn(b, c, h, w, generator=g).to(self.device, self.dtype)
        guidance = None
        if self.image_model.base.config.guidance_embeds:
            guidance = torch.full((b,), float(self.cfg.image.guidance_scale), device=self.device, dtype=self.dtype)
        sigmas = torch.linspace(1.0, 0.0, steps + 1)
        for i in range(steps):
            tick(i)
            s = torch.full((b,), float(sigmas[i]), device=self.device, dtype=self.dtype)
            v = self.image_model(x, cond, text, pooled, s, guidance=guidance, condition_keep=keep)
            x = x + float(sigmas[i + 1] - sigmas[i]) * v
        return x

    def video_latents(self, image_latents: torch.Tensor, cond: torch.Tensor, text: torch.Tensor, keep: torch.Tensor,
                      steps: int, g: torch.Generator, tick: Any, use_controlnet: bool = True) -> torch.Tensor:
        """Stage III: the CogVideoX scheduler from pure noise, v-prediction by the controlled base
        (``use_controlnet=False``: the base alone, the no-ControlNet baseline)."""
        sched = self.scheduler
        sched.set_timesteps(steps, device=self.device)
        b, f, _, h, w = cond.shape
        c = int(self.vae.latent_channels)
        x = torch.randn(b, f, c, h, w, generator=g).to(self.device, self.dtype) * sched.init_noise_sigma
        for i, t in enumerate(sched.timesteps):
            tick(steps + i)
            ts = t.expand(b).to(self.device)
            v = self.video_model(x, image_latents, cond, text, ts, condition_keep=keep, use_controlnet=use_controlnet)
            x = sched.step(v, t, x, return_dict=False)[0]
        tick(2 * steps)
        return x
