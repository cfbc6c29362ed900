"""A /hoi/generate request's camera: sensor_msgs/CameraInfo + geometry_msgs/Pose (camera in the world)
-> the request's Camera (world->camera extrinsics), or None for the model's; bad ones named."""

from __future__ import annotations

import math

import numpy as np
import pytest
from generate_client import make_request
from ros_support import ros_available

pytestmark = pytest.mark.skipif(not ros_available(), reason="rclpy / hoi_ros interfaces not built")

K = [60.0, 0.0, 15.5, 0.0, 60.0, 11.5, 0.0, 0.0, 1.0]  # for the 32x24 test image


def _limits():
    from hoi_ros.core.generation import GeneratorLimits

    return GeneratorLimits(max_frames=9, default_frames=9, max_steps=4, default_steps=2)


def _request(k=K, width=32, height=24, position=(0.0, 0.0, 0.0), quat_xyzw=(0.0, 0.0, 0.0, 1.0), kind="srv"):
    req = make_request(kind, prompt="grasp the ball")
    req.camera.width, req.camera.height = width, height
    req.camera.k = [float(v) for v in k]
    p, q = req.camera_pose.position, req.camera_pose.orientation
    p.x, p.y, p.z = (float(v) for v in position)
    q.x, q.y, q.z, q.w = (float(v) for v in quat_xyzw)
    return req


def test_no_camera_is_the_models() -> None:
    from hoi_ros.nodes.validation import validate_request

    for kind in ("srv", "action"):
        assert validate_request(make_request(kind), _limits()).generation.camera is None
        assert validate_request(_request(k=[0.0] * 9, width=640, height=480, kind=kind), _limits()).generation.camera \
            is None  # a size alone does not make a camera


def test_pose_becomes_world_to_camera_extrinsics() -> None:
    """The camera 0.5 m above the world origin, looking straight down (OpenCV z forward = world -z):
    the origin is 0.5 m in front of it, at the principal point; the message round-trips."""
    from hoi_ros.nodes.conversions import camera_from_msg, camera_to_msg
    from hoi_ros.nodes.validation import validate_request

    s = math.sqrt(0.5)
    down = (1.0, 0.0, 0.0, 0.0)  # 180° about x: camera z -> world -z, camera y -> world -y
    req = _request(position=(0.0, 0.0, 0.5), quat_xyzw=down)
    cam = validate_request(req, _limits()).generation.camera
    assert (cam.width, cam.height) == (32, 24)
    np.testing.assert_allclose(cam.intrinsics, np.reshape(K, (3, 3)))
    np.testing.assert_allclose(cam.world_to_camera(np.zeros(3)), [0.0, 0.0, 0.5], atol=1e-12)
    uv, depth = cam.project(np.array([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0]]))
    np.testing.assert_allclose(uv[0], [15.5, 11.5])
    np.testing.assert_allclose(depth, [0.5, 0.5])
    assert uv[1, 0] > uv[0, 0]  # world +x is image right for this camera
    # Rotated by 90° about the optical axis, with a non-unit quaternion (normalised).
    req = _request(position=(0.2, -0.1, 0.4), quat_xyzw=(2 * s, 2 * s, 0.0, 0.0))
    cam = camera_from_msg(req.camera, req.camera_pose)
    np.testing.assert_allclose(cam.extrinsics[:3, :3] @ cam.extrinsics[:3, :3].T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(cam.world_to_camera([0.2, -0.1, 0.4]), 0.0, atol=1e-12)
    again = make_request("srv")
    camera_to_msg(cam, again.camera, again.camera_pose)
    back = camera_from_msg(again.camera, again.camera_pose)
    np.testing.assert_allclose(back.extrinsics, cam.extrinsics, atol=1e-12)
    np.testing.assert_array_equal(back.intrinsics, cam.intrinsics)


@pytest.mark.parametrize(("fields", "field", "text"), [
    ({"k": [math.nan, *K[1:]]}, "camera", "k contains NaN"),
    ({"k": [0.0, 0.0, 15.5, 0.0, 60.0, 11.5, 0.0, 0.0, 1.0]}, "camera", "focal lengths"),
    ({"k": [60.0, 0.0, 15.5, 0.0, -60.0, 11.5, 0.0, 0.0, 1.0]}, "camera", "focal lengths"),
    ({"k": [*K[:8], 2.0]}, "camera", "pinhole matrix"),
    ({"width": 0, "height": 0}, "camera", "width and height must be positive"),
    ({"width": 64, "height": 24}, "camera", "aspect ratio"),
    ({"quat_xyzw": (0.0, 0.0, 0.0, 0.0)}, "camera_pose", "zero quaternion"),
    ({"position": (math.nan, 0.0, 0.0)}, "camera_pose", "NaN"),
    ({"k": [0.0] * 9, "position": (0.0, 0.0, 1.0)}, "camera_pose", "given without camera.k"),
])
def test_bad_cameras_are_refused_by_field(fields: dict, field: str, text: str) -> None:
    from hoi_ros.nodes.validation import RequestError, validate_request

    for kind in ("srv", "action"):
        with pytest.raises(RequestError) as info:
            validate_request(_request(kind=kind, **fields), _limits())
        assert info.value.field == field and text in str(info.value), str(info.value)
        assert str(info.value).startswith(f"{field}: ")
