"""Stage II (Eq. 9-12, Fig. 3c): each loss term pulls the way it should, contact keypoints are lifted
with the object's geometry, and L_k moves a fingertip onto its lifted point."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from hoi_ros.arthoi.config import StageIIConfig
from hoi_ros.arthoi.gaussians import TorchCamera, canonical_gaussians, render_image
from hoi_ros.arthoi.stage2 import (
    FINGERTIPS,
    HandKinematics,
    HandOffsets,
    ObjectTrack,
    contact_loss,
    hand_proxy,
    hand_silhouette,
    lift_contacts,
    part_moving,
    prior_loss,
    refine_hand,
    simulated_hand_estimate,
    smoothness_loss,
)
from hoi_ros.core.camera import Camera, look_at

TIPS = list(FINGERTIPS)


def _wall_scene(frames: int = 4):
    """A wall at y = 0 (x, z in [-0.1, 0.1]) seen from the front, rendered with the Gaussian
    renderer, and a hand whose fingertips are 2 cm in front of it."""
    rng = np.random.default_rng(0)
    n = 1500
    wall = np.stack([rng.uniform(-0.1, 0.1, n), np.zeros(n), rng.uniform(-0.1, 0.1, n)], 1)
    cam = Camera.from_fov(64, 48, 50.0, look_at(np.array([0.05, -0.45, 0.1]), np.array([0.0, 0.0, 0.0])))
    out = render_image(canonical_gaussians(wall, np.full((n, 3), 0.7), None, 0.95), TorchCamera.from_camera(cam))
    track = ObjectTrack(np.repeat(out["depth"].numpy()[None], frames, 0),
                        np.repeat(out["silhouette"].numpy()[None], frames, 0), np.repeat(wall[None], frames, 0),
                        np.ones(n, dtype=bool), np.ones(frames, dtype=bool))
    hand = np.stack([rng.uniform(-0.04, 0.04, 21), rng.uniform(-0.07, -0.04, 21), rng.uniform(-0.04, 0.04, 21)], 1)
    hand[TIPS, 1] = -0.02
    return cam, track, np.repeat(hand[None], frames, 0)


def test_contact_loss_pulls_the_keypoint_to_its_target() -> None:
    joints = torch.zeros(1, 21, 3, dtype=torch.float64, requires_grad=True)
    targets = torch.zeros(1, 21, 3, dtype=torch.float64)
    targets[0, 8] = torch.tensor([0.01, -0.02, 0.0])
    conf = torch.zeros(1, 21, dtype=torch.float64)
    conf[0, 8] = 1.0
    contact_loss(joints, targets, conf).backward()
    step = -joints.grad[0, 8]
    assert torch.dot(step, targets[0, 8]) > 0  # descent moves the keypoint towards its target
    assert torch.all(joints.grad[0, :8] == 0) and torch.all(joints.grad[0, 9:] == 0)  # only confident ones


def test_prior_pulls_towards_the_estimate_and_smoothness_removes_a_spike() -> None:
    params = torch.randn(3, 69, dtype=torch.float64).requires_grad_(True)
    prior_loss(params, 0.05, 0.01).backward()
    assert float((params.grad * params.detach()).sum()) > 0  # descent shrinks the parameters (towards theta_v)
    joints = torch.zeros(5, 21, 3, dtype=torch.float64)
    joints[2, :, 0] = 0.01  # a one-frame spike in x
    joints.requires_grad_(True)
    smoothness_loss(joints, fps=12.0).backward()
    assert torch.all(joints.grad[2, :, 0] > 0)  # descent pulls the spike back
    # The same acceleration costs the same at any frame rate (App. A's weights are for 30 fps).
    t = torch.arange(7, dtype=torch.float64)
    a30 = smoothness_loss((0.5 * (t / 30.0) ** 2)[:, None, None].expand(7, 1, 3), fps=30.0)
    a12 = smoothness_loss((0.5 * (t / 12.0) ** 2)[:, None, None].expand(7, 1, 3), fps=12.0)
    assert float(a30) == pytest.approx(float(a12), rel=1e-9)


def test_silhouette_term_moves_the_hand_onto_its_mask() -> None:
    cam, _track, hand = _wall_scene(1)
    cfg = StageIIConfig()
    tcam = TorchCamera.from_camera(cam, torch.float32)
    crop = (0, cam.height, 0, cam.width)
    far = torch.full((1, cam.height, cam.width), 1e3)
    centres, sigma = hand_proxy(torch.as_tensor(hand + [0.01, 0.0, 0.0], dtype=torch.float32), cfg)
    mask = hand_silhouette(centres, sigma, tcam, far, crop, cfg.proxy_opacity, cfg.occlusion_softness_m).detach()
    shift = torch.zeros(3, requires_grad=True)
    centres, sigma = hand_proxy(torch.as_tensor(hand, dtype=torch.float32) + shift, cfg)
    sil = hand_silhouette(centres, sigma, tcam, far, crop, cfg.proxy_opacity, cfg.occlusion_softness_m)
    ((sil - mask) ** 2).sum().backward()
    assert -shift.grad[0] > 0  # descent moves the hand +x, onto the mask
    # The object in front hides the hand: a wall 10 cm nearer than the hand covers it.
    near = torch.full((1, cam.height, cam.width), 0.05)
    hidden = hand_silhouette(centres.detach(), sigma, tcam, near, crop, cfg.proxy_opacity, cfg.occlusion_softness_m)
    assert float(hidden.sum()) < 1e-3 * float(sil.detach().sum())


@pytest.mark.parametrize("lift", ["ray", "depth"])
def test_lifted_contact_points_lie_on_the_object_and_only_while_it_moves(lift: str) -> None:
    cam, track, hand = _wall_scene()
    cfg = StageIIConfig(lift=lift)
    track.moving[0] = False
    targets, confident = lift_contacts(hand, cam, track, cfg)
    assert confident[1:, TIPS].mean() > 0.8 and not confident[0].any() and not confident[:, 0].any()
    # The fingertip's radius in front of the wall, on the fingertip's own ray (its 2D kept).
    np.testing.assert_allclose(targets[confident][:, 1], -cfg.fingertip_radius_m, atol=0.004)
    uv_t, _ = cam.project(targets[confident])
    uv_h, _ = cam.project(hand[confident])
    np.testing.assert_allclose(uv_t, uv_h, atol=0.05)
    # Nothing within contact_radius_m along the ray: no contact keypoint.
    far_targets = lift_contacts(hand - [0.0, 0.05, 0.0], cam, track, cfg)[1]
    assert not far_targets.any()


def test_contact_loss_brings_the_fingertips_onto_the_lifted_points() -> None:
    cam, track, hand = _wall_scene()
    cfg = StageIIConfig(iterations=150, lr=1e-3, use_silhouette_loss=False, use_smoothness_loss=False,
                        hand_model="offsets")
    res = refine_hand(hand, cam, track, None, cfg, fps=12.0)
    conf = res.confident
    assert conf[:, TIPS].mean() > 0.8
    before = np.linalg.norm(hand - res.targets, axis=-1)[conf].mean()
    after = np.linalg.norm(res.joints - res.targets, axis=-1)[conf].mean()
    assert before > 0.008 and after < 0.2 * before, (before, after)
    off = replace(cfg, use_contact_loss=False)
    np.testing.assert_allclose(refine_hand(hand, cam, track, None, off, fps=12.0).joints, hand, atol=1e-6)


def test_hand_models_start_at_the_estimate_and_keep_bone_lengths() -> None:
    rng = np.random.default_rng(1)
    est = rng.normal(scale=0.05, size=(3, 21, 3))
    for model in (HandKinematics(est), HandOffsets(est)):
        np.testing.assert_allclose(model.joints(model.zero_params()).numpy(), est, atol=1e-12)
    kin = HandKinematics(est)
    params = kin.zero_params()
    params[:, 6:] = torch.as_tensor(rng.normal(scale=0.3, size=(3, 60)))
    moved = kin.joints(params).numpy()
    from hoi_ros.core.hand import BONES

    b = np.asarray(BONES)
    np.testing.assert_allclose(np.linalg.norm(moved[:, b[:, 1]] - moved[:, b[:, 0]], axis=-1),
                               np.linalg.norm(est[:, b[:, 1]] - est[:, b[:, 0]], axis=-1), atol=1e-12)
    assert np.abs(moved - est).max() > 0.005


def test_part_moving_marks_the_frames_where_the_part_moves() -> None:
    points = np.zeros((10, 4, 3))
    points[3:7, :2, 0] = np.arange(1, 5)[:, None] * 0.01  # the dynamic half moves over frames 3..6
    points[7:, :2, 0] = 0.04
    moving = part_moving(points, np.array([True, True, False, False]), 0.0015)
    assert moving[2:7].all() and not moving[:2].any() and not moving[7:].any()


def test_simulated_estimate_is_a_smooth_offset_plus_noise() -> None:
    joints = np.zeros((40, 21, 3))
    est = simulated_hand_estimate(joints, drift_m=0.02, noise_m=0.0, seed=1)
    offsets = est[:, 0]
    assert np.allclose(est, est[:, :1])  # the whole hand moves together
    assert 0.002 < np.linalg.norm(offsets, axis=1).mean() < 0.05
    assert np.abs(np.diff(offsets, axis=0)).max() < 0.01  # smooth over frames
