"""Human 21-keypoint trajectories -> the robot's frame: validation, palm frame, scale.

The palm frame (same convention as the robot models, :mod:`hoi_ros.retarget.description`):
origin at the wrist (keypoint 0), ``x`` towards the middle finger's MCP (9), ``z`` normal to the
plane of ``x`` and the index-to-little MCP direction (5 - 17), out of the back of a right hand,
``y = z x x``. Expressing the keypoints in it removes the wrist pose, which is returned separately
(for a floating hand or an arm's end effector).
"""

from __future__ import annotations

import numpy as np

from hoi_ros.core.hand import JOINTS_PER_HAND

_EPS = 1e-9


def validate_keypoints(keypoints: np.ndarray, hand: str = "right") -> np.ndarray:
    """``[T, 21, 3]`` float64 keypoints of one hand from ``[T, 21 or 42, 3]`` (42: right, then left).

    Raises ``ValueError`` naming the field for a wrong shape and listing the frames with NaN/Inf.
    """
    kp = np.asarray(keypoints)
    if kp.ndim != 3 or kp.shape[-1] != 3 or kp.shape[1] not in (JOINTS_PER_HAND, 2 * JOINTS_PER_HAND):
        raise ValueError(f"hand_joints: expected [T, 21 or 42, 3], got shape {kp.shape}")
    if kp.shape[0] < 1:
        raise ValueError("hand_joints: needs at least one frame")
    if hand not in ("right", "left"):
        raise ValueError(f"hand: must be 'right' or 'left', got {hand!r}")
    if hand == "left":
        if kp.shape[1] != 2 * JOINTS_PER_HAND:
            raise ValueError("hand: 'left' needs 42 joints (right hand first, then left)")
        raise ValueError("hand: the built-in robot hands are right hands; left-hand retargeting is not supported")
    kp = kp[:, :JOINTS_PER_HAND].astype(np.float64)
    bad = ~np.isfinite(kp).all(axis=(1, 2))
    if bad.any():
        frames = np.flatnonzero(bad)
        shown = ", ".join(str(i) for i in frames[:10]) + (" ..." if len(frames) > 10 else "")
        raise ValueError(f"hand_joints: {len(frames)} frame(s) contain NaN or Inf (frames {shown}); "
                         "fill or drop them before retargeting")
    return kp


def hand_of(hand_joints: np.ndarray, sides: tuple[str, ...] | list[str], hand: str = "right") -> np.ndarray:
    """The ``[T, 21, 3]`` joints of ``hand`` from ``[T, 21 * len(sides), 3]`` hands in ``sides`` order
    (``HOISequence.hand_joints`` / ``hand_sides``). Raises ``ValueError`` when that hand is absent."""
    sides = list(sides)
    if hand not in sides:
        raise ValueError(f"hand_joints: the motion has no {hand} hand (its hands: {sides}); "
                         f"the built-in robot hands are right hands")
    k = sides.index(hand)
    return np.asarray(hand_joints)[:, JOINTS_PER_HAND * k: JOINTS_PER_HAND * (k + 1)]


def _normalize(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(n > _EPS, v / np.maximum(n, _EPS), fallback)


def palm_frame(keypoints: np.ndarray) -> np.ndarray:
    """Wrist poses ``[T, 4, 4]`` (palm frame -> input frame). Degenerate frames get identity axes."""
    kp = np.asarray(keypoints, np.float64)
    x = _normalize(kp[:, 9] - kp[:, 0], np.array([1.0, 0.0, 0.0]))
    across = kp[:, 5] - kp[:, 17]
    z = np.cross(x, across)
    fallback_z = np.cross(x, np.array([0.0, 1.0, 0.0]))
    fallback_z = np.where(np.linalg.norm(fallback_z, axis=-1, keepdims=True) > 1e-6, fallback_z,
                          np.cross(x, np.array([0.0, 0.0, 1.0])))
    z = _normalize(z, _normalize(fallback_z, np.array([0.0, 0.0, 1.0])))
    y = np.cross(z, x)
    pose = np.tile(np.eye(4), (kp.shape[0], 1, 1))
    pose[:, :3, 0], pose[:, :3, 1], pose[:, :3, 2] = x, y, z
    pose[:, :3, 3] = kp[:, 0]
    return pose


def to_palm_frame(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keypoints in the palm frame ``[T, 21, 3]``, wrist poses ``[T, 4, 4]``)."""
    pose = palm_frame(keypoints)
    local = np.einsum("tji,tkj->tki", pose[:, :3, :3], np.asarray(keypoints, np.float64) - pose[:, None, :3, 3])
    return local, pose


def chain_length(points: np.ndarray) -> np.ndarray:
    """Summed segment lengths along ``[..., K, 3]`` (K points in chain order)."""
    return np.linalg.norm(np.diff(points, axis=-2), axis=-1).sum(axis=-1)
