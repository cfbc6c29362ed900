"""One step of SViMo training (App. A, Alg. 1) as one ``nn.Module`` holding G_θ and M_φ.

:class:`SViMoTrainModule` owns the DiT ``dit`` and the VID ``vid`` and its ``forward`` *is* one
training step, so a distributed wrapper (DDP, DeepSpeed ZeRO-3 through ``accelerate``) wraps one
model and synchronises the gradients of both. Randomness (t, ε) is drawn by the caller
(:func:`draw_noise`) from the run's own generator, so steps are reproducible and resumable.

- **VID warm-up** (§3.5, §4.2): Eq. 6 on the noised ground-truth latents,
  ``(ĥ₀, ô₀) = M_φ((h_t, o_t), (z_tⱽ, z_tᴹ), t)``, loss ``L_VID`` (App. B.2, Eq. 12 + 13). Optionally
  (``StepNoise.clean``, the training config's ``vid_warmup_clean_fraction``) a share of the samples
  gives VID the clean latents z₀ instead: the ideal SViMo output ẑ₀ that Eq. 6's expectation and
  Alg. 2 line 7 feed VID, so that VID learns to *read* the latents rather than only denoise (h_t, o_t)
  (with z_t alone, latents and motion are equally noisy and the motion input is the easier cue).
- **Joint closed-loop step** (Alg. 1 lines 5–10): Eq. 1 noising of z₀ⱽ, z₀ᴹ, h₀, o₀;
  *interaction guidance* (lines 6–7, Eq. 7 row 1): VID without gradient on (z_tⱽ, z_tᴹ), projected
  and VAE-encoded by the caller's ``guidance_fn`` into z̃₀ᴹ; ``G_θ(z_tⱽ ⊕ z_I, z_tᴹ ⊕ z̃₀ᴹ, P, t)``
  → (ẑ₀ⱽ, ẑ₀ᴹ) (line 8; x₀ through the v output for a v-prediction model, Eq. 2);
  *gradient constraint* (line 9, Eq. 7 row 2): VID on (ẑ₀ⱽ, ẑ₀ᴹ) with gradients into G_θ;
  ``L = ω₁·L_SViMo + ω₂·L_VID`` (line 10; Eq. 5, 6; ω₁ = 1, ω₂ = 0.05 in §4.2).

Exposure bias (not in the paper; ``TrainConfig.loop_motion_noise``, docs/svimo.md): at sampling the
VID's motion input (h_t, o_t) is the sampler's own chain, at training the noised ground truth, which
at low t is nearly the answer. With a path named in ``motion_noise_paths`` ("guidance": lines 6–7,
"readout": line 9) that VID call sees the motion noised at s ~ U{t..T−1} instead (told s; the latents
stay at t), so the DiT is not taught to copy a guidance that is better than any the sampler can give.

Guidance dropout (not in the paper; ``TrainConfig.guidance_dropout``, docs/svimo.md): in the joint phase
a share of the samples sees z̃₀ᴹ = 0 (what "w/o VID" always sees), as self-conditioning is trained
(Chen et al. 2023, "Analog Bits"), so G_θ keeps a motion model of its own and uses the guidance as a
hint rather than an answer to copy. Sampling (Alg. 2) always computes the guidance.

Gradient-constraint shaping (not in the paper; ``TrainConfig.constraint_paths`` / ``constraint_ramp_steps``,
docs/svimo.md): line 9's gradient into G_θ may flow through only some of SViMo's outputs
(``constraint_paths``: "video" → ẑ₀ⱽ, "motion" → ẑ₀ᴹ; the paper: both) and be scaled by
``forward(constraint_scale=λ)`` (a ramp from 0 to 1 over the joint phase). VID's own loss and its
gradient are untouched; λ = 1 on both paths is Alg. 1 as written, bit for bit.

Table 3's switches (``SViMoConfig.loop``): guidance off → z̃₀ᴹ = 0; gradient constraint off →
the VID still learns from SViMo's outputs, detached (so every variant has a 3D motion readout;
"w/o VID" is then SViMo with a VID trained beside it and no feedback in either direction).
Table 3's video-only rows (``svimo_streams``, ``guidance_source``): Eq. 5 on one stream only
(``("video",)`` or ``("motion",)``), and z̃₀ᴹ = z₀ᴹ, the ground truth's clean motion latents, instead of
VID's estimate (``guidance_source="ground_truth"``: "VModel w/ GT Mot. Guid.").

Loss weighting (``loss_weighting``): ``"none"`` is Eq. 5 as written (unweighted MSE of the x₀
latents); ``"cogvideox"`` weights each sample by ``1 / (1 − ᾱₜ)`` as CogVideoX's fine-tuning scripts do
(:mod:`hoi_ros.diffusion.loss_weighting`), which for a v-prediction DiT is the MSE on v. VID's loss
(Eq. 12 + 13) is left unweighted: VID predicts x₀ itself and Eq. 13 is a distance, not a squared error.

The schedule's table ᾱ (``alphas_cumprod``) stays float32 whatever the module is cast to (a bf16
cast would round ᾱ near 1 to 1, i.e. no noise at the smallest t; :meth:`SViMoTrainModule._apply`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from hoi_ros.diffusion.loss_weighting import loss_weights
from hoi_ros.svimo.config import SViMoConfig
from hoi_ros.svimo.dit import SViMoTransformer, expand_image_latents, x0_from_output
from hoi_ros.svimo.losses import LOSS_WEIGHTINGS, LossWeights, svimo_loss, total_loss, vid_loss
from hoi_ros.svimo.vid import VID

# (hand metres [B,T,J,3], object metres [B,T,K,3]) -> guidance latents z̃₀ᴹ [B,F,C,h,w] (Proj + VAE E).
GuidanceFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def alphas_cumprod_of(model_cfg: SViMoConfig) -> torch.Tensor:
    """ᾱ of Eq. 1 from the model's schedule (the same diffusers betas SViMo samples with)."""
    from diffusers import DDPMScheduler

    s = model_cfg.sampler
    sched = DDPMScheduler(
        num_train_timesteps=s.num_train_timesteps, beta_start=s.beta_start, beta_end=s.beta_end,
        beta_schedule=s.beta_schedule, rescale_betas_zero_snr=s.rescale_betas_zero_snr,
    )
    return sched.alphas_cumprod.clone().float()


def diffuse(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Eq. 1: ``x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε`` with per-sample ``t [B]``."""
    abar = alphas_cumprod.to(x0.device)[t].view((-1,) + (1,) * (x0.ndim - 1))
    return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise


@dataclass
class StepNoise:
    """The random draws of one step: t ~ U{0..T−1} (§4.2) and ε for z⁽ⱽ⁾, z⁽ᴹ⁾, h and o (Eq. 1);
    ``clean [B]`` (warm-up only, optional): which samples give VID the clean latents z₀;
    ``s [B]``, ``eps_hand_s``, ``eps_obj_s`` (optional): the motion's noise level s ≥ t and its ε for
    the VID calls named in ``motion_noise_paths`` (module docstring); ``drop_guidance [B]`` (joint
    phase, optional): the samples whose interaction guidance z̃₀ᴹ is replaced by zeros;
    ``drop_text [B]`` (joint phase, optional): the samples whose prompt is replaced by the empty one
    (text dropout, what classifier-free guidance needs)."""

    t: torch.Tensor
    eps_video: torch.Tensor
    eps_motion: torch.Tensor
    eps_hand: torch.Tensor
    eps_obj: torch.Tensor
    clean: torch.Tensor | None = None
    s: torch.Tensor | None = None
    eps_hand_s: torch.Tensor | None = None
    eps_obj_s: torch.Tensor | None = None
    drop_guidance: torch.Tensor | None = None
    drop_text: torch.Tensor | None = None


def draw_noise(
    gen: torch.Generator,
    num_timesteps: int,
    video_shape: torch.Size,
    motion_shape: torch.Size,
    hand_shape: torch.Size,
    obj_shape: torch.Size,
    clean_fraction: float = 0.0,
    motion_noise: bool = False,
    guidance_dropout: float = 0.0,
    text_dropout: float = 0.0,
) -> StepNoise:
    """Draw one step's randomness from ``gen`` (CPU), in a fixed order (Alg. 1 lines 4–5); with
    ``clean_fraction`` > 0, then a Bernoulli(``clean_fraction``) mask per sample (warm-up input choice);
    with ``motion_noise``, then s ~ U{t..T−1} and its ε for hand and object (exposure-bias remedy);
    with ``guidance_dropout`` > 0, last, a Bernoulli(``guidance_dropout``) mask of samples whose z̃₀ᴹ is
    zeroed; with ``text_dropout`` > 0, after all, a Bernoulli(``text_dropout``) mask of samples whose prompt
    is dropped. Each option draws after the ones before it, so switching one on leaves the others' draws."""
    t = torch.randint(0, num_timesteps, (video_shape[0],), generator=gen)
    eps = [torch.randn(tuple(s), generator=gen) for s in (video_shape, motion_shape, hand_shape, obj_shape)]
    clean = torch.rand(video_shape[0], generator=gen) < clean_fraction if clean_fraction > 0 else None
    noise = StepNoise(t, *eps, clean=clean)
    if motion_noise:
        noise.s = t + (torch.rand(t.shape, generator=gen) * (num_timesteps - t)).long().clamp(max=num_timesteps - 1 - t)
        noise.eps_hand_s, noise.eps_obj_s = (torch.randn(tuple(x), generator=gen) for x in (hand_shape, obj_shape))
    if guidance_dropout > 0:
        noise.drop_guidance = torch.rand(video_shape[0], generator=gen) < guidance_dropout
    if text_dropout > 0:
        noise.drop_text = torch.rand(video_shape[0], generator=gen) < text_dropout
    return noise


MOTION_NOISE_PATHS = ("guidance", "readout")
CONSTRAINT_PATHS = ("video", "motion")
SVIMO_STREAMS = ("video", "motion")  # the two terms of Eq. 5
GUIDANCE_SOURCES = ("vid", "ground_truth")


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; the gradient times ``scale`` backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.scale, None


def scale_grad(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``x`` whose gradient is multiplied by ``scale`` (1: ``x`` itself; 0: ``x.detach()``)."""
    if scale == 1.0:
        return x
    if scale == 0.0:
        return x.detach()
    return _ScaleGrad.apply(x, float(scale))


class SViMoTrainModule(nn.Module):
    """G_θ + M_φ; ``forward`` computes the losses of one Alg. 1 step (see the module docstring)."""

    def __init__(self, dit: SViMoTransformer, vid: VID, model_cfg: SViMoConfig, weights: LossWeights,
                 motion_noise_paths: tuple[str, ...] = (),
                 constraint_paths: tuple[str, ...] = CONSTRAINT_PATHS,
                 loss_weighting: str = "none",
                 svimo_streams: tuple[str, ...] = SVIMO_STREAMS,
                 guidance_source: str = "vid") -> None:
        super().__init__()
        if loss_weighting not in LOSS_WEIGHTINGS:
            raise ValueError(f"loss_weighting: one of {LOSS_WEIGHTINGS}, got {loss_weighting!r}")
        if not svimo_streams or set(svimo_streams) - set(SVIMO_STREAMS):
            raise ValueError(f"svimo_streams: a non-empty subset of {SVIMO_STREAMS}, got {list(svimo_streams)}")
        if guidance_source not in GUIDANCE_SOURCES:
            raise ValueError(f"guidance_source: one of {GUIDANCE_SOURCES}, got {guidance_source!r}")
        if guidance_source == "ground_truth" and not model_cfg.loop.interaction_guidance:
            raise ValueError("guidance_source: ground_truth needs loop.interaction_guidance (the guidance input)")
        bad = set(motion_noise_paths) - set(MOTION_NOISE_PATHS)
        if bad:
            raise ValueError(f"motion_noise_paths: unknown {sorted(bad)}; choose from {MOTION_NOISE_PATHS}")
        bad = set(constraint_paths) - set(CONSTRAINT_PATHS)
        if bad:
            raise ValueError(f"constraint_paths: unknown {sorted(bad)}; choose from {CONSTRAINT_PATHS}")
        self.dit = dit
        self.vid = vid
        self.model_cfg = model_cfg
        self.weights = weights
        self.motion_noise_paths = tuple(motion_noise_paths)
        self.constraint_paths = tuple(constraint_paths)
        self.loss_weighting = loss_weighting
        self.svimo_streams = tuple(x for x in SVIMO_STREAMS if x in svimo_streams)
        self.guidance_source = guidance_source
        self.register_buffer("alphas_cumprod", alphas_cumprod_of(model_cfg), persistent=False)

    def _apply(self, fn, recurse: bool = True):  # type: ignore[no-untyped-def]
        """``nn.Module._apply`` (``.to``, ``.bfloat16()``, ``.cuda()``, DeepSpeed's cast), but the
        schedule's ᾱ only follows the device: its float32 values are kept (module docstring)."""
        abar = self._buffers["alphas_cumprod"]
        out = super()._apply(fn, recurse)
        moved = self._buffers["alphas_cumprod"]
        if moved is not None and abar is not None and moved.dtype != torch.float32:
            self._buffers["alphas_cumprod"] = abar.to(device=moved.device, dtype=torch.float32)
        return out

    def _vid(self, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """M_φ in its own dtype (``(h_t, o_t, z⁽ⱽ⁾, z⁽ᴹ⁾)`` cast, ``t`` last)."""
        dt = next(self.vid.parameters()).dtype
        *xs, t = args
        return self.vid(*(x.to(dt) for x in xs), t)

    def forward(
        self,
        latents: dict[str, torch.Tensor],
        hand: torch.Tensor,
        obj: torch.Tensor,
        noise: StepNoise,
        warmup: bool,
        guidance_fn: GuidanceFn | None = None,
        constraint_scale: float = 1.0,
    ) -> dict[str, torch.Tensor]:
        """One step. ``latents``: ``video_latents``/``motion_latents`` z₀ ``[B,F,C,h,w]``,
        ``image_latents`` z_I ``[B,1,C,h,w]``, ``text_embeds`` ``[B,L,d]``; ``hand [B,T,J,3]`` and
        ``obj [B,T,K,3]`` in metres; ``constraint_scale`` λ ∈ [0, 1] scales line 9's gradient into G_θ.
        Returns the losses; ``"loss"`` is the one to minimise."""
        if not 0.0 <= float(constraint_scale) <= 1.0:
            raise ValueError(f"constraint_scale: must be in [0, 1], got {constraint_scale}")
        loop, abar = self.model_cfg.loop, self.alphas_cumprod
        device = abar.device
        z0v = latents["video_latents"].to(device)
        z0m = latents["motion_latents"].to(device)
        h0 = self.vid.to_diffusion(hand.to(device))
        o0 = self.vid.to_diffusion(obj.to(device))
        t = noise.t.to(device)
        ztv = diffuse(z0v, noise.eps_video.to(device), t, abar)
        ztm = diffuse(z0m, noise.eps_motion.to(device), t, abar)
        ht = diffuse(h0, noise.eps_hand.to(device), t, abar)
        ot = diffuse(o0, noise.eps_obj.to(device), t, abar)
        out: dict[str, torch.Tensor] = {}

        def motion_in(path: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            """(h, o, level) the VID call on ``path`` sees: (h_t, o_t, t), or (h_s, o_s, s)."""
            if path not in self.motion_noise_paths:
                return ht, ot, t
            if noise.s is None or noise.eps_hand_s is None or noise.eps_obj_s is None:
                raise ValueError(f"motion noise on {path!r}: draw_noise(..., motion_noise=True) is needed")
            s = noise.s.to(device)
            return (diffuse(h0, noise.eps_hand_s.to(device), s, abar),
                    diffuse(o0, noise.eps_obj_s.to(device), s, abar), s)

        if warmup:  # Eq. 6 on (z_tⱽ, z_tᴹ), or on z₀ for the samples marked clean
            vin, min_ = ztv, ztm
            if noise.clean is not None:
                mask = noise.clean.to(device).view(-1, 1, 1, 1, 1)
                vin, min_ = torch.where(mask, z0v, ztv), torch.where(mask, z0m, ztm)
            hp, op = self._vid(ht, ot, vin, min_, t)
            lv = vid_loss(hp.float(), op.float(), h0, o0, self.weights.w_obj_points)
            out.update(l_vid=lv["vid"], l_hand=lv["hand"], l_obj=lv["object"], loss=lv["vid"])
            return out
        # Lines 6-7: interaction guidance z̃₀ᴹ = E(Proj(M_no-grad((h_t, o_t), (z_tⱽ, z_tᴹ), t))).
        if loop.interaction_guidance and self.guidance_source == "ground_truth":
            guidance = z0m  # "VModel w/ GT Mot. Guid." (Table 3): the true motion latents as the guidance
        elif loop.interaction_guidance:
            if guidance_fn is None:
                raise ValueError("guidance_fn: needed when loop.interaction_guidance is on")
            hg_in, og_in, level = motion_in("guidance")
            with torch.no_grad():
                hg, og = self._vid(hg_in, og_in, ztv, ztm, level)
                guidance = guidance_fn(self.vid.from_diffusion(hg.float()), self.vid.from_diffusion(og.float()))
            guidance = guidance.to(device=device, dtype=z0m.dtype)
            if noise.drop_guidance is not None:  # guidance dropout (module docstring)
                guidance = torch.where(noise.drop_guidance.to(device).view(-1, 1, 1, 1, 1), 0.0, guidance)
        else:
            guidance = torch.zeros_like(z0m)
        # Line 8: G_θ(z_tⱽ ⊕ z_I, z_tᴹ ⊕ z̃₀ᴹ, P, t) -> (ẑ₀ⱽ, ẑ₀ᴹ).
        cfg = self.model_cfg.dit
        image = expand_image_latents(latents["image_latents"].to(device), z0v.shape[1], cfg.image_latent_layout)
        dt = next(self.dit.parameters()).dtype  # bf16 under DeepSpeed; autocast handles mixed precision
        out_v, out_m = self.dit(ztv.to(dt), image.to(dt), ztm.to(dt), guidance.to(dt),
                                latents["text_embeds"].to(device, dt), t)
        x0v = x0_from_output(out_v.float(), ztv, t, abar, cfg.prediction_type)
        x0m = x0_from_output(out_m.float(), ztm, t, abar, cfg.prediction_type)
        weights = loss_weights(abar, t, x0v).reshape(-1) if self.loss_weighting == "cogvideox" else None
        ls = svimo_loss(x0v, z0v, x0m, z0m, weights)  # Eq. 5
        if self.svimo_streams != SVIMO_STREAMS:  # Table 3's video-only / motion-only rows
            ls["svimo"] = ls[self.svimo_streams[0]]
        out.update(l_svimo=ls["svimo"], l_video=ls["video"], l_motion=ls["motion"])
        # Line 9: gradient constraint (detached when the switch is off: VID still learns its readout).
        if loop.gradient_constraint:
            lam = float(constraint_scale)
            vin = scale_grad(x0v, lam if "video" in self.constraint_paths else 0.0)
            min_ = scale_grad(x0m, lam if "motion" in self.constraint_paths else 0.0)
        else:
            vin, min_ = x0v.detach(), x0m.detach()
        hr_in, or_in, level = motion_in("readout")
        hp, op = self._vid(hr_in, or_in, vin, min_, level)
        lv = vid_loss(hp.float(), op.float(), h0, o0, self.weights.w_obj_points)
        out.update(l_vid=lv["vid"], l_hand=lv["hand"], l_obj=lv["object"])
        out["loss"] = total_loss(ls["svimo"], lv["vid"], self.weights)  # line 10
        return out
