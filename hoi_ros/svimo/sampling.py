"""Sampling of SViMo (Alg. 2): joint reverse diffusion of video latents, motion latents and (h, o)
with the closed loop of §3.5 (Eq. 7) at every step.

Per step t (Alg. 2):

1. interaction guidance (lines 4–5): ``(h̃₀, õ₀) = M_no-grad((hₜ, oₜ), (zₜⱽ, zₜᴹ), t)``, projected
   into a rendered motion video (``Proj`` of Eq. 7, ``hoi_ros.core.render_motion_video``) with the
   request's camera (``sample(camera=...)``, the reference image's) or else the configured one, and
   VAE-encoded into z̃₀ᴹ (zeros when ``loop.interaction_guidance`` is off);
2. denoising (line 6): ``(ẑ₀ⱽ, ẑ₀ᴹ) = G_θ(zₜⱽ ⊕ z_I, zₜᴹ ⊕ z̃₀ᴹ, P, t)`` (x₀ through the v output for a
   v-prediction model, :func:`~hoi_ros.svimo.dit.x0_from_output`), optionally with classifier-free
   guidance on the text;
3. motion readout (line 7): ``(ĥ₀, ô₀) = M_φ((hₜ, oₜ), (ẑ₀ⱽ, ẑ₀ᴹ), t)``;
4. the posterior of Eq. 3 for all three (lines 8–10), with one shared noise schedule:
   diffusers' ``DDPMScheduler`` given the x₀ estimates (``prediction_type="sample"``, fixed-small
   variance σ² = (1−ᾱₜ₋₁)/(1−ᾱₜ)·βₜ), or, as fast samplers with fewer steps, ``DDIMScheduler``
   (trailing spacing) or CogVideoX's DPM-Solver (``sampler.name: dpm``, which also uses the previous
   step's x₀ estimate); the closed loop (guidance, readout) runs at every step either way.

Everything is seeded by one ``torch.Generator`` (initial noise, then the posterior noise of each
step in a fixed order), so a seed gives the same result. ``progress(stage, step, total)`` is called
after every step; ``cancel`` (a ``threading.Event``) is checked before every step and raises
:class:`hoi_ros.core.GenerationCancelled`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from diffusers import CogVideoXDPMScheduler, DDIMScheduler

from hoi_ros.core.camera import Camera
from hoi_ros.core.generation import GenerationCancelled, ProgressCallback
from hoi_ros.core.render import render_motion_video
from hoi_ros.core.sequence import OBJECT_LABEL_TARGET, OBJECT_LABEL_TOOL
from hoi_ros.diffusion.schedulers import SamplerConfig, build_scheduler
from hoi_ros.svimo.config import LoopConfig
from hoi_ros.svimo.dit import SViMoTransformer, expand_image_latents, x0_from_output


def object_point_labels(num_points: int) -> np.ndarray:
    """Tool / target split of the K object points: first half tool, second half target (App. B.2)."""
    labels = np.full(num_points, OBJECT_LABEL_TOOL, dtype=np.uint8)
    labels[num_points // 2 :] = OBJECT_LABEL_TARGET
    return labels


def project_motion(hand: torch.Tensor, obj: torch.Tensor, camera: Camera, labels: np.ndarray) -> torch.Tensor:
    """``Proj`` of Eq. 7: hand joints ``[B, T, J, 3]`` + object points ``[B, T, K, 3]`` (metres) →
    rendered motion videos ``[B, T, H, W, 3]`` uint8 (the core's :func:`render_motion_video`)."""
    h = hand.detach().float().cpu().numpy()
    o = obj.detach().float().cpu().numpy()
    frames = [render_motion_video(h[i], o[i], camera, labels) for i in range(h.shape[0])]
    return torch.from_numpy(np.stack(frames))


@torch.no_grad()
def interaction_guidance(
    vid: torch.nn.Module,
    vae: Any,
    camera: Camera,
    labels: np.ndarray,
    hand_t: torch.Tensor,
    obj_t: torch.Tensor,
    video_latents: torch.Tensor,
    motion_latents: torch.Tensor,
    timestep: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 7, row 1 (Alg. 1 lines 6–7, Alg. 2 lines 4–5): VID without gradient → Proj → VAE E.

    ``hand_t``/``obj_t`` are in VID's diffusion space. Returns z̃₀ᴹ ``[B, F, C, h, w]`` and the
    VID estimates (h̃₀, õ₀) in diffusion space.
    """
    vid_dtype = next(vid.parameters()).dtype
    hand0, obj0 = vid(
        hand_t.to(vid_dtype), obj_t.to(vid_dtype), video_latents.to(vid_dtype), motion_latents.to(vid_dtype), timestep
    )
    frames = project_motion(vid.from_diffusion(hand0.float()), vid.from_diffusion(obj0.float()), camera, labels)
    guidance = vae.encode(frames).to(device=video_latents.device, dtype=torch.float32)
    return guidance, hand0.float(), obj0.float()


@dataclass
class SampleResult:
    """Outputs of Alg. 2 before decoding: z₀ⱽ, z₀ᴹ ``[B, F, C, h, w]``, and (h₀, o₀) in metres."""

    video_latents: torch.Tensor
    motion_latents: torch.Tensor
    hand: torch.Tensor
    obj: torch.Tensor
    guidance_latents: torch.Tensor  # z̃₀ᴹ of the last step
    camera: Camera | None = None  # the camera of Proj (Eq. 7) that rendered the guidance


class SViMoSampler:
    """Alg. 2 with the closed loop; see the module docstring."""

    def __init__(
        self,
        dit: SViMoTransformer,
        vid: torch.nn.Module,
        vae: Any,
        camera: Camera,
        sampler: SamplerConfig,
        loop: LoopConfig,
    ) -> None:
        self.dit, self.vid, self.vae, self.camera = dit, vid, vae, camera
        self.sampler_cfg, self.loop = sampler, loop
        self.labels = object_point_labels(vid.cfg.num_object_points)

    def _denoise(
        self,
        zv: torch.Tensor,
        zm: torch.Tensor,
        image: torch.Tensor,
        guidance: torch.Tensor,
        text: torch.Tensor,
        negative: torch.Tensor | None,
        t: torch.Tensor,
        guidance_scale: float,
        alphas_cumprod: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(ẑ₀ⱽ, ẑ₀ᴹ) of Alg. 2 line 6, with classifier-free guidance on the text when scale > 1."""
        dtype = next(self.dit.parameters()).dtype
        args = [zv, image, zm, guidance]
        tt = t.expand(zv.size(0))
        if negative is not None and guidance_scale > 1.0:
            batch = [torch.cat([a, a]).to(dtype) for a in args]
            out_v, out_m = self.dit(*batch, torch.cat([negative, text]).to(dtype), torch.cat([tt, tt]))
            (uv, cv), (um, cm) = out_v.float().chunk(2), out_m.float().chunk(2)
            out_v, out_m = uv + guidance_scale * (cv - uv), um + guidance_scale * (cm - um)
        else:
            out_v, out_m = self.dit(*(a.to(dtype) for a in args), text.to(dtype), tt)
        pt = self.dit.config.prediction_type
        return (
            x0_from_output(out_v.float(), zv, tt, alphas_cumprod, pt),
            x0_from_output(out_m.float(), zm, tt, alphas_cumprod, pt),
        )

    @torch.no_grad()
    def sample(
        self,
        image_latents: torch.Tensor,
        text_embeds: torch.Tensor,
        num_frames: int,
        negative_embeds: torch.Tensor | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        generator: torch.Generator | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        guidance_motion: tuple[torch.Tensor, torch.Tensor] | None = None,
        camera: Camera | None = None,
    ) -> SampleResult:
        """Run Alg. 2.

        Args:
            image_latents: z_I ``[B, 1, C, h, w]`` (VAE latent of the reference image).
            text_embeds: text features ``[B, L, d_text]``; ``negative_embeds`` the same for CFG.
            num_frames: video frames T of the motion (h, o); the latent frames follow the VAE.
            num_inference_steps / guidance_scale: default to the sampler config (their limits are the
                generator's :class:`~hoi_ros.core.generation.GeneratorLimits`, checked at its entry).
            generator: seeds all noise (CPU generator).
            guidance_motion: ``(hand [B,T,J,3], obj [B,T,K,3])`` in metres, or None. Given, its rendered
                motion video's latents are the guidance z̃₀ᴹ at every step instead of VID's estimate
                (Table 3's "VModel w/ Pred. Mot.": a video model trained with ``guidance_source:
                ground_truth`` sampled with another model's predicted motion). Needs
                ``loop.interaction_guidance``.
            camera: the camera of ``Proj`` (Eq. 7) for the guidance's rendered motion video, at the
                video's size (the reference image's camera mapped as the image was); None = the
                sampler's (the config's).
        """
        cfg = self.sampler_cfg
        camera = self.camera if camera is None else camera
        steps = int(num_inference_steps or cfg.num_inference_steps)
        scale = float(cfg.guidance_scale if guidance_scale is None else guidance_scale)
        if scale > 1.0 and negative_embeds is None:
            raise ValueError("negative_embeds: classifier-free guidance (guidance_scale > 1) needs them")
        b, _, c, h, w = image_latents.shape
        r = self.vae.temporal_ratio
        if (num_frames - 1) % r:
            raise ValueError(f"num_frames: must be 1 + {r}·k for the VAE, got {num_frames}")
        f = (num_frames - 1) // r + 1
        device = image_latents.device
        vcfg = self.vid.cfg
        schedulers = [build_scheduler(cfg) for _ in range(4)]  # video, motion, hand, object
        for s in schedulers:
            s.set_timesteps(steps, device=device)
        timesteps = schedulers[0].timesteps
        abar = schedulers[0].alphas_cumprod

        def noise(*shape: int) -> torch.Tensor:
            return torch.randn(shape, generator=generator, dtype=torch.float32).to(device)

        zv, zm = noise(b, f, c, h, w), noise(b, f, c, h, w)  # Alg. 2 line 2
        hand, obj = noise(b, num_frames, vcfg.num_joints, 3), noise(b, num_frames, vcfg.num_object_points, 3)
        image = expand_image_latents(image_latents.float(), f, self.dit.config.image_latent_layout)
        guidance = torch.zeros_like(zv)
        fixed_guidance = None
        if guidance_motion is not None:
            if not self.loop.interaction_guidance:
                raise ValueError("guidance_motion: the model has no guidance input (loop.interaction_guidance off)")
            frames = project_motion(guidance_motion[0], guidance_motion[1], camera, self.labels)
            fixed_guidance = self.vae.encode(frames).to(device=device, dtype=torch.float32)
            if fixed_guidance.shape != zv.shape:
                raise ValueError(f"guidance_motion: gives latents {tuple(fixed_guidance.shape)}, not {tuple(zv.shape)}")
        previous_x0: list[torch.Tensor | None] = [None] * 4  # DPM-Solver's last x₀ estimates
        for i, t in enumerate(timesteps):
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled(f"cancelled at denoising step {i}/{len(timesteps)}")
            tt = t.reshape(1).to(device).long().expand(b)
            if fixed_guidance is not None:  # "VModel w/ Pred. Mot." (Table 3)
                guidance = fixed_guidance
            elif self.loop.interaction_guidance:  # Alg. 2 lines 4-5
                guidance, _, _ = interaction_guidance(
                    self.vid, self.vae, camera, self.labels, hand, obj, zv, zm, tt
                )
            x0v, x0m = self._denoise(zv, zm, image, guidance, text_embeds, negative_embeds, tt, scale, abar)
            vid_dtype = next(self.vid.parameters()).dtype
            hand0, obj0 = self.vid(  # Alg. 2 line 7
                hand.to(vid_dtype), obj.to(vid_dtype), x0v.to(vid_dtype), x0m.to(vid_dtype), tt
            )
            new = []
            for k, (sched, x0, z) in enumerate(zip(schedulers, (x0v, x0m, hand0.float(), obj0.float()),
                                                   (zv, zm, hand, obj))):
                if isinstance(sched, CogVideoXDPMScheduler):
                    back = timesteps[i - 1] if i > 0 else None
                    prev, previous_x0[k] = sched.step(x0, previous_x0[k], t, back, z, generator=generator)
                    new.append(prev)
                    continue
                if isinstance(sched, DDIMScheduler):
                    out = sched.step(x0, t, z, eta=cfg.eta, generator=generator)
                else:
                    out = sched.step(x0, t, z, generator=generator)
                new.append(out.prev_sample)
            zv, zm, hand, obj = new  # Alg. 2 lines 8-10
            if progress is not None:
                progress("denoising", i + 1, len(timesteps))
        return SampleResult(
            video_latents=zv,
            motion_latents=zm,
            hand=self.vid.from_diffusion(hand),
            obj=self.vid.from_diffusion(obj),
            guidance_latents=guidance,
            camera=camera,
        )

