"""MCAP recordings of generations read back by an independent decoder (mcap-ros2-support)."""

from __future__ import annotations

import numpy as np
import pytest
from ros_support import read_bag, ros_available

pytestmark = pytest.mark.skipif(not ros_available(), reason="rclpy / interfaces not built")


def _sequence():
    from hoi_ros.core.synthetic import reach_grasp_lift

    seq = reach_grasp_lift(num_frames=5, fps=10.0, image_size=(24, 32), num_object_points=8)
    return seq.with_video(seq.render_motion())


def test_a_recorded_generation_decodes_with_its_own_schemas(tmp_path) -> None:
    from hoi_ros.nodes.recording import message_definition, record_sequence

    seq = _sequence()
    path = record_sequence(tmp_path / "g.mcap", seq, "/robot1/hoi", "table", start_ns=10**9)
    got = read_bag(path)
    assert set(got) == {"/robot1/hoi/motion", "/robot1/hoi/generate/video", "/robot1/hoi/generate/camera_info",
                        "/tf", "/tf_static"}
    (_, motion), = got["/robot1/hoi/motion"]
    assert motion.num_frames == 5 and motion.header.frame_id == "table"
    np.testing.assert_allclose(np.reshape(motion.hand_joints, seq.hand_joints.shape), seq.hand_joints, atol=1e-6)
    video = got["/robot1/hoi/generate/video"]
    assert [t for t, _ in video] == [10**9 + k * 100_000_000 for k in range(5)]  # at the sequence's fps
    frame = video[2][1]
    assert (frame.height, frame.width, frame.encoding) == (24, 32, "rgb8")
    np.testing.assert_array_equal(np.frombuffer(bytes(frame.data), np.uint8).reshape(24, 32, 3), seq.video[2])
    assert len(got["/tf"]) == 5
    children = {t.child_frame_id for t in got["/tf"][0][1].transforms}
    assert children == {"hoi_right_wrist", "hoi_object_0"}
    assert got["/tf_static"][0][1].transforms[0].child_frame_id == "hoi_camera_optical_frame"
    # The schema carries every nested definition, as rosbag2 writes it.
    text = message_definition("sensor_msgs/msg/Image")
    assert "MSG: std_msgs/Header" in text and "MSG: builtin_interfaces/Time" in text
