"""HOISequence <-> hoi_ros/HOIMotion round trips: lossless for joints, hand sides, points, labels,
object names, camera, fps, prompt and articulations, also through DDS serialisation."""

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
    left = HOISequence(seq.hand_joints, seq.object_points, seq.camera, seq.fps, hand_sides=("left",))
    msg = sequence_to_motion_msg(left, "world")
    assert msg.joint_names[0] == "left_wrist" and list(msg.hand_sides) == ["left"]
    assert motion_msg_to_sequence(msg).hand_sides == ("left",)
    # A sender that fills joint_names only (as before hand_sides was in the message).
    msg.hand_sides = []
    assert motion_msg_to_sequence(msg).hand_sides == ("left",)
    msg.joint_names = []
    msg.hand_sides = ["left"]
    assert motion_msg_to_sequence(msg).hand_sides == ("left",)
    msg = sequence_to_motion_msg(left, "world")
    msg.hand_sides = ["right"]
    with pytest.raises(ValueError, match=r"hand_sides: .* disagree"):
        motion_msg_to_sequence(msg)
    msg = sequence_to_motion_msg(left, "world")
    msg.joint_names = ["wrist"] + list(msg.joint_names[1:])
    with pytest.raises(ValueError, match="joint_names"):
        motion_msg_to_sequence(msg)
    msg = sequence_to_motion_msg(left, "world")
    msg.joint_names, msg.hand_sides = [], ["up"]
    with pytest.raises(ValueError, match=r"^hand_sides"):
        motion_msg_to_sequence(msg)


def test_a_metadata_hand_side_set_after_construction_still_reaches_the_message() -> None:
    """Old callers wrote ``seq.metadata["hand_sides"]``; the message still says what they meant."""
    from hoi_ros.nodes.conversions import sequence_to_motion_msg

    seq = _sequence()
    seq.metadata["hand_sides"] = ["left"]
    with pytest.warns(DeprecationWarning):
        msg = sequence_to_motion_msg(seq, "world")
    assert list(msg.hand_sides) == ["left"] and msg.joint_names[0] == "left_wrist"


def _articulated():
    """Two articulated objects (a cabinet with a door and a drawer, a rigid mug) and a spoon."""
    from dataclasses import replace

    from hoi_ros.core.articulation import Articulation, Joint

    seq = _sequence(num_hands=2)
    t, k = seq.num_frames, seq.num_object_points
    rng = np.random.default_rng(5)
    labels = (np.arange(k) % 3).astype(np.uint8)  # 0 cabinet, 1 mug, 2 spoon
    axis = rng.normal(size=3)
    door = Joint("door_hinge", "revolute", 0, 1, tuple(axis / np.linalg.norm(axis)), tuple(rng.normal(size=3)))
    drawer = Joint("drawer_slide", "prismatic", 0, 2, (0.0, 0.6, 0.8), (0.0, 0.0, 0.0))
    roots = np.broadcast_to(np.eye(4), (t, 4, 4)).copy()
    roots[:, :3, 3] = rng.normal(size=(t, 3))
    parts = np.where(labels == 0, np.arange(k) % 3, -1)
    cabinet = Articulation.from_root_poses("cabinet", ("body", "door", "drawer"), (door, drawer), roots,
                                           rng.normal(size=(t, 2)), parts)
    mug = Articulation("mug", ("mug",), (), np.zeros((t, 0)), roots[:, None])
    return replace(seq, object_point_labels=labels, object_names=("cabinet", "mug", "spoon"),
                   hand_sides=("left", "right"), articulations=(cabinet, mug))


def test_articulations_round_trip_exactly() -> None:
    from hoi_ros.msg import HOIMotion
    from rclpy.serialization import deserialize_message, serialize_message

    from hoi_ros.nodes.conversions import motion_msg_to_sequence, sequence_to_motion_msg

    seq = _articulated()
    msg = sequence_to_motion_msg(seq, "world")
    assert list(msg.articulated_objects) == ["cabinet", "mug"]
    assert list(msg.articulation_num_parts) == [3, 1] and list(msg.articulation_num_joints) == [2, 0]
    assert list(msg.articulation_joint_types) == ["revolute", "prismatic"]
    assert len(msg.articulation_joint_states) == 7 * 2 and len(msg.articulation_part_poses) == 7 * 4 * 16
    assert list(msg.articulation_num_point_parts) == [31, 0]
    wire = deserialize_message(serialize_message(msg), HOIMotion)
    for m in (msg, wire):
        back = motion_msg_to_sequence(m)
        assert back.hand_sides == ("left", "right") and back.object_names == ("cabinet", "mug", "spoon")
        np.testing.assert_array_equal(back.object_point_labels, seq.object_point_labels)
        assert len(back.articulations) == 2
        for a, b in zip(seq.articulations, back.articulations, strict=True):
            assert (b.object_name, b.parts, b.joints) == (a.object_name, a.parts, a.joints)  # axes bit for bit
            for name in ("joint_states", "part_poses", "point_parts"):
                got, want = getattr(b, name), getattr(a, name)
                assert got.dtype == want.dtype and np.array_equal(got, want), name


def test_a_motion_without_articulation_fields_still_converts() -> None:
    """Senders that leave the new fields empty get the defaults."""
    from hoi_ros.msg import HOIMotion

    from hoi_ros.nodes.conversions import motion_msg_to_sequence, sequence_to_motion_msg

    full = sequence_to_motion_msg(_sequence(), "world")
    msg = HOIMotion()
    for name in ("header", "fps", "num_frames", "num_joints", "num_object_points", "joint_names", "hand_joints",
                 "object_points", "object_point_labels", "image_width", "image_height", "camera_intrinsics",
                 "camera_extrinsics", "prompt"):
        setattr(msg, name, getattr(full, name))
    back = motion_msg_to_sequence(msg)
    assert back.object_names == ("tool", "target") and back.articulations == () and back.hand_sides == ("right",)


def _set_item(field: str, index: int, value):
    def mutate(m) -> None:
        values = list(getattr(m, field))
        values[index] = value
        setattr(m, field, values)

    return mutate


@pytest.mark.parametrize(
    ("field", "mutate"),
    [
        ("articulation_num_parts", lambda m: setattr(m, "articulation_num_parts", [3])),
        ("articulation_num_joints", lambda m: setattr(m, "articulation_num_joints", [2, 0, 1])),
        ("articulation_part_names", lambda m: setattr(m, "articulation_part_names", ["a"])),
        ("articulation_joint_names", lambda m: setattr(m, "articulation_joint_names", ["a"])),
        ("articulation_joint_types", lambda m: setattr(m, "articulation_joint_types", ["revolute"])),
        ("articulation_joint_types", _set_item("articulation_joint_types", 1, "ball")),
        ("articulation_joint_parents", lambda m: setattr(m, "articulation_joint_parents", [0])),
        (r"articulated_objects\[0\] \('cabinet'\): joints\[1\]", _set_item("articulation_joint_children", 1, 7)),
        ("articulation_joint_axes", lambda m: setattr(m, "articulation_joint_axes", [0.0, 0.0, 1.0])),
        ("articulation_joint_axes", _set_item("articulation_joint_axes", 5, 3.0)),
        ("articulation_joint_origins", _set_item("articulation_joint_origins", 0, float("nan"))),
        ("articulation_joint_states", lambda m: setattr(m, "articulation_joint_states", [0.0] * 13)),
        ("articulation_part_poses", lambda m: setattr(m, "articulation_part_poses", [0.0] * 16)),
        ("part_poses", _set_item("articulation_part_poses", 0, 2.0)),
        ("articulation_num_point_parts", lambda m: setattr(m, "articulation_num_point_parts", [5, 0])),
        ("articulation_point_parts", lambda m: setattr(m, "articulation_point_parts", [0] * 30)),
        (r"articulations\[0\]\.point_parts", _set_item("articulation_point_parts", 0, -1)),
        (r"articulations\[1\]\.object_name", _set_item("articulated_objects", 1, "cup")),
        ("object_point_labels", lambda m: setattr(m, "object_names", ["cabinet", "mug"])),
        ("object_names", lambda m: setattr(m, "object_names", ["cabinet", "mug", "mug"])),
    ],
)
def test_malformed_articulation_names_the_field(field: str, mutate) -> None:
    from hoi_ros.nodes.conversions import motion_msg_to_sequence, sequence_to_motion_msg

    msg = sequence_to_motion_msg(_articulated(), "world")
    mutate(msg)
    with pytest.raises(ValueError, match=field):
        motion_msg_to_sequence(msg)
