"""A tiny articulated scene for ArtHOI's tests (pythonpath: test/): a hinged door panel rendered
with the Gaussian renderer and a hand estimate near it, and a short config to run on it."""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from hoi_ros.arthoi.gaussians import TorchCamera, canonical_gaussians, render_image
from hoi_ros.arthoi.pipeline import SceneInput
from hoi_ros.core.camera import Camera, look_at

# A short run: the cancellation, not the accuracy, is under test.
CFG = {"segmentation": {"binding_radius_m": 0.02}, "render": {"scale": 1.0}, "stage1": {"lr": 3e-3, "iterations": 8},
       "stage2": {"iterations": 40}}


def scene_with_hand(frames: int = 6) -> SceneInput:
    """A speckled static panel and a door panel hinged on the z axis turning 40 deg, rendered with
    the Gaussian renderer (80 x 60), and a hand estimate near the door (test_stage1's scene, smaller)."""
    rng = np.random.default_rng(0)
    n = 300
    u, z = rng.uniform(0, 0.12, size=n), rng.uniform(0, 0.12, size=n)
    xyz0 = np.concatenate([np.stack([-u, np.zeros(n), z], 1), np.stack([u, np.zeros(n), z], 1)])
    door = np.r_[np.zeros(n, bool), np.ones(n, bool)]
    colors = np.where(door[:, None], [0.9, 0.55, 0.15], [0.25, 0.35, 0.8]) * np.where(
        rng.uniform(size=(2 * n, 1)) < 0.35, 0.45, 1.0)
    cam = Camera.from_fov(80, 60, 40.0, look_at(np.array([-0.05, -0.3, 0.42]), np.array([0.02, 0.0, 0.04])))
    tcam = TorchCamera.from_camera(cam, torch.float32)
    g = canonical_gaussians(xyz0, colors, 0.005, 0.95)
    video, masks = [], []
    for a in np.deg2rad(np.linspace(0.0, 40.0, frames)):
        pts = np.where(door[:, None], xyz0 @ Rotation.from_rotvec([0, 0, -a]).as_matrix().T, xyz0)
        out = render_image(g.with_means(torch.as_tensor(pts, dtype=torch.float32)), tcam, background=(0.5, 0.5, 0.5))
        video.append((out["rgb"].numpy().clip(0, 1) * 255).astype(np.uint8))
        masks.append(out["silhouette"].numpy() > 0.5)
    hand = xyz0[door][:21][None].repeat(frames, 0) + rng.normal(0, 0.01, (frames, 21, 3))
    return SceneInput(np.stack(video), np.stack(masks), np.zeros((frames, 60, 80), bool), cam, xyz0, "door", hand)
