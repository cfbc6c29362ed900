import numpy as np

from hoi_ros.core import Camera, render_motion_video
from hoi_ros.core.hand import FINGER_COLORS
from hoi_ros.core.render import TARGET_COLOR, TOOL_COLOR
from hoi_ros.core.synthetic import reach_grasp_lift


def flat_hand(z=1.0):
    """A hand in the plane z (camera looking down +z): fingers along +x, spread along y."""
    j = np.zeros((21, 3))
    for f in range(5):
        for k in range(4):
            j[1 + 4 * f + k] = [0.02 * (k + 1), -0.04 + 0.02 * f, 0.0]
    j[:, 2] = z
    return j


def test_shapes_dtype_and_background():
    cam = Camera.from_fov(64, 48, 60.0)
    v = render_motion_video(flat_hand()[None].repeat(3, 0), None, cam)
    assert v.shape == (3, 48, 64, 3) and v.dtype == np.uint8
    assert v[:, 0, 0].max() == 0  # black background
    assert np.array_equal(v[0], v[1])


def test_bones_are_coloured_per_finger_at_the_projected_pixels():
    cam = Camera(200, 200, np.array([[500.0, 0, 100], [0, 500.0, 100], [0, 0, 1]]))
    joints = flat_hand()[None]
    v = render_motion_video(joints, None, cam, radius=1, draw_joints=False)[0]
    uv, _ = cam.project(joints[0])
    for f in range(5):
        # The midpoint of the finger's second bone carries that finger's colour.
        mid = (uv[1 + 4 * f] + uv[2 + 4 * f]) / 2
        c, r = np.rint(mid).astype(int)
        assert np.array_equal(v[r, c], FINGER_COLORS[f]), f


def test_object_points_and_labels():
    cam = Camera(100, 100, np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]]))
    hand = np.full((1, 21, 3), [0.0, 0.0, -1.0])  # behind the camera: not drawn
    pts = np.array([[[-0.2, -0.2, 1.0], [0.2, 0.2, 1.0]]])
    v = render_motion_video(hand, pts, cam, np.array([0, 1]), radius=1)[0]
    assert np.array_equal(v[30, 30], TOOL_COLOR)
    assert np.array_equal(v[70, 70], TARGET_COLOR)
    assert (v.sum(-1) > 0).sum() < 30  # only the two dots


def test_two_hands_and_determinism():
    s = reach_grasp_lift(num_frames=4, image_size=(60, 90))
    two = np.concatenate([s.hand_joints, s.hand_joints + np.array([0, 0.1, 0], dtype=np.float32)], 1)
    a = render_motion_video(two, s.object_points, s.camera)
    b = render_motion_video(two, s.object_points, s.camera)
    assert np.array_equal(a, b)
    one = render_motion_video(s.hand_joints, s.object_points, s.camera)
    assert (a.sum(-1) > 0).sum() > (one.sum(-1) > 0).sum()


def test_offscreen_and_far_points_do_not_crash():
    cam = Camera.from_fov(32, 24, 60.0)
    joints = np.full((2, 21, 3), [1e7, -1e7, 1.0])
    v = render_motion_video(joints, np.full((2, 3, 3), [5.0, 5.0, 0.01]), cam)
    assert v.max() == 0
