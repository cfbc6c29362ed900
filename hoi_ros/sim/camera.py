"""The simulator's camera, kept identical to :class:`hoi_ros.core.Camera` (OpenCV convention).

MuJoCo cameras look down their -z axis with +y up; OpenCV cameras look down +z with +y down. The
MuJoCo camera frame is therefore the OpenCV frame with y and z negated. MuJoCo's pinhole has
square pixels and the principal point at the image centre, ``((W - 1) / 2, (H - 1) / 2)`` in pixel
index coordinates, which is what :meth:`Camera.from_fov` builds; other intrinsics are refused.
"""

from __future__ import annotations

import numpy as np

from hoi_ros.core.camera import Camera, look_at
from hoi_ros.core.geometry import matrix_to_quat

# Named viewpoints (eye, target) in the world frame: table top at z = 0, the hand starts at -y.
CAMERA_PRESETS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    # Head-mounted-like view from behind and above the hand.
    "ego": ((0.0, -0.42, 0.46), (0.0, 0.02, 0.04)),
    # Allocentric view from the far side of the table (facing the person), slightly to the right.
    "third_person": ((0.22, 0.52, 0.40), (0.09, -0.03, 0.05)),
}


def camera_preset(name: str, width: int, height: int, fov_y_deg: float = 45.0) -> Camera:
    """A :class:`Camera` of a named preset (``ego`` or ``third_person``)."""
    if name not in CAMERA_PRESETS:
        raise ValueError(f"camera.preset: unknown preset {name!r}; known: {', '.join(CAMERA_PRESETS)}")
    eye, target = CAMERA_PRESETS[name]
    return Camera.from_fov(width, height, fov_y_deg, look_at(np.array(eye), np.array(target)))


def check_renderable(camera: Camera) -> None:
    """Raise ``ValueError`` unless MuJoCo can render exactly this pinhole camera."""
    k = camera.intrinsics
    if abs(k[0, 0] - k[1, 1]) > 1e-6 * k[1, 1] or abs(k[0, 1]) > 1e-9:
        raise ValueError("camera.intrinsics: the MuJoCo renderer needs square pixels (fx == fy, no skew)")
    if abs(k[0, 2] - (camera.width - 1) / 2) > 1e-6 or abs(k[1, 2] - (camera.height - 1) / 2) > 1e-6:
        raise ValueError("camera.intrinsics: the MuJoCo renderer needs the principal point at the image centre")
    rot = camera.extrinsics[:3, :3]
    if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-6) or np.linalg.det(rot) < 0:
        raise ValueError("camera.extrinsics: rotation part must be a proper rotation")


def mujoco_camera_pose(camera: Camera) -> tuple[np.ndarray, np.ndarray, float]:
    """World position, orientation quaternion (w, x, y, z) and vertical FOV (deg) of a MuJoCo camera.

    OpenCV world->camera rotation ``R`` has the camera axes as rows; the MuJoCo camera's axes in
    world coordinates are ``(x, -y, -z)`` of those, i.e. ``R.T @ diag(1, -1, -1)``.
    """
    check_renderable(camera)
    rot = camera.extrinsics[:3, :3]
    pos = -rot.T @ camera.extrinsics[:3, 3]
    mat = rot.T @ np.diag([1.0, -1.0, -1.0])
    quat = matrix_to_quat(mat)
    return pos, quat, camera.fov_y_deg
