"""TF frames from poses: transforms, the camera's optical frame, object centroids."""

from __future__ import annotations

import numpy as np
import pytest
from ros_support import ros_available

pytestmark = pytest.mark.skipif(not ros_available(), reason="rclpy / interfaces not built")


def test_transform_round_trips_a_pose() -> None:
    from scipy.spatial.transform import Rotation

    from hoi_ros.nodes.frames import pose_matrix, transform

    m = np.eye(4)
    m[:3, :3] = Rotation.from_euler("xyz", [0.3, -0.2, 1.1]).as_matrix()
    m[:3, 3] = [0.1, -0.2, 0.3]
    msg = transform(m, "world", "hoi_right_wrist")
    assert (msg.header.frame_id, msg.child_frame_id) == ("world", "hoi_right_wrist")
    r, t = msg.transform.rotation, msg.transform.translation
    back = pose_matrix([t.x, t.y, t.z, r.w, r.x, r.y, r.z])  # the sim's [xyz, wxyz] layout
    np.testing.assert_allclose(back, m, atol=1e-12)


def test_camera_optical_frame_is_the_inverse_extrinsics() -> None:
    from hoi_ros.core.camera import Camera, look_at
    from hoi_ros.nodes.frames import camera_pose, optical_frame

    cam = Camera.from_fov(64, 48, 45.0, look_at(np.array([0.5, -0.4, 0.6]), np.zeros(3)))
    pose = camera_pose(cam)
    np.testing.assert_allclose(pose[:3, 3], [0.5, -0.4, 0.6], atol=1e-9)
    # REP-103 optical axes: z forward (towards the target), so the origin is straight ahead.
    ahead = pose[:3, :3] @ np.array([0.0, 0.0, 1.0])
    np.testing.assert_allclose(ahead, -pose[:3, 3] / np.linalg.norm(pose[:3, 3]), atol=1e-9)
    assert optical_frame("hoi_camera") == "hoi_camera_optical_frame"
    assert optical_frame("cam_optical_frame") == "cam_optical_frame"


def test_object_frames_at_label_centroids() -> None:
    from hoi_ros.nodes.frames import centroid_poses

    points = np.array([[0.0, 0, 0], [2, 0, 0], [0, 0, 4], [0, 0, 6]])
    poses = centroid_poses(points, np.array([0, 0, 1, 1]))
    np.testing.assert_allclose([p[:3, 3] for p in poses], [[1, 0, 0], [0, 0, 5]])
