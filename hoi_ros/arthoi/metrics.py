"""Articulation metrics (ArtHOI Table 3, App. C): rotation error of the articulated part in
degrees (mean, max, min over frames), translation error for prismatic joints, joint axis error."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def relative_motion(part_poses: np.ndarray) -> np.ndarray:
    """``[T, 4, 4]``: the part's motion in the world since frame 0, ``P(t) P(0)^-1``."""
    poses = np.asarray(part_poses, dtype=np.float64)
    return poses @ np.linalg.inv(poses[0])


def rotation_errors_deg(est: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``[T]`` geodesic angle (degrees) between estimated and true rotations ``[T, 3, 3]``."""
    rel = np.asarray(est)[:, :3, :3] @ np.swapaxes(np.asarray(gt)[:, :3, :3], -1, -2)
    return np.rad2deg(np.linalg.norm(Rotation.from_matrix(rel).as_rotvec(), axis=1))


def articulation_metrics(est_motion: np.ndarray, gt_motion: np.ndarray, est_axis: np.ndarray, gt_axis: np.ndarray,
                         est_states: np.ndarray, gt_states: np.ndarray, joint_type: str,
                         points: np.ndarray | None = None) -> dict[str, float]:
    """Errors of an estimated articulation against the truth.

    ``*_motion``: ``[T, 4, 4]`` motions of the moving part since frame 0 (world frame);
    ``*_axis``: joint axes (world); ``*_states``: ``[T]`` joint states relative to frame 0;
    ``points``: the moving part's canonical points ``[N, 3]`` for the mean point error.
    """
    rot = rotation_errors_deg(est_motion, gt_motion)[1:]
    cos = abs(float(np.dot(est_axis, gt_axis)) / (np.linalg.norm(est_axis) * np.linalg.norm(gt_axis)))
    out = {"rot_mean_deg": float(rot.mean()), "rot_max_deg": float(rot.max()), "rot_min_deg": float(rot.min()),
           "axis_error_deg": float(np.rad2deg(np.arccos(np.clip(cos, 0.0, 1.0))))}
    sign = 1.0 if float(np.dot(est_axis, gt_axis)) >= 0 else -1.0
    state_err = np.abs(sign * np.asarray(est_states) - np.asarray(gt_states))[1:]
    if joint_type == "revolute":
        out["angle_error_mean_deg"] = float(np.rad2deg(state_err.mean()))
        out["angle_error_max_deg"] = float(np.rad2deg(state_err.max()))
    else:
        out["translation_error_mean_m"] = float(state_err.mean())
        out["translation_error_max_m"] = float(state_err.max())
    if points is not None:
        p = np.concatenate([np.asarray(points, float), np.ones((len(points), 1))], axis=1)
        diff = np.einsum("tij,nj->tni", est_motion, p)[..., :3] - np.einsum("tij,nj->tni", gt_motion, p)[..., :3]
        out["point_error_mean_m"] = float(np.linalg.norm(diff, axis=-1)[1:].mean())
    return out
