"""CogVideoX's loss weighting: the 1/(1 − ᾱₜ)-weighted x₀-MSE is the v-MSE."""

from __future__ import annotations

import torch
from diffusers import CogVideoXDDIMScheduler, CogVideoXDPMScheduler

from hoi_ros.diffusion.loss_weighting import loss_weights, v_mse, v_target, weighted_x0_mse, x0_from_v

SCHEDULER = dict(beta_schedule="scaled_linear", prediction_type="v_prediction", rescale_betas_zero_snr=True,
                 timestep_spacing="trailing", snr_shift_scale=1.0)


def _batch(seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(6, 3, 4, 4, 6, generator=g, dtype=torch.float64)
    noise = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    v_pred = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 1, 250, 500, 998, 999])
    return x0, noise, v_pred, t


def test_weighted_x0_mse_equals_v_mse() -> None:
    for cls in (CogVideoXDDIMScheduler, CogVideoXDPMScheduler):
        sched = cls(**SCHEDULER)
        abar = sched.alphas_cumprod.double()
        x0, noise, v_pred, t = _batch()
        noisy = sched.add_noise(x0, noise, t)
        a = weighted_x0_mse(v_pred.double(), noisy, x0, t, abar)
        b = v_mse(v_pred, x0, noise, t, abar)
        assert a.shape == (6,)
        torch.testing.assert_close(a.double(), b.double(), rtol=1e-4, atol=1e-5)


def test_matches_the_scheduler_helpers() -> None:
    sched = CogVideoXDDIMScheduler(**SCHEDULER)
    x0, noise, v_pred, t = _batch(1)
    x0, noise, v_pred = x0.float(), noise.float(), v_pred.float()
    noisy = sched.add_noise(x0, noise, t)
    torch.testing.assert_close(v_target(x0, noise, t, sched.alphas_cumprod), sched.get_velocity(x0, noise, t))
    torch.testing.assert_close(x0_from_v(v_pred, noisy, t, sched.alphas_cumprod),
                               sched.get_velocity(v_pred, noisy, t))  # the scripts' conversion
    w = loss_weights(sched.alphas_cumprod, t, x0)
    assert w.shape == (6, 1, 1, 1, 1) and torch.all(w >= 1)
    assert abs(float(w[-1]) - 1.0) < 1e-6  # zero terminal SNR: ᾱ_T = 0
