"""HOISequence <-> hoi_ros/HOIMotion round trips (issue #3: lossless for joints, points, labels,
camera, fps and prompt), also through DDS serialisation."""

from __future__ import annotations

import numpy as np
import pytest
from ros_support import ros_available

pytestmark = pytest.mark.skipif(not ros_available(), reason="rclpy / hoi_ros interfaces not built")


def _sequence(num_hands: int = 1):
    from hoi_ros.core.synthetic import reach_grasp_lift

    seq = reach_grasp_lift(num_frames=7, image_size=(48, 64), num_object_points=31)
    rng = np.random.default_rng(0)
    joints = seq.hand_joints
    if num_hands == 2:
        joints = np.concatenate([joints, joints + 0.3], axis=1)
    # Values with full float32 mantissas, so any precision loss would show.
    joints = (joints + rng.normal(0, 1e-3, joints.shape)).astype(np.float32)
    labels = (np.arange(seq.num_object_points) % 2).astype(np.uint8)
    from dataclasses import replace

    return replace(seq, hand_joints=joints, object_point_labels=labels, fps=12.5,
                   prompt="grasp the mug — and lift it", metadata={})


@pytest.mark.parametrize("num_hands", [1, 2])
def test_sequence_motion_round_trip_is_lossless(num_hands: int) -> None:
    from hoi_ros.msg import HOIMotion
    from rclpy.serialization import deserialize_message, serialize_message

    from hoi_ros.nodes.conversions import motion_msg_to_sequence, sequence_to_motion_msg

    seq = _sequence(num_hands)
    msg = sequence_to_motion_msg(seq, frame_id="world")
    assert msg.header.frame_id == "world"
    assert (msg.num_frames, msg.num_joints, msg.num_object_points) == (7, 21 * num_hands, 31)
    assert list(msg.joint_names) == seq.joint_names
    # Through the wire format too: what a subscriber gets.
    wire = deserialize_message(serialize_message(msg), HOIMotion)
    for m in (msg, wire):
        back = motion_msg_to_sequence(m)
        assert back.hand_joints.dtype == np.float32
        np.testing.assert_array_equal(back.hand_joints, seq.hand_joints)
        np.testing.assert_array_equal(back.object_points, seq.object_points)
        np.testing.assert_array_equal(back.object_point_labels, seq.object_point_labels)
        np.testing.assert_array_equal(back.camera.intrinsics, seq.camera.intrinsics)
        np.testing.assert_array_equal(back.camera.extrinsics, seq.camera.extrinsics)
        assert (back.camera.width, back.camera.height) == (64, 48)
        assert back.fps == seq.fps
        assert back.prompt == seq.prompt
        assert back.video is None


def test_stamp_is_kept() -> None:
    from builtin_interfaces.msg import Time

    from hoi_ros.nodes.conversions import sequence_to_motion_msg

    msg = sequence_to_motion_msg(_sequence(), "map", stamp=Time(sec=12, nanosec=34))
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 34)


def test_empty_labels_mean_all_tool() -> None:
    import array

    from hoi_ros.nodes.conversions import motion_msg_to_sequence, sequence_to_motion_msg

    msg = sequence_to_motion_msg(_sequence(), "world")
    msg.object_point_labels = array.array("B")
    assert not motion_msg_to_sequence(msg).object_point_labels.any()


@pytest.mark.parametrize(
    ("field", "mutate"),
    [
        ("hand_joints", lambda m: setattr(m, "num_joints", 20)),
        ("object_points", lambda m: setattr(m, "num_object_points", 30)),
        ("num_frames", lambda m: setattr(m, "num_frames", 0)),
        ("object_point_labels", lambda m: setattr(m, "object_point_labels", bytes([0, 1, 0]))),
        ("joint_names", lambda m: setattr(m, "joint_names", ["a"])),
        ("fps", lambda m: setattr(m, "fps", 0.0)),
        ("camera.intrinsics", lambda m: setattr(m, "camera_intrinsics", np.zeros(9))),
    ],
)
def test_malformed_motion_names_the_field(field: str, mutate) -> None:
    from hoi_ros.nodes.conversions import motion_msg_to_sequence, sequence_to_motion_msg

    msg = sequence_to_motion_msg(_sequence(), "world")
    mutate(msg)
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        motion_msg_to_sequence(msg)


def test_hand_sides_round_trip_and_bad_joint_names() -> None:
    from hoi_ros.core.sequence import HOISequence
    from hoi_ros.core.synthetic import reach_grasp_lift
    from hoi_ros.nodes.conversions import motion_msg_to_sequence, sequence_to_motion_msg

    seq = reach_grasp_lift(num_frames=3, image_size=(16, 24))
    left = HOISequence(seq.hand_joints, seq.object_points, seq.camera, seq.fps, metadata={"hand_sides": ["left"]})
    msg = sequence_to_motion_msg(left, "world")
    assert msg.joint_names[0] == "left_wrist"
    assert motion_msg_to_sequence(msg).hand_sides == ("left",)
    msg.joint_names = ["wrist"] + list(msg.joint_names[1:])
    with pytest.raises(ValueError, match="joint_names"):
        motion_msg_to_sequence(msg)
    with pytest.raises(ValueError, match=r"metadata\.hand_sides"):
        HOISequence(seq.hand_joints, seq.object_points, seq.camera, seq.fps, metadata={"hand_sides": ["up"]})
