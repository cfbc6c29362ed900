"""The initial hand from MediaPipe-style detections: metric landmarks lifted with the camera (size
prior, wrist depth prior, the object's depth where the fingertips touch it), gaps filled."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from scipy.spatial.transform import Rotation

from hoi_ros.arthoi.hand_estimate import lift_landmarks, mediapipe_hand_estimate
from hoi_ros.arthoi.stage2 import FINGERTIPS
from hoi_ros.core.camera import Camera, look_at


def _hand_and_camera():
    rng = np.random.default_rng(3)
    cam = Camera.from_fov(320, 240, 50.0, look_at(np.array([0.1, -0.6, 0.4]), np.array([0.0, 0.0, 0.1])))
    hand = np.array([0.02, 0.01, 0.12]) + rng.normal(scale=0.04, size=(21, 3))
    world_landmarks = (hand - hand.mean(0)) @ Rotation.from_rotvec([0.3, -0.5, 1.0]).as_matrix().T
    uv, _ = cam.project(hand)
    return cam, hand, world_landmarks, uv


def test_size_prior_recovers_the_hand_and_the_wrist_prior_sets_its_depth() -> None:
    cam, hand, world, uv = _hand_and_camera()
    np.testing.assert_allclose(lift_landmarks(world, uv, cam), hand, atol=1e-6)
    lifted = lift_landmarks(world, uv, cam, wrist_depth_m=0.5)
    assert abs(cam.world_to_camera(lifted[:1])[0, 2] - 0.5) < 1e-9
    np.testing.assert_allclose(cam.project(lifted)[0], uv, atol=1e-6)  # the 2D is kept


def test_object_depth_under_the_fingertips_moves_the_hand_onto_it() -> None:
    cam, hand, world, uv = _hand_and_camera()
    depth_true = cam.world_to_camera(hand)[:, 2]
    # The object's depth map: 1 cm behind the fingertips everywhere (a surface they touch).
    object_depth = np.full((cam.height, cam.width), float(np.median(depth_true[list(FINGERTIPS)])) + 0.01)
    lifted = lift_landmarks(world * 1.03, uv, cam, object_depth=object_depth)  # a 3 % too large hand
    tips = cam.world_to_camera(lifted[list(FINGERTIPS)])[:, 2]
    assert abs(np.median(tips) - object_depth[0, 0]) < 0.005


def test_video_estimate_fills_frames_without_a_detection() -> None:
    cam, hand, world, uv = _hand_and_camera()

    class Fake:
        def __init__(self) -> None:
            self.calls = 0

        def detect(self, rgb):
            self.calls += 1
            return None if self.calls in (2, 3) else SimpleNamespace(world=world, image=uv, score=1.0)

    video = np.zeros((5, cam.height, cam.width, 3), dtype=np.uint8)
    est = mediapipe_hand_estimate(video, cam, landmarker=Fake())
    assert est.detected.tolist() == [True, False, False, True, True]
    np.testing.assert_allclose(est.joints, np.repeat(hand[None], 5, 0), atol=1e-6)
    assert np.isnan(est.image_points[1]).all()
