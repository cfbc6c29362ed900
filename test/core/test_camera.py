import numpy as np
import pytest

from hoi_ros.core.camera import Camera, look_at


def test_project_hand_computed():
    k = np.array([[100.0, 0, 50.0], [0, 200.0, 40.0], [0, 0, 1]])
    cam = Camera(101, 81, k)  # identity extrinsics: world == camera
    uv, depth = cam.project(np.array([[0.1, -0.2, 2.0], [0.0, 0.0, 1.0]]))
    np.testing.assert_allclose(uv, [[50 + 100 * 0.05, 40 + 200 * -0.1], [50, 40]])
    np.testing.assert_allclose(depth, [2.0, 1.0])


def test_points_behind_camera_are_nan():
    cam = Camera.from_fov(64, 48, 60.0)
    uv, depth = cam.project(np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 0.0]]))
    assert np.all(np.isnan(uv)) and np.all(depth <= 0)


def test_look_at_puts_target_at_the_image_centre_and_backprojects():
    ext = look_at([1.0, -2.0, 1.5], [0.1, 0.2, 0.3])
    cam = Camera.from_fov(640, 480, 50.0, ext)
    uv, depth = cam.project(np.array([0.1, 0.2, 0.3]))
    np.testing.assert_allclose(uv, [319.5, 239.5], atol=1e-9)
    assert depth == pytest.approx(np.linalg.norm([0.9, -2.2, 1.2]))
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.3, 0.3, (50, 3))
    uv, depth = cam.project(pts)
    np.testing.assert_allclose(cam.backproject(uv, depth), pts, atol=1e-9)
    # World up (+z) maps to image up (smaller v).
    uv_up, _ = cam.project(np.array([0.1, 0.2, 0.4]))
    assert uv_up[1] < 239.5
    assert cam.fov_y_deg == pytest.approx(50.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"width": 0, "height": 10, "intrinsics": np.eye(3)}, "image size"),
        ({"width": 10, "height": 10, "intrinsics": np.eye(2)}, "intrinsics"),
        ({"width": 10, "height": 10, "intrinsics": np.full((3, 3), np.nan)}, "NaN"),
        ({"width": 10, "height": 10, "intrinsics": np.eye(3), "extrinsics": 2 * np.eye(4)}, "last row"),
    ],
)
def test_invalid_camera(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Camera(**kwargs)
