"""Articulated objects: parts linked by revolute or prismatic joints, with per-frame state.

An :class:`Articulation` describes one object of a :class:`~hoi_ros.core.sequence.HOISequence`
(the object named ``object_name``, i.e. the points whose label is that name's index in
``HOISequence.object_names``) as ArtHOI §3 models it: the object is split into parts (§3.1, the
static and the moving parts found by flow-based segmentation), each part moves rigidly with an
SE(3) transform per frame (§3.2, ``T^d(t)``), and parts are linked by one-degree-of-freedom joints.

Conventions (URDF-like):

- Part 0 is the root (the base). Every other part is the child of exactly one joint, so the parts
  form a tree and there are ``num_parts - 1`` joints. A rigid object (PAM's objects with a pose) is
  an articulation with one part and no joints: ``part_poses[:, 0]`` is its pose.
- The *object frame* is the root part's frame in the rest configuration (all joint states 0). At
  rest every part's frame coincides with the object frame, and joint axes and origins are given in
  it.
- ``part_poses[t, p]`` (4x4, metres) maps a point of part ``p`` from the object frame at rest to
  the world frame at frame ``t``.
- A joint is fixed to its parent part: ``part_poses[t, child] = part_poses[t, parent] @
  joint_transform(joint, joint_states[t, j])``, a rotation by the angle (radians, right-handed
  about the axis) through the origin for a revolute joint, a slide along the axis (metres) for a
  prismatic one. :meth:`Articulation.from_root_poses` builds the part poses that way;
  :meth:`Articulation.kinematic_residual` measures how far given part poses are from it (poses
  from a reconstruction need not be exactly consistent, so construction does not demand it).

Everything is validated on construction; a malformed value raises ``ValueError`` naming the field.
This module needs numpy only (scipy is imported where rotations are built).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

JOINT_TYPES: tuple[str, ...] = ("revolute", "prismatic")
AXIS_NORM_TOLERANCE = 1e-6  # |‖axis‖ - 1| allowed (axes are kept as given, so round trips are exact)
ROTATION_TOLERANCE = 1e-4  # max |R^T R - I| allowed in a part pose
ROOT_PART = 0


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, copy=True)
    arr.setflags(write=False)
    return arr


def _vector3(value: Any, name: str) -> tuple[float, float, float]:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected 3 numbers, got {value!r}") from exc
    if arr.shape != (3,):
        raise ValueError(f"{name}: expected 3 numbers, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or Inf ({arr.tolist()})")
    return (float(arr[0]), float(arr[1]), float(arr[2]))


def _name(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: expected a non-empty string, got {value!r}")
    return value


@dataclass(frozen=True)
class Joint:
    """One joint of an articulated object (see the module docstring for the conventions).

    ``parent`` and ``child`` are part indices; ``axis`` is a unit 3-vector and ``origin`` a point on
    the axis (metres), both in the object frame.
    """

    name: str
    type: str  # "revolute" | "prismatic"
    parent: int
    child: int
    axis: tuple[float, float, float]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        _name(self.name, "name")
        if self.type not in JOINT_TYPES:
            raise ValueError(f"type: expected one of {list(JOINT_TYPES)}, got {self.type!r}")
        for key in ("parent", "child"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise ValueError(f"{key}: expected a part index (integer >= 0), got {value!r}")
            object.__setattr__(self, key, int(value))
        if self.parent == self.child:
            raise ValueError(f"child: a joint cannot link part {self.child} to itself")
        axis = _vector3(self.axis, "axis")
        norm = float(np.linalg.norm(axis))
        if abs(norm - 1.0) > AXIS_NORM_TOLERANCE:
            raise ValueError(f"axis: must be a unit vector (norm {norm:.6g}, tolerance {AXIS_NORM_TOLERANCE})")
        object.__setattr__(self, "axis", axis)
        object.__setattr__(self, "origin", _vector3(self.origin, "origin"))

    def transform(self, state: float | np.ndarray) -> np.ndarray:
        """The child's motion relative to the parent at joint state(s) ``state``: ``[..., 4, 4]``."""
        q = np.asarray(state, dtype=np.float64)
        axis = np.asarray(self.axis)
        out = np.broadcast_to(np.eye(4), (*q.shape, 4, 4)).copy()
        if self.type == "prismatic":
            out[..., :3, 3] = q[..., None] * axis
            return out
        from scipy.spatial.transform import Rotation

        rot = Rotation.from_rotvec(q.reshape(-1, 1) * axis).as_matrix().reshape(*q.shape, 3, 3)
        origin = np.asarray(self.origin)
        out[..., :3, :3] = rot
        out[..., :3, 3] = origin - rot @ origin
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (floats round-trip exactly through ``json``)."""
        return {"name": self.name, "type": self.type, "parent": self.parent, "child": self.child,
                "axis": list(self.axis), "origin": list(self.origin)}


@dataclass(frozen=True, eq=False)
class Articulation:
    """An articulated object of a sequence: parts, joints and their per-frame state (ArtHOI §3).

    Fields:
        object_name: name of the object (one of ``HOISequence.object_names``) whose points these are.
        parts: part names; part 0 is the root (see the module docstring).
        joints: ``num_parts - 1`` joints making the parts a tree rooted at part 0.
        joint_states: ``[T, num_joints]`` float64, radians (revolute) or metres (prismatic).
        part_poses: ``[T, num_parts, 4, 4]`` float64, object frame at rest -> world at frame t.
        point_parts: ``[K]`` int16, the part index of each of the sequence's object points, -1 for
            points of other objects (checked against the labels by ``HOISequence``); empty (the
            default) when the points are not assigned to parts.

    The arrays are copied and made read-only.
    """

    object_name: str
    parts: tuple[str, ...]
    joints: tuple[Joint, ...]
    joint_states: np.ndarray
    part_poses: np.ndarray
    point_parts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))

    def __post_init__(self) -> None:
        _name(self.object_name, "object_name")
        parts = tuple(self.parts) if isinstance(self.parts, list | tuple) else None
        if not parts:
            raise ValueError(f"parts: expected a non-empty list of part names, got {self.parts!r}")
        for i, part in enumerate(parts):
            _name(part, f"parts[{i}]")
        if len(set(parts)) != len(parts):
            raise ValueError(f"parts: names must be distinct, got {list(parts)}")
        object.__setattr__(self, "parts", parts)
        self._check_joints()
        self._check_states()
        self._check_poses()
        self._check_point_parts()

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickling (and ``copy``): numpy does not keep the read-only flag, so set it again."""
        self.__dict__.update(state)
        for name in ("joint_states", "part_poses", "point_parts"):
            getattr(self, name).setflags(write=False)

    # ----------------------------------------------------------------- validation
    def _check_joints(self) -> None:
        joints = tuple(self.joints) if isinstance(self.joints, list | tuple) else None
        if joints is None:
            raise ValueError(f"joints: expected a list of Joint, got {type(self.joints).__name__}")
        for i, joint in enumerate(joints):
            if not isinstance(joint, Joint):
                raise ValueError(f"joints[{i}]: expected a Joint, got {type(joint).__name__}")
        p = len(self.parts)
        if len(joints) != p - 1:
            raise ValueError(f"joints: {p} parts need {p - 1} joints (one per non-root part), got {len(joints)}")
        names = [j.name for j in joints]
        if len(set(names)) != len(names):
            raise ValueError(f"joints: names must be distinct, got {names}")
        children = set()
        for i, joint in enumerate(joints):
            if joint.parent >= p or joint.child >= p:
                raise ValueError(f"joints[{i}]: parent {joint.parent} / child {joint.child} out of range for {p} parts")
            if joint.child == ROOT_PART:
                raise ValueError(f"joints[{i}].child: part {ROOT_PART} is the root and has no parent joint")
            if joint.child in children:
                raise ValueError(f"joints[{i}].child: part {joint.child} already has a parent joint")
            children.add(joint.child)
        self._joint_order(joints)  # raises on a cycle
        object.__setattr__(self, "joints", joints)

    @staticmethod
    def _joint_order(joints: tuple[Joint, ...]) -> list[int]:
        """Joint indices ordered so that each joint's parent part is placed before it."""
        placed, order, remaining = {ROOT_PART}, [], list(range(len(joints)))
        while remaining:
            ready = [i for i in remaining if joints[i].parent in placed]
            if not ready:
                raise ValueError(f"joints: parts {sorted({joints[i].child for i in remaining})} are not "
                                 f"connected to the root part {ROOT_PART}")
            for i in ready:
                placed.add(joints[i].child)
                order.append(i)
                remaining.remove(i)
        return order

    def _check_states(self) -> None:
        states = np.asarray(self.joint_states)
        n = len(self.joints)
        if not (np.issubdtype(states.dtype, np.floating) or np.issubdtype(states.dtype, np.integer)):
            raise ValueError(f"joint_states: expected a real number array, got dtype {states.dtype}")
        if states.ndim != 2 or states.shape[1] != n or states.shape[0] < 1:
            raise ValueError(f"joint_states: expected shape [T, {n}] with T >= 1, got {states.shape}")
        if not np.all(np.isfinite(states)):
            bad = np.argwhere(~np.isfinite(states))[0].tolist()
            raise ValueError(f"joint_states: contains NaN or Inf (first at index {bad})")
        object.__setattr__(self, "joint_states", _frozen(states.astype(np.float64)))

    def _check_poses(self) -> None:
        poses = np.asarray(self.part_poses)
        t, p = self.joint_states.shape[0], len(self.parts)
        if not (np.issubdtype(poses.dtype, np.floating) or np.issubdtype(poses.dtype, np.integer)):
            raise ValueError(f"part_poses: expected a real number array, got dtype {poses.dtype}")
        if poses.shape != (t, p, 4, 4):
            raise ValueError(f"part_poses: expected shape ({t}, {p}, 4, 4) (frames of joint_states, parts), "
                             f"got {poses.shape}")
        if not np.all(np.isfinite(poses)):
            bad = np.argwhere(~np.isfinite(poses))[0].tolist()
            raise ValueError(f"part_poses: contains NaN or Inf (first at index {bad})")
        poses = poses.astype(np.float64)
        if np.abs(poses[..., 3, :] - np.array([0.0, 0.0, 0.0, 1.0])).max() > 1e-9:
            raise ValueError("part_poses: the last row of each pose must be [0, 0, 0, 1]")
        rot = poses[..., :3, :3]
        err = np.abs(np.swapaxes(rot, -1, -2) @ rot - np.eye(3)).max(axis=(-1, -2))
        det = np.linalg.det(rot)
        bad = np.argwhere((err > ROTATION_TOLERANCE) | (det <= 0))
        if bad.size:
            raise ValueError(f"part_poses: not a rotation at [frame, part] {bad[0].tolist()} "
                             f"(|R^T R - I| = {err[tuple(bad[0])]:.3g}, det = {det[tuple(bad[0])]:.3g})")
        object.__setattr__(self, "part_poses", _frozen(poses))

    def _check_point_parts(self) -> None:
        idx = np.asarray(self.point_parts)
        if idx.ndim != 1:
            raise ValueError(f"point_parts: expected shape [K], got {idx.shape}")
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            if not np.issubdtype(idx.dtype, np.floating) or not np.array_equal(idx, np.round(idx)):
                raise ValueError(f"point_parts: expected integers, got dtype {idx.dtype}")
        if idx.size and (idx.min() < -1 or idx.max() >= len(self.parts)):
            raise ValueError(f"point_parts: values must be -1 (another object's point) or a part index "
                             f"< {len(self.parts)}, got range [{idx.min()}, {idx.max()}]")
        object.__setattr__(self, "point_parts", _frozen(idx.astype(np.int16)))

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_root_poses(cls, object_name: str, parts: tuple[str, ...] | list[str],
                        joints: tuple[Joint, ...] | list[Joint], root_poses: np.ndarray, joint_states: np.ndarray,
                        point_parts: np.ndarray | None = None) -> Articulation:
        """Build the part poses by forward kinematics from the root's ``[T, 4, 4]`` world poses."""
        proto = cls(object_name, parts, joints, joint_states,
                    np.broadcast_to(np.eye(4), (np.asarray(joint_states).shape[0], len(parts), 4, 4)),
                    np.zeros(0, dtype=np.int16) if point_parts is None else point_parts)
        root = np.asarray(root_poses, dtype=np.float64)
        if root.shape != (proto.num_frames, 4, 4):
            raise ValueError(f"root_poses: expected shape ({proto.num_frames}, 4, 4), got {root.shape}")
        return cls(proto.object_name, proto.parts, proto.joints, proto.joint_states,
                   proto.forward_kinematics(root), proto.point_parts)

    def forward_kinematics(self, root_poses: np.ndarray, joint_states: np.ndarray | None = None) -> np.ndarray:
        """Part poses ``[T, P, 4, 4]`` from root poses ``[T, 4, 4]`` and joint states (default: ours)."""
        states = self.joint_states if joint_states is None else np.asarray(joint_states, dtype=np.float64)
        root = np.asarray(root_poses, dtype=np.float64)
        out = np.empty((root.shape[0], self.num_parts, 4, 4))
        out[:, ROOT_PART] = root
        for j in self._joint_order(self.joints):
            joint = self.joints[j]
            out[:, joint.child] = out[:, joint.parent] @ joint.transform(states[:, j])
        return out

    def kinematic_residual(self) -> np.ndarray:
        """``[T, num_joints]``: max abs difference between each child's pose and the one the joint
        state implies from its parent's pose (0 for poses built by :meth:`from_root_poses`)."""
        out = np.zeros((self.num_frames, self.num_joints))
        for j, joint in enumerate(self.joints):
            implied = self.part_poses[:, joint.parent] @ joint.transform(self.joint_states[:, j])
            out[:, j] = np.abs(implied - self.part_poses[:, joint.child]).max(axis=(-1, -2))
        return out

    # ----------------------------------------------------------------- queries
    @property
    def num_frames(self) -> int:
        return int(self.joint_states.shape[0])

    @property
    def num_parts(self) -> int:
        return len(self.parts)

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    def joint_index(self, joint: str | int) -> int:
        """Index of a joint given by name or index; ValueError if there is none."""
        if isinstance(joint, str):
            if joint not in self.joint_names:
                raise ValueError(f"joint: {self.object_name!r} has no joint {joint!r} "
                                 f"(its joints: {list(self.joint_names)})")
            return self.joint_names.index(joint)
        if not 0 <= int(joint) < self.num_joints:
            raise ValueError(f"joint: index {joint} out of range for {self.num_joints} joints")
        return int(joint)

    def part_index(self, part: str | int) -> int:
        """Index of a part given by name or index; ValueError if there is none."""
        if isinstance(part, str):
            if part not in self.parts:
                raise ValueError(f"part: {self.object_name!r} has no part {part!r} (its parts: {list(self.parts)})")
            return self.parts.index(part)
        if not 0 <= int(part) < self.num_parts:
            raise ValueError(f"part: index {part} out of range for {self.num_parts} parts")
        return int(part)

    def joint_state(self, joint: str | int) -> np.ndarray:
        """``[T]``: the joint's angle (radians, revolute) or slide (metres, prismatic) per frame."""
        return self.joint_states[:, self.joint_index(joint)]

    def axis_world(self, joint: str | int, t: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(origin, axis)`` of a joint in world coordinates at frame ``t``: ``[3]`` each, or
        ``[T, 3]`` each for every frame when ``t`` is None. The axis moves with the parent part."""
        j = self.joints[self.joint_index(joint)]
        if t is not None and not -self.num_frames <= t < self.num_frames:
            raise ValueError(f"t: frame {t} out of range for {self.num_frames} frames")
        pose = self.part_poses[:, j.parent] if t is None else self.part_poses[t, j.parent]
        rot, shift = pose[..., :3, :3], pose[..., :3, 3]
        return rot @ np.asarray(j.origin) + shift, rot @ np.asarray(j.axis)

    def to_dict(self) -> dict[str, Any]:
        """The non-array fields, JSON-ready (the arrays are saved beside them)."""
        return {"object_name": self.object_name, "parts": list(self.parts),
                "joints": [j.to_dict() for j in self.joints]}

    @classmethod
    def from_dict(cls, spec: dict[str, Any], joint_states: np.ndarray, part_poses: np.ndarray,
                  point_parts: np.ndarray) -> Articulation:
        """Inverse of :meth:`to_dict` plus the arrays."""
        joints = tuple(Joint(j["name"], j["type"], j["parent"], j["child"], tuple(j["axis"]), tuple(j["origin"]))
                       for j in spec["joints"])
        return cls(spec["object_name"], tuple(spec["parts"]), joints, joint_states, part_poses, point_parts)
