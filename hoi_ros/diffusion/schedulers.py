"""Noise schedules and samplers shared by the diffusion models (SViMo Eq. 1 / Eq. 3; CogVideoX's
scheduler config), built on diffusers' schedulers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from diffusers import CogVideoXDPMScheduler, DDIMScheduler, DDPMScheduler

SAMPLERS = ("ddpm", "ddim", "dpm")


@dataclass
class SamplerConfig:
    """Noise schedule (Eq. 1) and reverse process (Eq. 3 / Alg. 2).

    Defaults are CogVideoX-5B-I2V's scheduler config (scaled-linear betas rescaled to zero terminal
    SNR, trailing timestep spacing) with the paper's 50 inference steps (§4.2). ``ddpm`` is the
    posterior of Eq. 3; ``ddim`` is the fast deterministic sampler (η = ``eta``); ``dpm`` is CogVideoX's
    DPM-Solver++ (2M, SDE) scheduler (``CogVideoXDPMScheduler``, ``snr_shift_scale`` 1 as 5B's), a fast
    sampler that uses the previous step's x₀ estimate too.
    """

    name: str = "ddpm"
    num_inference_steps: int = 50
    guidance_scale: float = 1.0  # classifier-free guidance on the text; 1 = off
    negative_prompt: str = ""
    num_train_timesteps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012
    beta_schedule: str = "scaled_linear"
    rescale_betas_zero_snr: bool = True
    timestep_spacing: str = "trailing"
    eta: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in SAMPLERS:
            raise ValueError(f"sampler.name: one of {SAMPLERS}, got {self.name!r}")
        steps = self.num_inference_steps
        if not isinstance(steps, int) or not 1 <= steps <= self.num_train_timesteps:
            raise ValueError(f"sampler.num_inference_steps: must be in [1, {self.num_train_timesteps}], got {steps!r}")
        if not float(self.guidance_scale) >= 1.0:
            raise ValueError(f"sampler.guidance_scale: must be >= 1 (1 = no guidance), got {self.guidance_scale}")
        if self.timestep_spacing not in ("trailing", "leading", "linspace"):
            raise ValueError(f"sampler.timestep_spacing: trailing, leading or linspace, got {self.timestep_spacing!r}")
        if not 0.0 <= float(self.eta) <= 1.0:
            raise ValueError(f"sampler.eta: must be in [0, 1], got {self.eta}")



def build_scheduler(cfg: SamplerConfig) -> DDPMScheduler | DDIMScheduler | CogVideoXDPMScheduler:
    """The noise schedule of Eq. 1 with the Eq. 3 posterior (``ddpm``), DDIM (``ddim``) or CogVideoX's
    DPM-Solver (``dpm``; its ``step`` also takes the previous x₀ estimate and timestep).

    The schedulers are given x₀ estimates (``prediction_type="sample"``); the DiT's own target
    (v for CogVideoX) is converted before.
    """
    common: dict[str, Any] = dict(
        num_train_timesteps=cfg.num_train_timesteps,
        beta_start=cfg.beta_start,
        beta_end=cfg.beta_end,
        beta_schedule=cfg.beta_schedule,
        rescale_betas_zero_snr=cfg.rescale_betas_zero_snr,
        timestep_spacing=cfg.timestep_spacing,
        prediction_type="sample",
        clip_sample=False,
    )
    if cfg.name == "ddpm":
        return DDPMScheduler(variance_type="fixed_small", **common)
    if cfg.name == "dpm":
        return CogVideoXDPMScheduler(set_alpha_to_one=True, snr_shift_scale=1.0, **common)
    return DDIMScheduler(set_alpha_to_one=True, **common)
