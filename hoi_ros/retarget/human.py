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
    """``[T, 21, 3]`` float64 keypoints of the ``hand`` hand from ``[T, 21 or 42, 3]`` (42: right, then
    left; 21: that hand alone).

    Raises ``ValueError`` naming the field for a wrong shape and listing the frames with NaN/Inf.
    """
    kp = np.asarray(keypoints)
    if kp.ndim != 3 or kp.shape[-1] != 3 or kp.shape[1] not in (JOINTS_PER_HAND, 2 * JOINTS_PER_HAND):
        raise ValueError(f"hand_joints: expected [T, 21 or 42, 3], got shape {kp.shape}")
    if kp.shape[0] < 1:
        raise ValueError("hand_joints: needs at least one frame")
    if hand not in ("right", "left"):
        raise ValueError(f"hand: must be 'right' or 'left', got {hand!r}")
    first = JOINTS_PER_HAND if hand == "left" and kp.shape[1] == 2 * JOINTS_PER_HAND else 0
    kp = kp[:, first: first + JOINTS_PER_HAND].astype(np.float64)
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
                         f"set hand: {sides[0]} (and a {sides[0]} robot hand)" if sides else
                         "hand_joints: the motion has no hands")
    k = sides.index(hand)
    return np.asarray(hand_joints)[:, JOINTS_PER_HAND * k: JOINTS_PER_HAND * (k + 1)]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a x b`` over the last axis (faster than ``np.cross`` on small arrays)."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[..., 0] = a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1]
    out[..., 1] = a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2]
    out[..., 2] = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    return out


def _normalize(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    n = np.sqrt((v * v).sum(axis=-1, keepdims=True))
    if (n > _EPS).all():
        return v / n
    return np.where(n > _EPS, v / np.maximum(n, _EPS), fallback)


def palm_frame(keypoints: np.ndarray, side: str = "right") -> np.ndarray:
    """Wrist poses ``[T, 4, 4]`` (palm frame -> input frame). Degenerate frames get identity axes.

    ``side``: the hand the keypoints belong to. The palm frame has ``z`` out of the back of the
    hand for both: ``x x (index MCP - little MCP)`` for a right hand, its opposite for a left one
    (whose palm frame is then the mirror image of a right hand's, thumb towards ``-y``).
    """
    kp = np.asarray(keypoints, np.float64)
    x = _normalize(kp[:, 9] - kp[:, 0], np.array([1.0, 0.0, 0.0]))
    across = kp[:, 5] - kp[:, 17] if side == "right" else kp[:, 17] - kp[:, 5]
    z = _cross(x, across)
    zn = np.sqrt((z * z).sum(axis=-1, keepdims=True))
    if (zn > _EPS).all():
        z = z / zn
    else:
        fallback_z = _cross(x, np.array([0.0, 1.0, 0.0]))
        fallback_z = np.where(np.linalg.norm(fallback_z, axis=-1, keepdims=True) > 1e-6, fallback_z,
                              _cross(x, np.array([0.0, 0.0, 1.0])))
        z = _normalize(z, _normalize(fallback_z, np.array([0.0, 0.0, 1.0])))
    y = _cross(z, x)
    pose = np.zeros((kp.shape[0], 4, 4))
    pose[:, :3, 0], pose[:, :3, 1], pose[:, :3, 2] = x, y, z
    pose[:, :3, 3] = kp[:, 0]
    pose[:, 3, 3] = 1.0
    return pose


def to_palm_frame(keypoints: np.ndarray, side: str = "right") -> tuple[np.ndarray, np.ndarray]:
    """(keypoints in the palm frame ``[T, 21, 3]``, wrist poses ``[T, 4, 4]``) of a ``side`` hand."""
    pose = palm_frame(keypoints, side)
    local = (np.asarray(keypoints, np.float64) - pose[:, None, :3, 3]) @ pose[:, :3, :3]
    return local, pose


def chain_length(points: np.ndarray) -> np.ndarray:
    """Summed segment lengths along ``[..., K, 3]`` (K points in chain order)."""
    return np.linalg.norm(np.diff(points, axis=-2), axis=-1).sum(axis=-1)
