"""Rotations and poses in one place, through ``scipy.spatial.transform``.

Conventions: quaternions are ``(w, x, y, z)`` (MuJoCo's and ROS-message order differs: ROS
``geometry_msgs/Quaternion`` is ``(x, y, z, w)``; convert with :func:`quat_wxyz_to_xyzw`);
URDF's ``rpy`` is fixed-axis roll-pitch-yaw, ``R = Rz(yaw) Ry(pitch) Rx(roll)`` (scipy's
extrinsic ``"xyz"``); a pose is a 4x4 homogeneous matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

QuatLike = Sequence[float] | np.ndarray


def quat_wxyz_to_xyzw(q: QuatLike) -> np.ndarray:
    """``(w, x, y, z)`` → ``(x, y, z, w)`` (ROS message order)."""
    q = np.asarray(q, dtype=np.float64)
    return np.concatenate([q[..., 1:], q[..., :1]], axis=-1)


def quat_to_matrix(q: QuatLike) -> np.ndarray:
    """Rotation matrix (or ``[..., 3, 3]`` matrices) of ``(w, x, y, z)`` quaternions; normalises."""
    return Rotation.from_quat(np.asarray(q, dtype=np.float64), scalar_first=True).as_matrix()


def matrix_to_quat(matrix: np.ndarray) -> np.ndarray:
    """``(w, x, y, z)`` quaternion(s) of rotation matrices ``[..., 3, 3]``."""
    return Rotation.from_matrix(np.asarray(matrix, dtype=np.float64)).as_quat(scalar_first=True)


def rpy_to_matrix(rpy: Sequence[float]) -> np.ndarray:
    """URDF fixed-axis roll-pitch-yaw: ``R = Rz(yaw) Ry(pitch) Rx(roll)``."""
    return Rotation.from_euler("xyz", np.asarray(rpy, dtype=np.float64)).as_matrix()


def rpy_to_quat(rpy: Sequence[float]) -> np.ndarray:
    """``(w, x, y, z)`` of URDF roll-pitch-yaw."""
    return Rotation.from_euler("xyz", np.asarray(rpy, dtype=np.float64)).as_quat(scalar_first=True)


def slerp(q0: QuatLike, q1: QuatLike, s: float) -> np.ndarray:
    """Spherical interpolation of ``(w, x, y, z)`` quaternions at ``s`` in [0, 1] (shortest arc)."""
    rots = Rotation.from_quat(np.stack([np.asarray(q0, np.float64), np.asarray(q1, np.float64)]),
                              scalar_first=True)
    return Slerp([0.0, 1.0], rots)([float(s)]).as_quat(scalar_first=True)[0]


def pose_matrix(position: Sequence[float], quat_wxyz: QuatLike | None = None,
                rotation: np.ndarray | None = None) -> np.ndarray:
    """4x4 pose from a position and a ``(w, x, y, z)`` quaternion or a 3x3 rotation."""
    out = np.eye(4)
    if rotation is not None:
        out[:3, :3] = rotation
    elif quat_wxyz is not None:
        out[:3, :3] = quat_to_matrix(quat_wxyz)
    out[:3, 3] = np.asarray(position, dtype=np.float64)
    return out

