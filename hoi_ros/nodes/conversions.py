"""``HOISequence`` <-> ``hoi_ros/HOIMotion``: the 3D motion over ROS, losslessly.

The message carries everything of a sequence except its video (joints, object points and their
labels, camera, fps, prompt): float32 arrays are copied bit for bit, the camera matrices as
float64. Metadata (free-form JSON) is not part of the message either.

Array fields are filled through ``array.array`` from raw bytes, so converting a large sequence
costs a memory copy, not a Python loop per value.
"""

from __future__ import annotations

import array

import numpy as np
from builtin_interfaces.msg import Time

from hoi_ros.core.camera import Camera
from hoi_ros.core.hand import HAND_SIDES, JOINTS_PER_HAND, joint_names
from hoi_ros.core.sequence import HOISequence
from hoi_ros.msg import HOIMotion


def _f32(values: np.ndarray) -> array.array:
    return array.array("f", np.ascontiguousarray(values, dtype=np.float32).tobytes())


def _as_numpy(values: object, dtype: type) -> np.ndarray:
    """A numpy view of a message array field (``array.array``, bytes, list or numpy)."""
    if isinstance(values, array.array | bytes | bytearray | memoryview):
        return np.frombuffer(values, dtype=dtype)
    return np.asarray(values, dtype=dtype)


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
    msg.hand_joints = _f32(seq.hand_joints)
    msg.object_points = _f32(seq.object_points)
    labels = np.ascontiguousarray(seq.object_point_labels, dtype=np.uint8)
    msg.object_point_labels = array.array("B", labels.tobytes())
    msg.image_width = seq.camera.width
    msg.image_height = seq.camera.height
    msg.camera_intrinsics = np.asarray(seq.camera.intrinsics, dtype=np.float64).reshape(9)
    msg.camera_extrinsics = np.asarray(seq.camera.extrinsics, dtype=np.float64).reshape(16)
    msg.prompt = seq.prompt
    return msg


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
    if msg.joint_names and len(msg.joint_names) != j:
        raise ValueError(f"joint_names: {len(msg.joint_names)} names, expected num_joints = {j}")
    metadata = {}
    if msg.joint_names:
        # The side of each hand is the prefix of its wrist's name (``left_wrist``); see core.hand.
        sides = [str(msg.joint_names[h * JOINTS_PER_HAND]).split("_", 1)[0] for h in range(j // JOINTS_PER_HAND)]
        expected = joint_names(len(sides), tuple(sides)) if set(sides) <= set(HAND_SIDES) else None
        if expected != list(msg.joint_names):
            raise ValueError(f"joint_names: expected '<right|left>_<joint>' in hoi_ros.core.hand order, "
                             f"got {list(msg.joint_names)[:3]}...")
        metadata["hand_sides"] = sides
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
        metadata=metadata,
    )
