"""The initial hand for Stage II from a video: MediaPipe's hand landmarker, lifted to 3D.

ArtHOI's Stage II (§3.2) refines the human from an off-the-shelf estimate (GVHMR for the body,
Eq. 12's ``theta_v``). For a hand in photo-like video the estimator here is MediaPipe Hands (the
palm detector and landmark model that ship inside the ``mediapipe`` wheel; nothing is
downloaded; :class:`hoi_ros.retarget.from_video.HandLandmarker`): per frame 21 image landmarks
(pixels) and 21 *world* landmarks (metres, about the hand's centre, no absolute position).

Lifting to 3D (:func:`lift_landmarks`), per frame:

1. **Size prior**: the world landmarks are a metric hand, so the rigid pose that projects them
   onto the image landmarks (``cv2.solvePnP``, SQPnP, with the scene's camera) fixes the hand's
   depth from its apparent size. This is the default.
2. **Wrist depth prior** (``wrist_depth_m``): the hand moved along the wrist's ray until the
   wrist is at that camera depth (its 2D kept), for when the size is unreliable (a hand seen
   edge-on, a child's hand).
3. **Object depth** (``object_depth`` + ``object_mask``, Fig. 3c's principle): fingertips whose
   pixel lies on the object and that the lift puts within ``contact_radius_m`` of the object's
   depth there are taken to touch it; the hand is moved along the rays so that those fingertips'
   depth matches the object's (median shift). Stage II does this again, per keypoint, with Stage
   I's object (``L_k``, :mod:`hoi_ros.arthoi.stage2`).

Frames without a detection are filled by linear interpolation between detected ones (held at
the ends) and reported in ``detected``. On the sim's renders MediaPipe finds the flat-shaded hand
in part of the frames only, with image errors of several pixels (measured in ``docs/arthoi.md``):
sim scenes use :func:`hoi_ros.arthoi.stage2.simulated_hand_estimate` instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hoi_ros.arthoi.stage2 import FINGERTIPS
from hoi_ros.core.camera import Camera


@dataclass
class VideoHandEstimate:
    """The hand of every frame: world keypoints ``[T, 21, 3]`` (gaps filled), image landmarks
    ``[T, 21, 2]`` (NaN where not detected), ``detected [T]`` and the depth used per frame."""

    joints: np.ndarray
    image_points: np.ndarray
    detected: np.ndarray
    wrist_depth_m: np.ndarray


def _pnp(world: np.ndarray, image: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Rotation ``[3, 3]`` and translation ``[3]`` taking the landmarks' frame into the camera's."""
    import cv2

    obj = np.ascontiguousarray(world, dtype=np.float64).reshape(-1, 1, 3)
    img = np.ascontiguousarray(image, dtype=np.float64).reshape(-1, 1, 2)
    ok, rvec, tvec = cv2.solvePnP(obj, img, camera.intrinsics, None, flags=cv2.SOLVEPNP_SQPNP)
    if ok and float(tvec[2, 0]) > 0:
        return cv2.Rodrigues(rvec)[0], tvec.reshape(3)
    # Fallback: the landmarks' axes taken as the camera's, the translation by linear least squares.
    k = camera.intrinsics
    rows, rhs = [], []
    for (x, y, z), (u, v) in zip(world, image, strict=True):
        rows += [[k[0, 0], 0.0, k[0, 2] - u], [0.0, k[1, 1], k[1, 2] - v]]
        rhs += [-(k[0, 0] * x + (k[0, 2] - u) * z), -(k[1, 1] * y + (k[1, 2] - v) * z)]
    t = np.linalg.lstsq(np.asarray(rows), np.asarray(rhs), rcond=None)[0]
    return np.eye(3), t


def lift_landmarks(world: np.ndarray, image: np.ndarray, camera: Camera, wrist_depth_m: float | None = None,
                   object_depth: np.ndarray | None = None, object_mask: np.ndarray | None = None,
                   contact_radius_m: float = 0.03) -> np.ndarray:
    """World keypoints ``[21, 3]`` of one detection (world landmarks ``[21, 3]`` m, image landmarks
    ``[21, 2]`` px); see the module docstring for the three depth sources."""
    rot, t = _pnp(world, image, camera)
    cam = np.asarray(world, dtype=np.float64) @ rot.T + t  # camera frame
    if wrist_depth_m is not None and cam[0, 2] > 0:
        cam = cam * (float(wrist_depth_m) / cam[0, 2])  # along the rays through the origin: 2D kept
    if object_depth is not None:
        h, w = object_depth.shape
        mask = object_mask if object_mask is not None else object_depth > 0
        ratios = []
        for j in FINGERTIPS:
            u, v = (int(np.rint(c)) for c in image[j])
            if 0 <= u < w and 0 <= v < h and mask[v, u] and object_depth[v, u] > 0:
                if abs(object_depth[v, u] - cam[j, 2]) < contact_radius_m:
                    ratios.append(object_depth[v, u] / cam[j, 2])
        if ratios:
            cam = cam * float(np.median(ratios))
    to_world = np.linalg.inv(camera.extrinsics)
    return cam @ to_world[:3, :3].T + to_world[:3, 3]


def fill_gaps(values: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """Frames without a detection, linearly interpolated between detected ones (held at the ends)."""
    if not detected.any():
        raise ValueError("video: no hand detected in any frame")
    out = values.copy()
    t, good = np.arange(len(values)), np.flatnonzero(detected)
    flat = values[good].reshape(len(good), -1)
    out[~detected] = np.stack([np.interp(t[~detected], good, flat[:, k]) for k in range(flat.shape[1])],
                              axis=1).reshape(-1, *values.shape[1:])
    return out


def mediapipe_hand_estimate(video: np.ndarray, camera: Camera, landmarker=None, wrist_depth_m: float | None = None,
                            object_depth: np.ndarray | None = None, object_masks: np.ndarray | None = None,
                            min_confidence: float = 0.3) -> VideoHandEstimate:
    """MediaPipe's hand landmarker over ``video [T, H, W, 3]`` (tracking between frames), lifted
    per frame (:func:`lift_landmarks`; ``object_depth`` / ``object_masks`` ``[T, H, W]`` when the
    object's depth is known). ``landmarker``: anything with ``detect(rgb) -> Detection | None``
    (default: :class:`hoi_ros.retarget.from_video.HandLandmarker` in video mode)."""
    own = landmarker is None
    if own:
        from hoi_ros.retarget.from_video import HandLandmarker

        landmarker = HandLandmarker(video_mode=True, min_confidence=min_confidence)
    t_n = len(video)
    joints = np.full((t_n, 21, 3), np.nan)
    image = np.full((t_n, 21, 2), np.nan)
    detected = np.zeros(t_n, dtype=bool)
    try:
        for t, frame in enumerate(video):
            det = landmarker.detect(np.ascontiguousarray(frame))
            if det is None:
                continue
            od = None if object_depth is None else object_depth[t]
            om = None if object_masks is None else object_masks[t]
            joints[t] = lift_landmarks(det.world, det.image, camera, wrist_depth_m, od, om)
            image[t], detected[t] = det.image, True
    finally:
        if own:
            landmarker.close()
    filled = fill_gaps(joints, detected)
    depth = camera.world_to_camera(filled[:, 0])[:, 2]
    return VideoHandEstimate(filled, image, detected, depth)
