"""One overview picture of an ArtHOI run: input frames, the part segmentation, the recovered joint
axis (beside the true one, for sim scenes) and the Stage II hand."""

from __future__ import annotations

import cv2
import numpy as np

from hoi_ros.arthoi.pipeline import ArtHOIResult, SceneInput
from hoi_ros.core.hand import BONES

AXIS_HALF_LENGTH_M = 0.15
HAND_FRAME_FRACTION = 0.65


def _line(img: np.ndarray, camera, a: np.ndarray, b: np.ndarray, color: tuple[int, int, int], scale: int,
          thickness: int = 2) -> None:
    uv, z = camera.project(np.stack([a, b]))
    if np.all(np.isfinite(uv)) and np.all(z > 0):
        p = [tuple(int(np.rint(v)) for v in (q + 0.5) * scale) for q in uv]
        cv2.line(img, p[0], p[1], color, thickness, cv2.LINE_AA)


def overview_figure(scene: SceneInput, result: ArtHOIResult, scale: int = 3) -> np.ndarray:
    """``[H * scale, 4 * W * scale, 3] uint8``: (1) the first frame with the dynamic (red), static
    (green) and quasi-static (yellow) points, (2) the part mask on the first frame, (3) the last
    frame with the recovered axis (magenta) and the true one (cyan, sim only), (4) the last frame
    with the hand after Stage II (white bones) and its initial estimate (grey)."""
    cam = scene.camera
    video = scene.video
    up = lambda img: cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)  # noqa: E731
    pc = result.segmentation.points
    a = up(video[0].copy())
    for pts, col in ((pc.points[pc.static], (40, 220, 40)), (pc.points[pc.dynamic], (230, 30, 30)),
                     (pc.points[pc.quasi_static], (250, 230, 0))):
        for u, v in pts:
            cv2.circle(a, (int((u + 0.5) * scale), int((v + 0.5) * scale)), max(1, scale // 2), col, -1)
    b = video[0].astype(np.float32)
    mask = result.segmentation.part_mask
    b[mask] = 0.45 * b[mask] + 0.55 * np.array([230, 30, 30])
    b = up(b.astype(np.uint8))
    c = up(video[-1].copy())
    joint = result.joint
    if joint.type == "revolute":
        _line(c, cam, joint.origin - AXIS_HALF_LENGTH_M * joint.axis, joint.origin + AXIS_HALF_LENGTH_M * joint.axis,
              (255, 0, 255), scale)
    if scene.truth is not None and scene.truth["joint_type"] == "revolute":
        o, ax = np.asarray(scene.truth["origin"]), np.asarray(scene.truth["axis"])
        _line(c, cam, o - AXIS_HALF_LENGTH_M * ax, o + AXIS_HALF_LENGTH_M * ax, (0, 230, 230), scale, 1)
    if joint.type == "prismatic":
        start = joint.origin
        _line(c, cam, start, start + joint.states[-1] * joint.axis, (255, 0, 255), scale)
    t_hand = int(HAND_FRAME_FRACTION * (len(video) - 1))  # mid-operation, while the hand holds the part
    d = up(video[t_hand].copy())
    hands = [(scene.hand_estimate, (150, 150, 150)), (result.hand, (255, 255, 255))]
    for joints, col in hands:
        if joints is None:
            continue
        for i, j in BONES:
            _line(d, cam, joints[t_hand, i], joints[t_hand, j], col, scale, 1)
    return np.concatenate([a, b, c, d], axis=1)
