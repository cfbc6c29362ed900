"""Stage II (Eq. 11, 12, Fig. 3c): contact keypoints lifted with the object's depth pull the hand."""

from __future__ import annotations

import numpy as np
import torch

from hoi_ros.arthoi.config import StageIIConfig
from hoi_ros.arthoi.gaussians import TorchCamera, canonical_gaussians, render_image
from hoi_ros.arthoi.stage2 import FINGERTIPS, contact_targets, hand_metrics, refine_hand, simulated_hand_estimate
from hoi_ros.core.camera import Camera, look_at


def test_hand_moves_onto_the_object_it_touches() -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    # The object: a wall at y = 0 (x, z in [-0.1, 0.1]) seen from the front.
    n = 1500
    wall = np.stack([rng.uniform(-0.1, 0.1, n), np.zeros(n), rng.uniform(-0.1, 0.1, n)], 1)
    cam = Camera.from_fov(64, 48, 50.0, look_at(np.array([0.05, -0.45, 0.1]), np.array([0.0, 0.0, 0.0])))
    g = canonical_gaussians(wall, np.full((n, 3), 0.7), None, 0.95)
    out = render_image(g, TorchCamera.from_camera(cam))
    frames = 6
    depth = np.repeat(out["depth"].numpy()[None], frames, 0)
    sil = np.repeat(out["silhouette"].numpy()[None], frames, 0)
    points = np.repeat(wall[None], frames, 0)
    # The true hand: 21 points in front of the wall, the fingertips touching it (y = 0).
    hand = np.stack([rng.uniform(-0.05, 0.05, 21), rng.uniform(-0.06, -0.02, 21), rng.uniform(-0.05, 0.05, 21)], 1)
    hand[list(FINGERTIPS), 1] = 0.0
    truth = np.repeat(hand[None], frames, 0) + np.linspace(0, 0.02, frames)[:, None, None] * [1.0, 0.0, 0.0]
    # The estimate: 1.5 cm too near the camera (a monocular depth error), plus noise.
    ray = truth[:, :1] - np.linalg.inv(cam.extrinsics)[:3, 3]
    ray /= np.linalg.norm(ray, axis=-1, keepdims=True)
    estimate = truth - 0.015 * ray + rng.normal(scale=0.001, size=truth.shape)
    cfg = StageIIConfig(iterations=300)
    targets, confident = contact_targets(estimate, cam, depth, sil, points, cfg)
    assert confident[:, list(FINGERTIPS)].mean() > 0.8 and not confident[:, 0].any()
    np.testing.assert_allclose(targets[confident][:, 1], 0.0, atol=0.004)  # lifted onto the wall
    refined, terms = refine_hand(estimate, targets, confident, cfg)
    tips = list(FINGERTIPS)
    before = np.abs(estimate[:, tips, 1]).mean()
    after = np.abs(refined[:, tips, 1]).mean()
    assert after < 0.4 * before, (before, after, terms)
    m0 = hand_metrics(estimate, truth, points, lambda t, p: p[:, 1] > 0.002)
    m1 = hand_metrics(refined, truth, points, lambda t, p: p[:, 1] > 0.002)
    assert m1["mpjpe_m"] < m0["mpjpe_m"] and m1["contact_pct"] >= m0["contact_pct"]


def test_simulated_estimate_is_a_smooth_offset_plus_noise() -> None:
    joints = np.zeros((40, 21, 3))
    est = simulated_hand_estimate(joints, drift_m=0.02, noise_m=0.0, seed=1)
    offsets = est[:, 0]
    assert np.allclose(est, est[:, :1])  # the whole hand moves together
    assert 0.002 < np.linalg.norm(offsets, axis=1).mean() < 0.05
    assert np.abs(np.diff(offsets, axis=0)).max() < 0.01  # smooth over frames
