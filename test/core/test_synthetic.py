import numpy as np

from hoi_ros.core.metrics import chamfer_distance
from hoi_ros.core.synthetic import fibonacci_sphere, hand_skeleton, reach_grasp_lift


def test_skeleton_bone_lengths_are_constant_while_fingers_flex():
    j = hand_skeleton(np.linspace(0, 1, 5))
    index = np.linalg.norm(np.diff(j[:, 5:9], axis=1), axis=-1)
    np.testing.assert_allclose(index, np.tile([0.040, 0.025, 0.020], (5, 1)), atol=1e-12)
    # Closing brings the index tip towards the palm side (-z).
    assert j[-1, 8, 2] < j[0, 8, 2] - 0.03


def test_reach_grasp_lift_lifts_the_ball_with_the_hand():
    s = reach_grasp_lift(num_frames=20)
    centre = s.object_points.mean(1)
    assert centre[-1, 2] - centre[0, 2] > 0.1
    tips = s.hand_joints[-1, [4, 8, 12]]
    assert np.linalg.norm(tips - centre[-1], axis=-1).max() < 0.09  # fingers around the ball
    assert s.object_points.shape == (20, 298, 3)
    ball = fibonacci_sphere(298, 0.035)
    np.testing.assert_allclose(np.linalg.norm(ball, axis=-1), 0.035)
    # Frame 0: the ball rests on the table, centre at (0, 0, radius).
    assert chamfer_distance(s.object_points[:1] - np.array([0, 0, 0.035]), ball[None]) < 1e-6
