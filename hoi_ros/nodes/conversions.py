"""``HOISequence`` <-> ``hoi_ros/HOIMotion``: the 3D motion over ROS, losslessly.

The message carries everything of a sequence except its video and metadata (free-form JSON):
joints and hand sides, object points, their labels and object names, camera, fps, prompt, and the
articulated objects (parts, joints with axes and origins in the object frame, per-frame joint
states and part poses, the part of each point; ArtHOI §3). float32 arrays are copied bit for bit,
the camera matrices and articulation values as float64, so a round trip is exact.

Array fields are filled through ``array.array`` from raw bytes, so converting a large sequence
costs a memory copy, not a Python loop per value.
"""

from __future__ import annotations

import array

import numpy as np
from builtin_interfaces.msg import Time

from hoi_ros.core.articulation import Articulation, Joint
from hoi_ros.core.camera import Camera
from hoi_ros.core.hand import HAND_SIDES, JOINTS_PER_HAND, joint_names
from hoi_ros.core.sequence import HOISequence
from hoi_ros.msg import HOIMotion

# Joint field -> the message field that carries it (so errors name the message's field).
_JOINT_FIELDS = {"name": "articulation_joint_names", "type": "articulation_joint_types",
                 "parent": "articulation_joint_parents", "child": "articulation_joint_children",
                 "axis": "articulation_joint_axes", "origin": "articulation_joint_origins"}


def _f32(values: np.ndarray) -> array.array:
    return array.array("f", np.ascontiguousarray(values, dtype=np.float32).tobytes())


def _typed(code: str, values: np.ndarray | list, dtype: type) -> array.array:
    return array.array(code, np.ascontiguousarray(values, dtype=dtype).tobytes())


def _as_numpy(values: object, dtype: type) -> np.ndarray:
    """A numpy view of a message array field (``array.array``, bytes, list or numpy)."""
    if isinstance(values, array.array | bytes | bytearray | memoryview):
        return np.frombuffer(values, dtype=dtype)
    return np.asarray(values, dtype=dtype)


def _fill_articulations(msg: HOIMotion, seq: HOISequence) -> None:
    arts = seq.articulations
    joints = [j for a in arts for j in a.joints]
    msg.articulated_objects = [a.object_name for a in arts]
    msg.articulation_num_parts = _typed("I", [a.num_parts for a in arts], np.uint32)
    msg.articulation_part_names = [p for a in arts for p in a.parts]
    msg.articulation_num_joints = _typed("I", [a.num_joints for a in arts], np.uint32)
    msg.articulation_joint_names = [j.name for j in joints]
    msg.articulation_joint_types = [j.type for j in joints]
    msg.articulation_joint_parents = _typed("I", [j.parent for j in joints], np.uint32)
    msg.articulation_joint_children = _typed("I", [j.child for j in joints], np.uint32)
    msg.articulation_joint_axes = _typed("d", np.reshape([j.axis for j in joints], -1), np.float64)
    msg.articulation_joint_origins = _typed("d", np.reshape([j.origin for j in joints], -1), np.float64)
    if arts:
        msg.articulation_joint_states = _typed("d", np.concatenate([a.joint_states for a in arts], axis=1), np.float64)
        msg.articulation_part_poses = _typed("d", np.concatenate([a.part_poses for a in arts], axis=1), np.float64)
        msg.articulation_point_parts = _typed("h", np.concatenate([a.point_parts for a in arts]), np.int16)
    msg.articulation_num_point_parts = _typed("I", [a.point_parts.size for a in arts], np.uint32)


def sequence_to_motion_msg(seq: HOISequence, frame_id: str, stamp: Time | None = None) -> HOIMotion:
    """The ``HOIMotion`` of ``seq``; its points are in ``frame_id``, ``stamp`` is frame 0's time."""
    msg = HOIMotion()
    msg.header.frame_id = str(frame_id)
    if stamp is not None:
        msg.header.stamp = stamp
    msg.fps = float(seq.fps)
    msg.num_frames = seq.num_frames
    msg.num_joints = seq.num_joints
    msg.num_object_points = seq.num_object_points
    msg.joint_names = list(seq.joint_names)
    msg.hand_sides = list(seq.hand_sides)
    msg.hand_joints = _f32(seq.hand_joints)
    msg.object_points = _f32(seq.object_points)
    msg.object_point_labels = _typed("B", seq.object_point_labels, np.uint8)
    msg.object_names = list(seq.object_names)
    msg.image_width = seq.camera.width
    msg.image_height = seq.camera.height
    msg.camera_intrinsics = np.asarray(seq.camera.intrinsics, dtype=np.float64).reshape(9)
    msg.camera_extrinsics = np.asarray(seq.camera.extrinsics, dtype=np.float64).reshape(16)
    msg.prompt = seq.prompt
    _fill_articulations(msg, seq)
    return msg


def _hand_sides(msg: HOIMotion, j: int) -> tuple[str, ...] | None:
    """The hand sides the message states (``hand_sides``, else the joint names' prefixes), or None."""
    if msg.joint_names and len(msg.joint_names) != j:
        raise ValueError(f"joint_names: {len(msg.joint_names)} names, expected num_joints = {j}")
    named = None
    if msg.joint_names:
        # The side of each hand is the prefix of its wrist's name (``left_wrist``); see core.hand.
        named = [str(msg.joint_names[h * JOINTS_PER_HAND]).split("_", 1)[0] for h in range(j // JOINTS_PER_HAND)]
        expected = joint_names(len(named), tuple(named)) if set(named) <= set(HAND_SIDES) else None
        if expected != list(msg.joint_names):
            raise ValueError(f"joint_names: expected '<right|left>_<joint>' in hoi_ros.core.hand order, "
                             f"got {list(msg.joint_names)[:3]}...")
    if msg.hand_sides:
        sides = [str(s) for s in msg.hand_sides]
        if named is not None and sides != named:
            raise ValueError(f"hand_sides: {sides} disagree with the joint_names prefixes {named}")
        return tuple(sides)
    return None if named is None else tuple(named)


def _counts(msg: HOIMotion, name: str, a: int) -> np.ndarray:
    counts = _as_numpy(getattr(msg, name), np.uint32).astype(np.int64)
    if counts.size != a:
        raise ValueError(f"{name}: {counts.size} counts, expected one per articulated_objects ({a})")
    return counts


def _sized(msg: HOIMotion, name: str, dtype: type | None, size: int, what: str) -> np.ndarray | list[str]:
    values = getattr(msg, name)
    out = [str(v) for v in values] if dtype is None else _as_numpy(values, dtype)
    if len(out) != size:
        raise ValueError(f"{name}: {len(out)} values, expected {what} = {size}")
    return out


def _articulations(msg: HOIMotion, t: int, k: int) -> tuple[Articulation, ...]:
    """The articulations a ``HOIMotion`` carries (see the .msg comments for the layout)."""
    objects = [str(o) for o in msg.articulated_objects]
    a = len(objects)
    num_parts, num_joints = _counts(msg, "articulation_num_parts", a), _counts(msg, "articulation_num_joints", a)
    num_pp = _counts(msg, "articulation_num_point_parts", a)
    if np.any((num_pp != 0) & (num_pp != k)):
        raise ValueError(f"articulation_num_point_parts: each count must be 0 or num_object_points = {k}, "
                         f"got {num_pp.tolist()}")
    p, nj = int(num_parts.sum()), int(num_joints.sum())
    part_names = _sized(msg, "articulation_part_names", None, p, "sum(articulation_num_parts)")
    names = _sized(msg, "articulation_joint_names", None, nj, "sum(articulation_num_joints)")
    types = _sized(msg, "articulation_joint_types", None, nj, "sum(articulation_num_joints)")
    parents = _sized(msg, "articulation_joint_parents", np.uint32, nj, "sum(articulation_num_joints)")
    children = _sized(msg, "articulation_joint_children", np.uint32, nj, "sum(articulation_num_joints)")
    axes = _sized(msg, "articulation_joint_axes", np.float64, nj * 3, "sum(articulation_num_joints)*3")
    origins = _sized(msg, "articulation_joint_origins", np.float64, nj * 3, "sum(articulation_num_joints)*3")
    states = _sized(msg, "articulation_joint_states", np.float64, t * nj, "num_frames*sum(articulation_num_joints)")
    poses = _sized(msg, "articulation_part_poses", np.float64, t * p * 16,
                   "num_frames*sum(articulation_num_parts)*16")
    point_parts = _sized(msg, "articulation_point_parts", np.int16, int(num_pp.sum()),
                         "sum(articulation_num_point_parts)")
    states, poses = states.reshape(t, nj), poses.reshape(t, p, 4, 4)
    axes, origins = axes.reshape(nj, 3), origins.reshape(nj, 3)
    out, p0, j0, k0 = [], 0, 0, 0
    for i, obj in enumerate(objects):
        p1, j1, k1 = p0 + int(num_parts[i]), j0 + int(num_joints[i]), k0 + int(num_pp[i])
        joints = []
        for j in range(j0, j1):
            try:
                joints.append(Joint(names[j], types[j], int(parents[j]), int(children[j]),
                                    tuple(axes[j].tolist()), tuple(origins[j].tolist())))
            except ValueError as exc:
                key, _, rest = str(exc).partition(":")
                raise ValueError(f"{_JOINT_FIELDS.get(key, 'articulation_joints')}[{j}]:{rest}") from exc
        try:
            out.append(Articulation(obj, tuple(part_names[p0:p1]), tuple(joints), states[:, j0:j1].copy(),
                                    poses[:, p0:p1].copy(), point_parts[k0:k1].copy()))
        except ValueError as exc:
            raise ValueError(f"articulated_objects[{i}] ({obj!r}): {exc}") from exc
        p0, j0, k0 = p1, j1, k1
    return tuple(out)


def motion_msg_to_sequence(msg: HOIMotion) -> HOISequence:
    """The ``HOISequence`` (without video) of a ``HOIMotion``.

    Raises ``ValueError`` naming the field when the counts and the array lengths disagree.
    """
    t, j, k = int(msg.num_frames), int(msg.num_joints), int(msg.num_object_points)
    if t < 1:
        raise ValueError("num_frames: must be at least 1")
    joints = _as_numpy(msg.hand_joints, np.float32)
    if joints.size != t * j * 3:
        raise ValueError(f"hand_joints: {joints.size} values, expected num_frames*num_joints*3 = {t * j * 3}")
    points = _as_numpy(msg.object_points, np.float32)
    if points.size != t * k * 3:
        raise ValueError(
            f"object_points: {points.size} values, expected num_frames*num_object_points*3 = {t * k * 3}"
        )
    labels = _as_numpy(msg.object_point_labels, np.uint8)
    if labels.size == 0:
        labels = np.zeros(k, dtype=np.uint8)
    elif labels.size != k:
        raise ValueError(f"object_point_labels: {labels.size} labels, expected num_object_points = {k}")
    hand_sides = _hand_sides(msg, j)
    camera = Camera(
        int(msg.image_width),
        int(msg.image_height),
        np.asarray(msg.camera_intrinsics, dtype=np.float64).reshape(3, 3),
        np.asarray(msg.camera_extrinsics, dtype=np.float64).reshape(4, 4),
    )
    return HOISequence(
        hand_joints=joints.reshape(t, j, 3).copy(),
        object_points=points.reshape(t, k, 3).copy(),
        object_point_labels=labels.copy(),
        camera=camera,
        fps=float(msg.fps),
        prompt=str(msg.prompt),
        hand_sides=hand_sides,
        object_names=tuple(str(n) for n in msg.object_names) or None,
        articulations=_articulations(msg, t, k),
    )
