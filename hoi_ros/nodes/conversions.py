"""``HOISequence`` <-> ``hoi_ros/HOIMotion``: the 3D motion over ROS, losslessly.

The message carries everything of a sequence except its video and metadata (free-form JSON):
joints and hand sides, object points, their labels and object names, camera, fps, prompt, and the
articulated objects (parts, joints with axes and origins in the object frame, per-frame joint
states and part poses, the part of each point; ArtHOI §3). float32 arrays are copied bit for bit,
the camera matrices and articulation values as float64, so a round trip is exact.

Array fields are filled through ``array.array`` from raw bytes, so converting a large sequence
costs a memory copy, not a Python loop per value.

Also a ``/hoi/generate`` request's camera: ``sensor_msgs/CameraInfo`` + ``geometry_msgs/Pose`` <->
:class:`~hoi_ros.core.camera.Camera` (:func:`camera_from_msg`, :func:`camera_to_msg`).
"""

from __future__ import annotations

import array
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time

from hoi_ros.core.articulation import Articulation, Joint
from hoi_ros.core.camera import Camera
from hoi_ros.core.geometry import matrix_to_quat, pose_matrix
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


# ----------------------------------------------------------------------- a request's camera
_DEFAULT_POSE = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)  # geometry_msgs/Pose(): origin, identity (x, y, z, w)


def _pose_values(pose: Any) -> tuple[float, ...]:
    p, q = pose.position, pose.orientation
    return (float(p.x), float(p.y), float(p.z), float(q.x), float(q.y), float(q.z), float(q.w))


def camera_from_msg(info: Any, pose: Any) -> Camera | None:
    """The :class:`Camera` of a request's ``sensor_msgs/CameraInfo`` and ``geometry_msgs/Pose``
    (the camera in the world frame, OpenCV axes), or None for "the model's camera" (``k`` all zero).

    Only ``width``, ``height`` and ``k`` are read (the distortion, ``r`` and ``p`` are not). The pose
    ``T_wc`` (camera → world) becomes the extrinsics ``T_wc⁻¹`` (world → camera); the quaternion is
    normalised. Raises ``ValueError`` starting with the field, ``camera`` or ``camera_pose``: NaN or
    infinite values, a non-positive focal length, a last row of ``k`` other than ``0 0 1``, a zero
    size with a non-zero ``k``, a zero quaternion, or a pose without ``k``.
    """
    k = np.asarray(info.k, dtype=np.float64).reshape(-1)
    width, height = int(info.width), int(info.height)
    values = np.asarray(_pose_values(pose))
    if k.size != 9:
        raise ValueError(f"camera: k has {k.size} values, expected 9")
    if not np.all(np.isfinite(k)):
        raise ValueError("camera: k contains NaN or Inf")
    if not np.any(k):
        if not np.all(np.isfinite(values)) or tuple(values) != _DEFAULT_POSE:
            raise ValueError("camera_pose: given without camera.k (k all zero = the model's camera, "
                             "which has its own pose); fill camera.k or leave camera_pose at its default")
        return None
    if width < 1 or height < 1:
        raise ValueError(f"camera: width and height must be positive with a non-zero k, got {width}x{height}")
    kk = k.reshape(3, 3)
    if not (kk[0, 0] > 0 and kk[1, 1] > 0):
        raise ValueError(f"camera: focal lengths k[0], k[4] must be positive, got {kk[0, 0]}, {kk[1, 1]}")
    if kk[1, 0] != 0 or tuple(kk[2]) != (0.0, 0.0, 1.0):
        raise ValueError(f"camera: k must be a pinhole matrix [fx s cx, 0 fy cy, 0 0 1], got rows "
                         f"{kk[1].tolist()} {kk[2].tolist()}")
    if not np.all(np.isfinite(values)):
        raise ValueError("camera_pose: contains NaN or Inf")
    quat_xyzw = values[3:]
    if np.linalg.norm(quat_xyzw) < 1e-6:
        raise ValueError("camera_pose: orientation is a zero quaternion")
    cam_to_world = pose_matrix(values[:3], np.concatenate([quat_xyzw[3:], quat_xyzw[:3]]))  # (w, x, y, z)
    rot, pos = cam_to_world[:3, :3], cam_to_world[:3, 3]
    extrinsics = np.eye(4)
    extrinsics[:3, :3] = rot.T
    extrinsics[:3, 3] = -rot.T @ pos
    return Camera(width, height, kk.copy(), extrinsics)


def camera_to_msg(camera: Camera, info: Any, pose: Any) -> None:
    """Fill a ``CameraInfo`` (width, height, k) and a ``Pose`` (camera in the world) from ``camera``
    (the inverse of :func:`camera_from_msg`)."""
    info.width, info.height = int(camera.width), int(camera.height)
    info.k = np.asarray(camera.intrinsics, dtype=np.float64).reshape(9)
    cam_to_world = np.linalg.inv(np.asarray(camera.extrinsics, dtype=np.float64))
    w, x, y, z = matrix_to_quat(cam_to_world[:3, :3])
    p, q = pose.position, pose.orientation
    p.x, p.y, p.z = (float(v) for v in cam_to_world[:3, 3])
    q.x, q.y, q.z, q.w = float(x), float(y), float(z), float(w)
