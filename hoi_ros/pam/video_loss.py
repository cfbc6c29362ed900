"""Stage III's training objective: v-prediction with the CogVideoX scheduler, CogVideoX's weighting.

One step, as CogVideoX's fine-tuning scripts do it (diffusers ``examples/cogvideo``): t uniform over
the training timesteps, zₜ = ``scheduler.add_noise(z₀, ε, t)``, the ControlNet-driven base predicts
v̂, and the loss is the 1/(1 − ᾱₜ)-weighted x₀ error (:mod:`hoi_ros.diffusion.loss_weighting`),
equal to the v-MSE. Each condition is masked with p (0.2 in the paper) for the sample it belongs to.
"""

from __future__ import annotations

from typing import Any

import torch

from hoi_ros.diffusion.loss_weighting import weighted_x0_mse
from hoi_ros.pam.conditions import draw_condition_keep
from hoi_ros.pam.video_controlnet import ControlledCogVideoX


def video_training_loss(
    model: ControlledCogVideoX,
    scheduler: Any,
    latents: torch.Tensor,
    image_latents: torch.Tensor | None,
    condition_latents: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    generator: torch.Generator | None = None,
    condition_mask_p: float = 0.2,
    use_controlnet: bool = True,
) -> torch.Tensor:
    """Mean loss of a batch: video latents ``[B, F, C, h, w]``, first-frame latents ``[B, 1, C, h, w]``,
    condition latents ``[B, F, K·C, h, w]``, text features ``[B, L, D]``. Draws t, ε and the
    condition masks from ``generator`` (CPU), so a seed fixes the step. ``use_controlnet=False``
    trains the base alone (the small PAM's base pre-training; the same draws are made)."""
    b = latents.shape[0]
    n = int(scheduler.config.num_train_timesteps)
    t = torch.randint(0, n, (b,), generator=generator).to(latents.device)
    noise = torch.randn(latents.shape, generator=generator).to(latents.device, latents.dtype)
    cn = getattr(model, "module", model).controlnet  # through a DDP wrapper too
    num_conditions = cn.condition_channels // int(cn.config.condition_latent_channels)
    keep = draw_condition_keep(b, condition_mask_p, generator, num_conditions, latents.device)
    noisy = scheduler.add_noise(latents, noise, t)
    v_pred = model(noisy, image_latents, condition_latents, encoder_hidden_states, t, condition_keep=keep,
                   use_controlnet=use_controlnet)
    return weighted_x0_mse(v_pred, noisy, latents, t, scheduler.alphas_cumprod).mean()
