"""Articulated objects: validation, forward kinematics, joint queries and the world-frame axis."""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pytest

from hoi_ros.core.articulation import Articulation, Joint


def translation(x: float, y: float = 0.0, z: float = 0.0) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, 3] = (x, y, z)
    return pose


def rot_z(angle: float) -> np.ndarray:
    pose = np.eye(4)
    c, s = np.cos(angle), np.sin(angle)
    pose[:2, :2] = [[c, -s], [s, c]]
    return pose


HINGE = Joint("hinge", "revolute", 0, 1, (0.0, 0.0, 1.0), (0.5, 0.0, 0.0))
DRAWER = Joint("slide", "prismatic", 0, 2, (1.0, 0.0, 0.0))


def cabinet(t: int = 4, root: np.ndarray | None = None, **kw) -> Articulation:
    """A cabinet: body (root), a door on a vertical hinge at x = 0.5, a drawer sliding along x."""
    states = np.stack([np.linspace(0, np.pi / 2, t), np.linspace(0, 0.3, t)], axis=1)
    roots = np.broadcast_to(np.eye(4) if root is None else root, (t, 4, 4))
    args = dict(object_name="cabinet", parts=("body", "door", "drawer"), joints=(HINGE, DRAWER),
                root_poses=roots, joint_states=states)
    args.update(kw)
    return Articulation.from_root_poses(**args)


def test_forward_kinematics_moves_each_part_about_its_joint() -> None:
    art = cabinet()
    assert art.part_poses.shape == (4, 3, 4, 4) and art.part_poses.dtype == np.float64
    # The door's far edge (1, 0, 0) swings a quarter turn about the hinge at (0.5, 0, 0).
    door = art.part_poses[-1, 1]
    np.testing.assert_allclose(door @ [1.0, 0.0, 0.0, 1.0], [0.5, 0.5, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(door @ [0.5, 0.0, 0.7, 1.0], [0.5, 0.0, 0.7, 1.0], atol=1e-12)  # on the axis
    # The drawer slides 0.3 m along x, without turning.
    np.testing.assert_allclose(art.part_poses[-1, 2], translation(0.3), atol=1e-12)
    # Frame 0: every joint at 0, every part at the root's pose.
    np.testing.assert_allclose(art.part_poses[0], np.broadcast_to(np.eye(4), (3, 4, 4)), atol=1e-12)
    assert np.abs(art.kinematic_residual()).max() < 1e-12


def test_a_chain_follows_its_parent() -> None:
    """A handle on the door: its joint (and axis) moves with the door."""
    handle = Joint("handle", "revolute", 1, 2, (1.0, 0.0, 0.0), (1.0, 0.0, 0.5))
    states = np.array([[0.0, 0.0], [0.0, np.pi / 2]])  # columns: handle, hinge
    art = Articulation.from_root_poses("cabinet", ("body", "door", "handle"), (handle, HINGE),
                                       np.broadcast_to(np.eye(4), (2, 4, 4)), states)
    origin, axis = art.axis_world("handle", 1)
    np.testing.assert_allclose(origin, [0.5, 0.5, 0.5], atol=1e-12)
    np.testing.assert_allclose(axis, [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(art.part_poses[1, 2], art.part_poses[1, 1], atol=1e-12)  # handle at 0


def test_joint_state_and_world_axis() -> None:
    root = translation(1.0, 2.0, 0.0) @ rot_z(np.pi / 2)
    art = cabinet(root=root)
    np.testing.assert_allclose(art.joint_state("hinge"), np.linspace(0, np.pi / 2, 4))
    np.testing.assert_array_equal(art.joint_state(1), art.joint_states[:, 1])
    # The hinge (vertical, at x = 0.5 in the object frame) seen from the world: the object stands
    # at (1, 2) turned a quarter turn, so the hinge is at (1, 2.5); a vertical axis stays vertical.
    origin, axis = art.axis_world("hinge", 2)
    np.testing.assert_allclose(origin, [1.0, 2.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(axis, [0.0, 0.0, 1.0], atol=1e-12)
    # The drawer's x axis turns with the object.
    _, axis = art.axis_world("slide", -1)
    np.testing.assert_allclose(axis, [0.0, 1.0, 0.0], atol=1e-12)
    with pytest.raises(ValueError, match=r"^joint: 'cabinet' has no joint 'lid'"):
        art.joint_state("lid")
    origins, axes = art.axis_world("hinge")  # every frame
    assert origins.shape == axes.shape == (4, 3)
    np.testing.assert_array_equal(origins[2], art.axis_world("hinge", 2)[0])
    np.testing.assert_allclose(art.axis_world("slide")[1], np.tile([0.0, 1.0, 0.0], (4, 1)), atol=1e-12)
    with pytest.raises(ValueError, match=r"^t:"):
        art.axis_world("hinge", 4)
    assert art.part_index("drawer") == 2 and art.joint_names == ("hinge", "slide")


def test_kinematic_residual_sees_inconsistent_poses() -> None:
    art = cabinet()
    poses = art.part_poses.copy()
    poses[2, 1, :3, 3] += 0.01
    moved = Articulation(art.object_name, art.parts, art.joints, art.joint_states, poses)
    residual = moved.kinematic_residual()
    assert residual[2, 0] == pytest.approx(0.01) and residual[[0, 1, 3]].max() < 1e-12


def test_a_rigid_object_has_one_part_and_no_joints() -> None:
    poses = np.stack([translation(0.1 * i) for i in range(3)])[:, None]
    art = Articulation("mug", ("mug",), (), np.zeros((3, 0)), poses)
    assert (art.num_parts, art.num_joints, art.num_frames) == (1, 0, 3)
    np.testing.assert_array_equal(art.part_poses[:, 0, 0, 3], [0.0, 0.1, 0.2])


def test_arrays_are_copied_and_read_only() -> None:
    states = np.zeros((2, 1))
    art = Articulation("box", ("base", "lid"), (HINGE,), states, np.broadcast_to(np.eye(4), (2, 2, 4, 4)),
                       np.array([0, 1, -1]))
    states[0, 0] = 1.0
    assert art.joint_states[0, 0] == 0.0
    for arr in (art.joint_states, art.part_poses, art.point_parts):
        with pytest.raises(ValueError):
            arr[...] = 0
    with pytest.raises(AttributeError):
        art.parts = ("a", "b")  # type: ignore[misc]
    assert art.point_parts.dtype == np.int16
    for back in (pickle.loads(pickle.dumps(art)), copy.deepcopy(art)):
        np.testing.assert_array_equal(back.point_parts, art.point_parts)
        assert not back.part_poses.flags.writeable and back.joints == art.joints


def test_dict_round_trip_through_json_is_exact() -> None:
    axis = np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)
    joint = Joint("j", "revolute", 0, 1, tuple(axis), (0.1, -0.2, 1 / 3))
    art = Articulation.from_root_poses("o", ("a", "b"), (joint,), np.broadcast_to(np.eye(4), (3, 4, 4)),
                                       np.array([[0.1], [0.2], [0.3]]))
    spec = json.loads(json.dumps(art.to_dict()))
    back = Articulation.from_dict(spec, art.joint_states, art.part_poses, art.point_parts)
    assert back.joints == art.joints and back.parts == art.parts and back.object_name == "o"
    assert back.joints[0].axis == tuple(axis.tolist())  # bit for bit


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"type": "ball"}, "type"),
        ({"axis": (0.0, 0.0, 2.0)}, "axis"),
        ({"axis": (0.0, 0.0, float("nan"))}, "axis"),
        ({"axis": (0.0, 1.0)}, "axis"),
        ({"origin": (0.0, float("inf"), 0.0)}, "origin"),
        ({"parent": -1}, "parent"),
        ({"child": 0}, "child"),  # parent == child
        ({"name": ""}, "name"),
    ],
)
def test_invalid_joint_names_the_field(kwargs: dict, field: str) -> None:
    args = dict(name="hinge", type="revolute", parent=0, child=1, axis=(0.0, 0.0, 1.0), origin=(0.0, 0.0, 0.0))
    args.update(kwargs)
    with pytest.raises(ValueError, match=f"^{field}:"):
        Joint(**args)


def test_axis_within_tolerance_is_kept_as_given() -> None:
    axis = (0.0, 0.0, 1.0 + 5e-7)
    assert Joint("j", "prismatic", 0, 1, axis).axis == axis


def _poses(t: int, p: int) -> np.ndarray:
    return np.broadcast_to(np.eye(4), (t, p, 4, 4)).copy()


def _bad_rotation() -> np.ndarray:
    poses = _poses(3, 2)
    poses[1, 1, 0, 0] = 2.0
    return poses


def _mirror() -> np.ndarray:
    poses = _poses(3, 2)
    poses[2, 0, 0, 0] = -1.0
    return poses


def _bad_last_row() -> np.ndarray:
    poses = _poses(3, 2)
    poses[0, 0, 3, 0] = 0.5
    return poses


def _nan_pose() -> np.ndarray:
    poses = _poses(3, 2)
    poses[0, 1, 0, 3] = np.nan
    return poses


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"object_name": ""}, "object_name"),
        ({"parts": ()}, "parts"),
        ({"parts": ("a", "a")}, "parts"),
        ({"joints": ()}, "joints"),  # 2 parts need 1 joint
        ({"joints": ("hinge",)}, r"joints\[0\]"),
        ({"joints": (Joint("j", "revolute", 0, 2, (0, 0, 1)),)}, r"joints\[0\]"),  # child out of range
        ({"joint_states": np.zeros((3, 2))}, "joint_states"),
        ({"joint_states": np.zeros((0, 1))}, "joint_states"),
        ({"joint_states": np.full((3, 1), np.nan)}, "joint_states"),
        ({"joint_states": np.zeros((3, 1), dtype=bool)}, "joint_states"),
        ({"part_poses": _poses(2, 2)}, "part_poses"),  # frame count differs from joint_states
        ({"part_poses": _poses(3, 3)}, "part_poses"),
        ({"part_poses": _nan_pose()}, "part_poses"),
        ({"part_poses": _bad_rotation()}, "part_poses"),
        ({"part_poses": _mirror()}, "part_poses"),
        ({"part_poses": _bad_last_row()}, "part_poses"),
        ({"point_parts": np.array([0, 2])}, "point_parts"),
        ({"point_parts": np.array([-2, 0])}, "point_parts"),
        ({"point_parts": np.zeros((2, 2), dtype=int)}, "point_parts"),
        ({"point_parts": np.array([0.5, 1.0])}, "point_parts"),
    ],
)
def test_invalid_articulation_names_the_field(override: dict, field: str) -> None:
    args = dict(object_name="box", parts=("base", "lid"), joints=(HINGE,), joint_states=np.zeros((3, 1)),
                part_poses=_poses(3, 2), point_parts=np.array([0, 1, -1]))
    args.update(override)
    with pytest.raises(ValueError, match=f"^{field}"):
        Articulation(**args)


def test_joints_must_make_a_tree_rooted_at_part_zero() -> None:
    poses = _poses(2, 3)
    states = np.zeros((2, 2))
    two_parents = (Joint("a", "revolute", 0, 1, (0, 0, 1)), Joint("b", "revolute", 2, 1, (0, 0, 1)))
    with pytest.raises(ValueError, match=r"^joints\[1\]\.child: part 1 already has a parent"):
        Articulation("o", ("p0", "p1", "p2"), two_parents, states, poses)
    to_root = (Joint("a", "revolute", 1, 0, (0, 0, 1)), Joint("b", "revolute", 0, 2, (0, 0, 1)))
    with pytest.raises(ValueError, match=r"^joints\[0\]\.child: part 0 is the root"):
        Articulation("o", ("p0", "p1", "p2"), to_root, states, poses)
    twins = (Joint("a", "revolute", 0, 1, (0, 0, 1)), Joint("a", "revolute", 0, 2, (0, 0, 1)))
    with pytest.raises(ValueError, match=r"^joints: names must be distinct"):
        Articulation("o", ("p0", "p1", "p2"), twins, states, poses)
    # Parts 1 and 2 hang off each other but not off the root.
    cycle = (Joint("a", "revolute", 2, 1, (0, 0, 1)), Joint("b", "revolute", 1, 2, (0, 0, 1)))
    with pytest.raises(ValueError, match=r"^joints: parts \[1, 2\] are not connected to the root"):
        Articulation("o", ("p0", "p1", "p2"), cycle, states, poses)
