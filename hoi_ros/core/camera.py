"""Pinhole camera used to project 3D hand joints and object points into video frames.

Conventions (OpenCV): the extrinsics map world points to camera coordinates,
``x_cam = R @ x_world + t`` as a 4x4 matrix; camera axes are x right, y down, z forward;
pixel ``(u, v)`` = (column, row), with the centre of the top-left pixel at ``(0, 0)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _as_matrix(value: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or Inf")
    return arr


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)) -> np.ndarray:
    """World->camera 4x4 extrinsics for a camera at ``eye`` looking at ``target`` (OpenCV axes)."""
    eye = np.asarray(eye, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - eye
    if np.linalg.norm(forward) < 1e-12:
        raise ValueError("look_at: eye and target coincide")
    z = forward / np.linalg.norm(forward)
    x = np.cross(z, np.asarray(up, dtype=np.float64))
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("look_at: viewing direction is parallel to up")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    rot = np.stack([x, y, z], axis=0)  # rows: camera axes in world coordinates
    ext = np.eye(4)
    ext[:3, :3] = rot
    ext[:3, 3] = -rot @ eye
    return ext


@dataclass
class Camera:
    """Pinhole camera: image size, intrinsics ``K`` (3x3, pixels), extrinsics (4x4, world->camera)."""

    width: int
    height: int
    intrinsics: np.ndarray
    extrinsics: np.ndarray = field(default_factory=lambda: np.eye(4))

    def __post_init__(self) -> None:
        if int(self.width) < 1 or int(self.height) < 1:
            raise ValueError(f"camera: image size must be positive, got {self.width}x{self.height}")
        self.width, self.height = int(self.width), int(self.height)
        self.intrinsics = _as_matrix(self.intrinsics, (3, 3), "camera.intrinsics")
        self.extrinsics = _as_matrix(self.extrinsics, (4, 4), "camera.extrinsics")
        if self.intrinsics[0, 0] <= 0 or self.intrinsics[1, 1] <= 0:
            raise ValueError("camera.intrinsics: focal lengths must be positive")
        if not np.allclose(self.extrinsics[3], [0, 0, 0, 1]):
            raise ValueError("camera.extrinsics: last row must be [0, 0, 0, 1]")

    @classmethod
    def from_fov(
        cls, width: int, height: int, fov_y_deg: float, extrinsics: np.ndarray | None = None
    ) -> Camera:
        """Camera with square pixels, principal point at the image centre, vertical FOV in degrees."""
        f = 0.5 * height / np.tan(np.deg2rad(fov_y_deg) / 2.0)
        k = np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
        return cls(width, height, k, np.eye(4) if extrinsics is None else extrinsics)

    @property
    def fov_y_deg(self) -> float:
        return float(np.rad2deg(2.0 * np.arctan(0.5 * self.height / self.intrinsics[1, 1])))

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """Camera-frame coordinates of world points ``[..., 3]``."""
        pts = np.asarray(points, dtype=np.float64)
        return pts @ self.extrinsics[:3, :3].T + self.extrinsics[:3, 3]

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project world points ``[..., 3]`` to pixels ``[..., 2]`` and camera depth ``[...]`` (m).

        Points at or behind the camera (depth <= 0) get NaN pixel coordinates.
        """
        cam = self.world_to_camera(points)
        depth = cam[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = cam[..., :2] / depth[..., None]
        uv = uv @ self.intrinsics[:2, :2].T + self.intrinsics[:2, 2]
        uv[depth <= 0] = np.nan
        return uv, depth

    def backproject(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """World points ``[..., 3]`` of pixels ``[..., 2]`` at camera depth ``[...]`` (inverse of project)."""
        uv = np.asarray(uv, dtype=np.float64)
        depth = np.asarray(depth, dtype=np.float64)
        k_inv = np.linalg.inv(self.intrinsics)
        homog = np.concatenate([uv, np.ones(uv.shape[:-1] + (1,))], axis=-1)
        cam = (homog @ k_inv.T) * depth[..., None]
        cam_to_world = np.linalg.inv(self.extrinsics)
        return cam @ cam_to_world[:3, :3].T + cam_to_world[:3, 3]
