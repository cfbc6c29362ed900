"""Eq. 5, 12 and 13 losses on hand-computed cases (SViMo §3.3, App. B.2)."""

from __future__ import annotations

import pytest
import torch

from hoi_ros.svimo.losses import LossWeights, hand_loss, object_loss, svimo_loss, total_loss, vid_loss


def test_hand_loss_hand_computed() -> None:
    # One joint moving along x through 0, 1, 4; truth at the origin.
    pred = torch.zeros(1, 3, 1, 3, dtype=torch.float64)
    pred[0, :, 0, 0] = torch.tensor([0.0, 1.0, 4.0])
    target = torch.zeros_like(pred)
    # positions: (0 + 1 + 16) / 9; velocities (1, 3): (1 + 9) / 6; acceleration (2): 4 / 3
    expected = 17 / 9 + 0.2 * 10 / 6 + 0.05 * 4 / 3
    assert hand_loss(pred, target).item() == pytest.approx(expected, rel=1e-12)


def test_hand_loss_weights_each_term() -> None:
    # A constant offset has zero velocity/acceleration error: only the position term remains.
    target = torch.randn(2, 5, 21, 3, generator=torch.Generator().manual_seed(0))
    assert hand_loss(target + 0.5, target).item() == pytest.approx(0.25, rel=1e-6)
    assert hand_loss(target, target).item() == 0.0


def test_object_loss_hand_computed() -> None:
    # K = 2: point 0 is the tool half, point 1 the target half; two frames.
    target = torch.zeros(1, 2, 2, 3, dtype=torch.float64)
    target[0, 1, 1, 1] = 1.0  # target part moves by 1 along y
    pred = target.clone()
    pred[0, 0, 0, 0] = 1.0  # tool prediction off by 1 in frame 0 ...
    pred[0, 1, 0, 0] = 3.0  # ... and by 3 in frame 1
    # Single points: CD = 2 * distance. Tool: L1 = (2 + 6) / 2 = 4; consecutive CDs: truth 0,
    # prediction 2 * 2 = 4 -> L2 = 4; tool loss 4 + 0.1 * 4 = 4.4. Target part exact -> 0.
    assert object_loss(pred, target).item() == pytest.approx(0.5 * 4.4, rel=1e-12)


def test_object_loss_is_permutation_invariant_and_sees_dynamics() -> None:
    g = torch.Generator().manual_seed(1)
    target = torch.randn(2, 4, 8, 3, generator=g, dtype=torch.float64)
    perm = torch.cat([torch.randperm(4, generator=g), 4 + torch.randperm(4, generator=g)])
    assert object_loss(target[:, :, perm], target).item() == pytest.approx(0.0, abs=1e-12)
    # A rigid translation keeps the consecutive-frame Chamfer distances, so only L1 grows.
    shifted = target + torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64)
    from hoi_ros.core.metrics import chamfer_distance

    tool = chamfer_distance(shifted[:, :, :4], target[:, :, :4])
    l1 = 0.5 * (tool + chamfer_distance(shifted[:, :, 4:], target[:, :, 4:]))
    assert object_loss(shifted, target).item() == pytest.approx(l1.item(), rel=1e-9)


def test_object_loss_rejects_odd_k_and_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="K must be even"):
        object_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3))
    with pytest.raises(ValueError, match="object_loss"):
        object_loss(torch.zeros(1, 2, 4, 3), torch.zeros(1, 3, 4, 3))


def test_vid_and_svimo_losses_and_total() -> None:
    h = torch.zeros(1, 3, 21, 3)
    o = torch.zeros(1, 3, 4, 3)
    o[:, :, 1] = 1.0
    out = vid_loss(h + 1.0, o, h, o)
    assert out["hand"].item() == pytest.approx(1.0)
    assert out["object"].item() == pytest.approx(0.0, abs=1e-7)
    assert out["vid"].item() == pytest.approx(1.0)
    zv, zm = torch.zeros(1, 2, 4, 3, 3), torch.zeros(1, 2, 4, 3, 3)
    s = svimo_loss(zv + 2.0, zv, zm + 1.0, zm)
    assert s["svimo"].item() == pytest.approx(4.0 + 1.0)
    loss = total_loss(s["svimo"], out["vid"], LossWeights())
    assert loss.item() == pytest.approx(5.0 + 0.05 * 1.0)
    assert total_loss(s["svimo"], None, LossWeights()).item() == pytest.approx(5.0)
    with pytest.raises(ValueError, match="w_vid"):
        LossWeights(w_vid=-1.0)


def test_the_point_term_sees_the_order_that_chamfer_does_not() -> None:
    """Eq. 13 is order-free: a turned-by-relabelling cloud scores 0; the per-index term does not."""
    h = torch.zeros(1, 3, 21, 3)
    o = torch.randn(1, 3, 8, 3, generator=torch.Generator().manual_seed(0))
    swapped = o[:, :, [1, 0, 3, 2, 5, 4, 7, 6]]  # same points per frame and half, other indices
    assert vid_loss(h, swapped, h, o)["object"].item() == pytest.approx(0.0, abs=1e-6)
    per_index = (swapped - o).pow(2).mean().item()
    assert per_index > 0.1
    assert vid_loss(h, swapped, h, o, point_weight=2.0)["object"].item() == pytest.approx(2.0 * per_index, rel=1e-5)
    with pytest.raises(ValueError, match="w_obj_points"):
        LossWeights(w_obj_points=-0.5)


def test_losses_backpropagate_finite_gradients_at_zero_distance() -> None:
    target = torch.randn(1, 4, 6, 3, generator=torch.Generator().manual_seed(2))
    pred = target.clone().requires_grad_(True)
    object_loss(pred, target).backward()
    assert torch.isfinite(pred.grad).all()


def test_cogvideox_weighting_of_the_x0_loss_is_the_mse_on_v() -> None:
    """Eq. 5 with ``loss_weighting: cogvideox``: 1/(1 − ᾱₜ) times the MSE of the x₀ that G_θ's v output
    gives (dit.x0_from_output) equals the MSE on v, per sample and batch-averaged (the shared module)."""
    from diffusers import DDPMScheduler

    from hoi_ros.diffusion import loss_weighting as lw
    from hoi_ros.svimo.dit import x0_from_output
    from hoi_ros.svimo.train_step import diffuse

    abar = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                         rescale_betas_zero_snr=True).alphas_cumprod.float()
    g = torch.Generator().manual_seed(0)
    shape = (4, 3, 4, 6, 8)
    x0v, x0m, epsv, epsm, vv, vm = (torch.randn(shape, generator=g, dtype=torch.float64).float() for _ in range(6))
    t = torch.tensor([0, 1, 100, 999])  # ᾱ≈1 (weight ≈ 1/(1-ᾱ) large) to ᾱ = 0 (zero terminal SNR)
    ztv, ztm = diffuse(x0v, epsv, t, abar), diffuse(x0m, epsm, t, abar)
    pv = x0_from_output(vv, ztv, t, abar, "v_prediction")
    pm = x0_from_output(vm, ztm, t, abar, "v_prediction")
    w = lw.loss_weights(abar, t, pv).reshape(-1)
    weighted = svimo_loss(pv, x0v, pm, x0m, w)
    expect_v = lw.v_mse(vv, x0v, epsv, t, abar).mean()
    expect_m = lw.v_mse(vm, x0m, epsm, t, abar).mean()
    torch.testing.assert_close(weighted["video"], expect_v, rtol=2e-3, atol=1e-5)
    torch.testing.assert_close(weighted["motion"], expect_m, rtol=2e-3, atol=1e-5)
    # ... and it is the shared module's own x₀-weighted form, sample by sample.
    torch.testing.assert_close(weighted["video"], lw.weighted_x0_mse(vv, ztv, x0v, t, abar).mean(),
                               rtol=1e-5, atol=1e-6)
    # Unweighted ("none") is Eq. 5 as written: (1 − ᾱₜ)·MSE on v, which nearly vanishes at t = 0.
    plain = svimo_loss(pv, x0v, pm, x0m)
    assert plain["video"] < weighted["video"]
    with pytest.raises(ValueError, match="sample weights"):
        svimo_loss(pv, x0v, pm, x0m, w[:2])
