"""``SViMoGenerator``: reference image + prompt → HOI video + 3D motion (:class:`HOISequence`).

Implements :class:`hoi_ros.core.generation.HOIGenerator` (what ``/hoi/generate`` calls) around
Alg. 2 (:mod:`hoi_ros.svimo.sampling`): encode the prompt (frozen text encoder) and the reference
image (VAE, z_I = E(I), Alg. 2 line 1), run the joint reverse diffusion with the closed loop, decode
the video latents (line 12) and return video, hand joints and object points in metres, with the
request's camera (the reference image's, mapped to the video size as the image is:
:func:`camera_for_video`) or else the configured one. That camera also renders the closed loop's
motion video (``Proj`` of Eq. 7) at every step.

Input the model does not cover — a reference image unlike its training images, a camera unlike its
training camera, a verb or object its training prompts never contain — is reported, not refused:
``metadata["warnings"]`` lists it (:mod:`hoi_ros.svimo.coverage`; the statistics are the model
folder's ``input_coverage.json``, or the file given as ``input_coverage``).

Weights: a SViMo model folder (diffusers-style, :func:`hoi_ros.svimo.weights.save_svimo`; the
single-file checkpoint of earlier releases still loads, with a DeprecationWarning), else the
CogVideoX-I2V initialisation of ``pretrained`` (G_θ's video prior only; motion stream and VID
untrained), else seeded random weights. ``metadata["weights_trained"]`` says which: an untrained
model's output is noise-like and is labelled so.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hoi_ros.core.camera import Camera
from hoi_ros.core.contact import follow_hand
from hoi_ros.core.generation import GenerationCancelled, GenerationRequest, GeneratorLimits, ProgressCallback
from hoi_ros.core.sequence import HOISequence
from hoi_ros.diffusion.dtypes import torch_dtype
from hoi_ros.diffusion.image import prepare_image
from hoi_ros.diffusion.offload import OnDevice
from hoi_ros.diffusion.text import build_text_encoder
from hoi_ros.diffusion.vae import build_vae, route_conv3d_to_onednn
from hoi_ros.svimo.config import SViMoConfig
from hoi_ros.svimo.coverage import InputCoverage, coverage_file
from hoi_ros.svimo.dit import SViMoTransformer
from hoi_ros.svimo.sampling import SViMoSampler
from hoi_ros.svimo.vid import VID
from hoi_ros.svimo.weights import init_from_cogvideox, load_svimo


def camera_for_video(camera: Camera, image_hw: tuple[int, int], height: int, width: int) -> Camera:
    """The reference image's camera as the camera of the ``height`` x ``width`` video.

    ``camera``'s intrinsics describe the image at ``camera.width`` x ``camera.height`` (same aspect
    ratio as the image, :func:`hoi_ros.core.generation.check_camera`); the image of ``image_hw``
    (rows, columns) becomes the video's first frame by :func:`hoi_ros.diffusion.image.prepare_image`
    (scale to cover, centre crop). The same map on pixel coordinates (pixel centres at integers,
    ``u' = (u + ½)·s − ½ − crop``) gives the video's intrinsics ``A·K``; the extrinsics stay.
    """
    h, w = image_hw
    scale = max(height / h, width / w)
    nh, nw = max(height, round(h * scale)), max(width, round(w * scale))  # prepare_image's resize
    top, left = (nh - height) // 2, (nw - width) // 2  # and its crop
    sx, sy = nw / camera.width, nh / camera.height  # camera pixels -> resized image pixels
    a = np.array([[sx, 0.0, 0.5 * sx - 0.5 - left], [0.0, sy, 0.5 * sy - 0.5 - top], [0.0, 0.0, 1.0]])
    return Camera(width, height, a @ np.asarray(camera.intrinsics, dtype=np.float64),
                  np.array(camera.extrinsics, dtype=np.float64, copy=True))


class SViMoGenerator:
    """SViMo as an :class:`~hoi_ros.core.generation.HOIGenerator` (see the module docstring)."""

    request_type = GenerationRequest

    def __init__(
        self,
        cfg: SViMoConfig,
        checkpoint: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        model_cpu_offload: bool = False,
        input_coverage: str | os.PathLike | None = None,
    ) -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.dtype = torch_dtype(cfg.dtype)
        self.offload = bool(model_cpu_offload) and self.device.type != "cpu"
        self.weight_report: str | None = None
        checkpoint = checkpoint or cfg.checkpoint
        # What the model covers: the given file, "none" for no checks, else the file beside the weights.
        choice = "" if input_coverage is None else str(input_coverage)
        path = None if choice.lower() == "none" else Path(choice) if choice else coverage_file(checkpoint)
        try:
            self.coverage = None if path is None else InputCoverage.load(path)
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"input_coverage: cannot read {str(path)!r}: {exc}") from None
        self.coverage_file = None if path is None else str(path)
        if checkpoint:  # a model folder (model_index.json), or a deprecated single-file checkpoint
            self.dit, self.vid, meta = load_svimo(checkpoint, cfg.dit, cfg.vid)
            self.weights_trained = meta.get("trained", "true").lower() != "false"
            self.weights = f"SViMo checkpoint {Path(checkpoint).name}"
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg.seed)
                self.dit = SViMoTransformer(cfg.dit)
                self.vid = VID(cfg.vid)
            self.weights_trained = False
            if cfg.pretrained:
                report = init_from_cogvideox(self.dit, cfg.pretrained)
                self.weight_report = report.summary()
                self.weights = "CogVideoX-I2V initialisation (motion stream and VID untrained)"
            else:
                self.weights = f"random initialisation (seed {cfg.seed}), untrained"
        # torch's cast: diffusers' ModelMixin.to (0.42) warns about float32 modules on any dtype argument.
        torch.nn.Module.to(self.dit, self.dtype).eval().requires_grad_(False)
        self.vid.eval().requires_grad_(False)  # VID stays float32 (small; its own normalisation)
        route_conv3d_to_onednn(self.vid)  # batch-1 requests: its 3-D convs off torch's im2col kernel
        self.text_encoder = build_text_encoder(cfg.text)
        if self.text_encoder.dim != cfg.dit.text_embed_dim:
            raise ValueError(
                f"dit.text_embed_dim: {cfg.dit.text_embed_dim} differs from the text encoder's {self.text_encoder.dim}"
            )
        self.vae = build_vae(cfg.vae)
        if self.vae.latent_channels != cfg.dit.latent_channels:
            raise ValueError(
                f"dit.latent_channels: {cfg.dit.latent_channels} differs from the VAE's {self.vae.latent_channels}"
            )
        step = self.vae.spatial_ratio * cfg.dit.patch_size
        if cfg.video.height % step or cfg.video.width % step:
            raise ValueError(
                f"video.height/width: must be multiples of {step}, got {cfg.video.height}x{cfg.video.width}"
            )
        if not self.offload:
            for m in (self.dit, self.vid, self.text_encoder, self.vae):
                m.to(self.device)
        self.camera = cfg.camera.build(cfg.video.width, cfg.video.height)
        self.sampler = SViMoSampler(self.dit, self.vid, self.vae, self.camera, cfg.sampler, cfg.loop)
        self.limits = GeneratorLimits(
            min_frames=1,
            max_frames=cfg.video.num_frames,
            default_frames=cfg.video.num_frames,
            min_steps=1,
            max_steps=cfg.sampler.num_train_timesteps,
            default_steps=cfg.sampler.num_inference_steps,
            default_guidance=float(cfg.sampler.guidance_scale),
        )
        self._lock = threading.Lock()

    @classmethod
    def from_config(
        cls,
        path: str | os.PathLike,
        checkpoint: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        model_cpu_offload: bool = False,
        vae_slicing: bool | None = None,
        vae_tiling: bool | None = None,
        input_coverage: str | None = None,
        object_follows_hand: bool | None = None,
    ) -> SViMoGenerator:
        """Build from a YAML file; keyword overrides are the ROS node's parameters (``input_coverage``:
        a coverage JSON, ``"none"`` for no input checks, None or ``""`` = the model folder's;
        ``object_follows_hand``: ``refine.object_follows_hand``, None = the YAML's)."""
        cfg = SViMoConfig.from_yaml(path)
        if object_follows_hand is not None:
            cfg = dataclasses.replace(cfg, refine=dataclasses.replace(cfg.refine,
                                                                      object_follows_hand=bool(object_follows_hand)))
        if dtype:
            cfg = dataclasses.replace(cfg, dtype=dtype)
        vae_changes = {
            k: v for k, v in (("enable_slicing", vae_slicing), ("enable_tiling", vae_tiling)) if v is not None
        }
        if vae_changes:
            cfg = dataclasses.replace(cfg, vae=dataclasses.replace(cfg.vae, **vae_changes))
        return cls(cfg, checkpoint=checkpoint or None, device=device or "cpu", model_cpu_offload=model_cpu_offload,
                   input_coverage=input_coverage)

    # ------------------------------------------------------------------ helpers
    def _stage(self, module: Any) -> OnDevice:
        return OnDevice(module, self.device, self.offload)

    def sample_frames(self, num_frames: int) -> int:
        """Frames actually generated for a request of ``num_frames``: the next count the VAE takes
        (1 + 2·r·k); the result is cut back to ``num_frames``."""
        chunk = 2 * self.vae.temporal_ratio
        return 1 + chunk * math.ceil((num_frames - 1) / chunk)

    def request_camera(self, request: GenerationRequest) -> Camera:
        """The camera of the request's video: its own, mapped to the video size (:func:`camera_for_video`),
        or the model's. A bad camera raises :class:`~hoi_ros.core.generation.RequestError` for ``camera``
        (checked by :meth:`GeneratorLimits.check`)."""
        camera = getattr(request, "camera", None)
        if camera is None:
            return self.camera
        return camera_for_video(camera, request.image.shape[:2], self.cfg.video.height, self.cfg.video.width)

    def refine_objects(self, hand: torch.Tensor, obj: torch.Tensor) -> torch.Tensor:
        """``refine`` of the model config on generated motion ``[B, T, J, 3]`` / ``[B, T, K, 3]``: with
        ``object_follows_hand``, each object part (the sampler's labels) turns with the palm touching it
        (:func:`hoi_ros.core.contact.follow_hand`); otherwise ``obj`` unchanged."""
        refine = self.cfg.refine
        if not refine.object_follows_hand:
            return obj
        followed = [follow_hand(h, o, self.sampler.labels, refine.contact_distance)
                    for h, o in zip(hand.float().cpu().numpy(), obj.float().cpu().numpy())]
        return torch.from_numpy(np.stack(followed)).to(obj.device, obj.dtype)

    def input_warnings(self, request: GenerationRequest) -> list[str]:
        """Input of ``request`` the model does not cover (:mod:`hoi_ros.svimo.coverage`): its image, its
        camera (when it gives one) and its prompt; [] without statistics."""
        if self.coverage is None:
            return []
        camera = None if getattr(request, "camera", None) is None else self.request_camera(request)
        return self.coverage.check(request.image, request.prompt, camera)

    def release_memory(self) -> None:
        """Return cached accelerator memory (called by the request queue after a failed request)."""
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # ------------------------------------------------------------------ HOIGenerator
    def generate(
        self,
        request: GenerationRequest,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> HOISequence:
        """Alg. 2 for one request; raises GenerationCancelled within one step of ``cancel`` being set."""
        self.limits.check(request)
        cfg = self.cfg
        camera = self.request_camera(request)
        with self._lock:
            start = time.monotonic()

            def report(stage: str, step: int, total: int) -> None:
                if progress is not None:
                    progress(stage, step, total)
                if cancel is not None and cancel.is_set():
                    raise GenerationCancelled(f"cancelled during {stage}")

            report("encoding", 0, 2)
            warnings = self.input_warnings(request)
            with self._stage(self.text_encoder):
                text = self.text_encoder.encode([request.prompt])
                negative = None
                if request.guidance_scale > 1.0:
                    negative = self.text_encoder.encode([cfg.sampler.negative_prompt])
            report("encoding", 1, 2)
            image = prepare_image(request.image, cfg.video.height, cfg.video.width)
            with self._stage(self.vae):
                z_image = self.vae.encode(image[None, None]).to(self.device)  # z_I = E(I), [1, 1, C, h, w]
            report("encoding", 2, 2)

            frames = self.sample_frames(request.num_frames)
            generator = torch.Generator().manual_seed(int(request.seed))
            with self._stage(self.dit), self._stage(self.vid), self._stage(self.vae):
                result = self.sampler.sample(
                    z_image,
                    text.to(self.device),
                    frames,
                    negative_embeds=None if negative is None else negative.to(self.device),
                    num_inference_steps=request.num_inference_steps,
                    guidance_scale=request.guidance_scale,
                    generator=generator,
                    progress=progress,
                    cancel=cancel,
                    camera=camera,
                )
            obj = self.refine_objects(result.hand, result.obj)
            report("decoding", 0, 1)
            with self._stage(self.vae):
                video = self.vae.decode(result.video_latents)[0]
            report("decoding", 1, 1)

            n = request.num_frames
            video_u8 = (video[:n].float() * 255.0).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
            return HOISequence(
                hand_joints=result.hand[0, :n].float().cpu().numpy(),
                object_points=obj[0, :n].float().cpu().numpy(),
                object_point_labels=self.sampler.labels,
                camera=camera,
                fps=cfg.video.fps,
                prompt=request.prompt,
                video=video_u8,
                metadata={
                    "generator": "svimo",
                    "config": cfg.name,
                    "weights": self.weights,
                    "weights_trained": self.weights_trained,
                    "sampler": cfg.sampler.name,
                    "num_inference_steps": int(request.num_inference_steps),
                    "guidance_scale": float(request.guidance_scale),
                    "seed": int(request.seed),
                    "loop": cfg.loop.variant,
                    "object_follows_hand": bool(cfg.refine.object_follows_hand),
                    "generated_frames": frames,
                    "camera": "model" if camera is self.camera else "request",
                    "warnings": warnings,
                    "input_coverage": self.coverage_file,
                    "seconds": round(time.monotonic() - start, 3),
                },
            )
