"""The rendered motion video (SViMo §3.2): 3D hand joints and object points projected into frames.

SViMo does not denoise explicit 3D motion in its DiT; it projects the hand joints and object point
cloud onto the image plane as a "rendered motion video" of the video's size, which the same video
VAE encodes (Alg. 1 line 1, ``M~ = Proj(h, o)``; Eq. 7, ``Proj``). Here: bones as lines coloured per
finger, joints as dots, object points as dots (tool and target in two colours), on black.
The same drawing without objects is PAM's 2D hand-keypoint condition map.

Everything is vectorised over frames with numpy (no per-frame Python loop) and deterministic:
layers are painted in a fixed order (object points, bones, joints), nearer points over farther
ones within the point layer.
"""

from __future__ import annotations

import numpy as np

from hoi_ros.core.camera import Camera
from hoi_ros.core.hand import BONE_FINGER, FINGER_COLORS, JOINTS_PER_HAND, WRIST_COLOR, bones_for

TOOL_COLOR = np.array([235, 235, 235], dtype=np.uint8)
TARGET_COLOR = np.array([90, 200, 250], dtype=np.uint8)
SECOND_HAND_SHADE = 0.6  # the left hand (joints 21..41) is drawn darker than the right


def _disc_offsets(radius: int) -> np.ndarray:
    r = max(int(radius), 0)
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    keep = dx * dx + dy * dy <= r * r + r  # slightly fuller than a strict circle at small radii
    return np.stack([dy[keep], dx[keep]], axis=-1)  # [D, 2] (row, col)


def _splat(
    canvas: np.ndarray, frame_idx: np.ndarray, uv: np.ndarray, colors: np.ndarray, radius: int
) -> None:
    """Paint discs of ``radius`` at pixel centres ``uv [N, 2]`` of frames ``frame_idx [N]``.

    ``colors`` is ``[N, 3]``. Later entries overwrite earlier ones where they overlap.
    """
    valid = np.all(np.isfinite(uv), axis=-1)
    if not np.any(valid):
        return
    frame_idx, uv, colors = frame_idx[valid], uv[valid], colors[valid]
    # Round to the nearest pixel; clip far-away values before the int cast.
    col = np.rint(np.clip(uv[:, 0], -1e6, 1e6)).astype(np.int64)
    row = np.rint(np.clip(uv[:, 1], -1e6, 1e6)).astype(np.int64)
    offsets = _disc_offsets(radius)
    rows = (row[:, None] + offsets[None, :, 0]).ravel()
    cols = (col[:, None] + offsets[None, :, 1]).ravel()
    frames = np.repeat(frame_idx, len(offsets))
    cols_rgb = np.repeat(colors, len(offsets), axis=0)
    _, height, width, _ = canvas.shape
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    canvas[frames[inside], rows[inside], cols[inside]] = cols_rgb[inside]


def default_radius(height: int, width: int) -> int:
    """Line/dot radius in pixels that scales with the frame (1 px at 64x96, 2 px at 416x624)."""
    return max(1, round(min(height, width) / 200.0))


def render_motion_video(
    hand_joints: np.ndarray,
    object_points: np.ndarray | None,
    camera: Camera,
    object_point_labels: np.ndarray | None = None,
    radius: int | None = None,
    point_radius: int | None = None,
    draw_joints: bool = True,
) -> np.ndarray:
    """Render ``[T, H, W, 3] uint8`` frames of the camera's size.

    Args:
        hand_joints: ``[T, J, 3]`` metres in the camera's world frame, J = 21 or 42.
        object_points: ``[T, K, 3]`` metres, or None / K = 0 for a hand-only map.
        camera: projects world points to pixels; frames are ``camera.height x camera.width``.
        object_point_labels: ``[K]`` 0 = tool, 1 = target (colours differ).
        radius: bone line and joint half-width in pixels (default scales with the frame).
        point_radius: object point dot radius (default: ``radius``, at least 1).
        draw_joints: also draw a dot on each joint (wider than the bones).
    """
    joints = np.asarray(hand_joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[-1] != 3:
        raise ValueError(f"hand_joints: expected [T, J, 3], got {joints.shape}")
    t, j, _ = joints.shape
    height, width = camera.height, camera.width
    r = default_radius(height, width) if radius is None else int(radius)
    pr = max(1, r if point_radius is None else int(point_radius))
    canvas = np.zeros((t, height, width, 3), dtype=np.uint8)

    # Layer 1: object points, far to near so nearer points win.
    if object_points is not None and np.asarray(object_points).size:
        pts = np.asarray(object_points, dtype=np.float64)
        if pts.ndim != 3 or pts.shape[0] != t or pts.shape[-1] != 3:
            raise ValueError(f"object_points: expected [{t}, K, 3], got {pts.shape}")
        k = pts.shape[1]
        labels = np.zeros(k, dtype=np.int64) if object_point_labels is None else np.asarray(object_point_labels)
        colors = np.where(labels[:, None] == 1, TARGET_COLOR[None], TOOL_COLOR[None]).astype(np.uint8)
        uv, depth = camera.project(pts)  # [T, K, 2], [T, K]
        order = np.argsort(-depth.ravel(), kind="stable")
        frame_idx = np.repeat(np.arange(t), k)[order]
        _splat(canvas, frame_idx, uv.reshape(-1, 2)[order], np.tile(colors, (t, 1))[order], pr - 1 if pr > 1 else 0)

    # Layer 2: bones, sampled densely enough to be continuous lines.
    bones = bones_for(j)  # [B, 2]
    hands = np.arange(len(bones)) // (len(bones) // (j // JOINTS_PER_HAND))
    bone_colors = FINGER_COLORS[np.tile(BONE_FINGER, j // JOINTS_PER_HAND)].astype(np.float64)
    bone_colors = (bone_colors * np.where(hands[:, None] == 1, SECOND_HAND_SHADE, 1.0)).astype(np.uint8)
    uv_j, _ = camera.project(joints)  # [T, J, 2]
    start, end = uv_j[:, bones[:, 0]], uv_j[:, bones[:, 1]]  # [T, B, 2]
    lengths = np.linalg.norm(end - start, axis=-1)
    finite = np.isfinite(lengths)
    max_len = float(np.max(lengths[finite])) if np.any(finite) else 0.0
    samples = int(min(max(2, np.ceil(max_len / max(r, 1)) + 1), 4 * (height + width)))
    s = np.linspace(0.0, 1.0, samples)
    line = start[:, :, None] + (end - start)[:, :, None] * s[None, None, :, None]  # [T, B, S, 2]
    b = len(bones)
    frame_idx = np.repeat(np.arange(t), b * samples)
    colors = np.tile(np.repeat(bone_colors, samples, axis=0), (t, 1))
    _splat(canvas, frame_idx, line.reshape(-1, 2), colors, max(r - 1, 0))

    # Layer 3: joints (wrist white, others in their finger's colour).
    if draw_joints:
        finger = np.concatenate([[-1], np.repeat(np.arange(5), 4)])
        joint_colors = np.where(finger[:, None] < 0, WRIST_COLOR[None], FINGER_COLORS[np.maximum(finger, 0)])
        joint_colors = np.tile(joint_colors, (j // JOINTS_PER_HAND, 1)).astype(np.float64)
        joint_colors[JOINTS_PER_HAND:] *= SECOND_HAND_SHADE
        frame_idx = np.repeat(np.arange(t), j)
        _splat(canvas, frame_idx, uv_j.reshape(-1, 2), np.tile(joint_colors.astype(np.uint8), (t, 1)), r)
    return canvas
