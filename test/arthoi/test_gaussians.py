"""The pure-torch Gaussian renderer: projection, compositing, and gradients against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hoi_ros.arthoi.gaussians import (
    Gaussians,
    TorchCamera,
    canonical_gaussians,
    colors_from_image,
    render,
    render_image,
)
from hoi_ros.core.camera import Camera, look_at


def _camera(w: int = 24, h: int = 18) -> Camera:
    return Camera.from_fov(w, h, 50.0, look_at(np.array([0.1, -0.6, 0.3]), np.array([0.0, 0.0, 0.05])))


def test_projection_matches_the_core_camera_and_scales() -> None:
    cam = _camera(64, 48)
    pts = np.random.default_rng(0).uniform(-0.1, 0.1, size=(20, 3))
    uv_np, z_np = cam.project(pts)
    tc = TorchCamera.from_camera(cam, torch.float64)
    uv, z = tc.project(torch.as_tensor(pts))
    np.testing.assert_allclose(uv.numpy(), uv_np, atol=1e-9)
    np.testing.assert_allclose(z.numpy(), z_np, atol=1e-12)
    half = TorchCamera.from_camera(cam, torch.float64, scale=0.5)
    uv_half, _ = half.project(torch.as_tensor(pts))
    # Pixel centres: u_half + 0.5 = (u + 0.5) / 2.
    np.testing.assert_allclose(uv_half.numpy() + 0.5, (uv_np + 0.5) / 2, atol=1e-9)
    assert (half.width, half.height) == (32, 24)


def test_one_gaussian_and_occlusion() -> None:
    cam = _camera()
    tc = TorchCamera.from_camera(cam, torch.float64)
    p = np.array([[0.0, 0.0, 0.05]])
    g = canonical_gaussians(p, np.array([[1.0, 0.0, 0.0]]), 0.04, 0.8, torch.float64)
    out = render_image(g, tc)
    (u, v), z = cam.project(p)[0][0], cam.project(p)[1][0]
    peak = np.unravel_index(int(out["silhouette"].argmax()), out["silhouette"].shape)
    assert abs(peak[0] - v) <= 0.5 + 1e-9 and abs(peak[1] - u) <= 0.5 + 1e-9
    assert 0.5 < out["silhouette"].max().item() <= 0.8 + 1e-9  # the opacity, at most half a pixel away
    assert out["depth"][peak].item() == pytest.approx(z, abs=1e-9)
    assert out["depth"][0, 0].item() == 0.0 and out["rgb"][0, 0].abs().max().item() < 1e-6
    # A blue Gaussian right behind the red one is hidden where the red one is opaque.
    behind = p + (p - np.linalg.inv(cam.extrinsics)[:3, 3]) * 0.2
    both = canonical_gaussians(np.concatenate([behind, p]), np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]),
                               0.04, 0.95, torch.float64)
    rgb = render_image(both, tc)["rgb"][peak]
    assert rgb[0].item() > 0.7 and rgb[2].item() < 0.25  # blue only through what red lets pass


def test_gradients_match_finite_differences() -> None:
    cam = _camera(10, 8)
    tc = TorchCamera.from_camera(cam, torch.float64)
    rng = np.random.default_rng(3)
    means = torch.tensor(rng.uniform(-0.04, 0.04, size=(5, 3)) + [0.0, 0.0, 0.05], requires_grad=True)
    colors = torch.tensor(rng.uniform(size=(5, 3)), requires_grad=True)
    sigma = torch.tensor(rng.uniform(0.01, 0.02, size=5), requires_grad=True)
    opacity = torch.tensor(rng.uniform(0.3, 0.8, size=5), requires_grad=True)
    pixels = tc.pixel_grid()[::3]
    target = torch.tensor(rng.uniform(size=(len(pixels), 3)))

    def loss(m, c, s, o):
        out = render(Gaussians(m, c, s, o), tc, pixels, background=(0.2, 0.3, 0.4))
        return ((out["rgb"] - target) ** 2).sum() + (out["silhouette"] ** 2).sum() + out["depth"].sum()

    assert torch.autograd.gradcheck(loss, (means, colors, sigma, opacity), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_colours_come_from_the_first_frame() -> None:
    cam = _camera()
    img = np.zeros((18, 24, 3), np.uint8)
    img[:, 12:] = (0, 255, 0)
    xyz = cam.backproject(np.array([[3.0, 9.0], [20.0, 9.0], [20.0, 9.0]]), np.array([0.6, 0.6, 0.7]))
    col = colors_from_image(xyz, img, cam, np.array([True, True, False]))
    np.testing.assert_allclose(col[1], [0, 1, 0])
    np.testing.assert_allclose(col[0], [0, 0, 0])
    assert col[2].tolist() == pytest.approx([0.0, 0.5, 0.0])  # the mean of its visible neighbours
