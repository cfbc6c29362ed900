"""The loss of CogVideoX's fine-tuning scripts: v-prediction read as x₀, weighted by 1 / (1 − ᾱₜ).

diffusers' ``examples/cogvideo/train_cogvideox_*`` (and THUDM's SAT fine-tuning) train a
v-prediction model by turning its output v̂ into an x₀ estimate,
``x̂₀ = √ᾱₜ·zₜ − √(1 − ᾱₜ)·v̂`` (``scheduler.get_velocity(v̂, zₜ, t)``), and minimising
``w(t)·‖x̂₀ − x₀‖²`` with ``w(t) = 1 / (1 − ᾱₜ)``. Since ``x̂₀ − x₀ = −√(1 − ᾱₜ)·(v̂ − v)``, this is
exactly the v-MSE ``‖v̂ − v‖²`` (v = √ᾱₜ·ε − √(1 − ᾱₜ)·x₀); :func:`weighted_x0_mse` computes it the
scripts' way, :func:`v_mse` the direct way (test: they agree).

Shared by every CogVideoX-based model here (PAM's Stage III; SViMo can use it too). The tables are
a scheduler's ``alphas_cumprod`` (any diffusers DDPM/DDIM/CogVideoX scheduler).
"""

from __future__ import annotations

import torch


def _per_sample(abar: torch.Tensor, timesteps: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    a = abar.to(device=like.device, dtype=torch.float32)[timesteps.long().to(like.device)]
    return a.view(-1, *([1] * (like.ndim - 1)))


def loss_weights(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``1 / (1 − ᾱₜ)`` per sample, broadcastable to ``like`` (CogVideoX's x₀-loss weighting)."""
    return 1.0 / (1.0 - _per_sample(alphas_cumprod, timesteps, like))


def v_target(x0: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor,
             alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """v = √ᾱₜ·ε − √(1 − ᾱₜ)·x₀ (``scheduler.get_velocity(x0, noise, t)``)."""
    a = _per_sample(alphas_cumprod, timesteps, x0)
    return a.sqrt() * noise.float() - (1.0 - a).sqrt() * x0.float()


def x0_from_v(v: torch.Tensor, noisy: torch.Tensor, timesteps: torch.Tensor,
              alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """x̂₀ = √ᾱₜ·zₜ − √(1 − ᾱₜ)·v̂ (``scheduler.get_velocity(v, noisy, t)`` in the scripts)."""
    a = _per_sample(alphas_cumprod, timesteps, noisy)
    return a.sqrt() * noisy.float() - (1.0 - a).sqrt() * v.float()


def weighted_x0_mse(v_pred: torch.Tensor, noisy: torch.Tensor, x0: torch.Tensor, timesteps: torch.Tensor,
                    alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Per-sample ``mean(w(t)·(x̂₀ − x₀)²)`` ``[B]``, as CogVideoX's fine-tuning scripts compute it."""
    err = x0_from_v(v_pred, noisy, timesteps, alphas_cumprod) - x0.float()
    w = loss_weights(alphas_cumprod, timesteps, err)
    return (w * err.pow(2)).reshape(err.shape[0], -1).mean(dim=1)


def v_mse(v_pred: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor,
          alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Per-sample ``mean((v̂ − v)²)`` ``[B]``."""
    err = v_pred.float() - v_target(x0, noise, timesteps, alphas_cumprod)
    return err.pow(2).reshape(err.shape[0], -1).mean(dim=1)
