"""TF frames of hoi_ros motions: ``geometry_msgs/TransformStamped`` from 4x4 poses, and a broadcaster.

Frames (REP-103 / REP-105 naming; every parent is the motion's ``frame_id``, default ``world``):

* ``<camera>_optical_frame``: the camera that saw (or would see) the motion, OpenCV/REP-103
  optical axes (x right, y down, z forward), the inverse of :class:`~hoi_ros.core.camera.Camera`'s
  world->camera extrinsics; on ``/tf_static``.
* ``<prefix>wrist``: the palm frame of the right hand (x towards the middle finger's knuckle, z out
  of the back of the hand; :func:`hoi_ros.retarget.human.palm_frame`), per frame on ``/tf``.
* ``<prefix>object_<i>``: object ``i`` (its pose in the sim; the centroid of its labelled points
  in a generated motion), per frame on ``/tf``.
* the retargeted robot's root link, placed at the retargeted wrist pose, per frame on ``/tf``, and
  its other links from the robot's forward kinematics (``hoi_retarget``'s ``link_frames``; or
  ``robot_state_publisher`` from the joint states, as the launch file does).

``/tf`` and ``/tf_static`` are absolute names (one TF tree per ROS graph, as tf2 expects).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from tf2_msgs.msg import TFMessage

from hoi_ros.core import geometry
from hoi_ros.core.camera import Camera
from hoi_ros.core.geometry import matrix_to_quat, quat_wxyz_to_xyzw
from hoi_ros.core.sequence import HOISequence
from hoi_ros.retarget.human import hand_of, palm_frame


def transform(matrix: np.ndarray, parent: str, child: str, stamp: Any = None) -> TransformStamped:
    """The ``TransformStamped`` of a 4x4 pose of ``child`` in ``parent``."""
    m = np.asarray(matrix, dtype=float)
    msg = TransformStamped()
    msg.header.frame_id, msg.child_frame_id = parent, child
    if stamp is not None:
        msg.header.stamp = stamp
    t = msg.transform.translation
    t.x, t.y, t.z = (float(v) for v in m[:3, 3])
    x, y, z, w = quat_wxyz_to_xyzw(matrix_to_quat(m[:3, :3]))
    r = msg.transform.rotation
    r.x, r.y, r.z, r.w = float(x), float(y), float(z), float(w)
    return msg


def pose_matrix(pos_quat_wxyz: Sequence[float]) -> np.ndarray:
    """4x4 of ``[x, y, z, qw, qx, qy, qz]`` (the sim's pose layout)."""
    p = np.asarray(pos_quat_wxyz, dtype=float)
    return geometry.pose_matrix(p[:3], p[3:7])


def camera_pose(camera: Camera) -> np.ndarray:
    """Pose of the camera's optical frame in the world: the inverse of its extrinsics."""
    return np.linalg.inv(np.asarray(camera.extrinsics, dtype=float))


def optical_frame(camera_frame_id: str) -> str:
    """``<camera_frame_id>_optical_frame`` unless it already ends so (REP-103)."""
    return camera_frame_id if camera_frame_id.endswith("_optical_frame") else f"{camera_frame_id}_optical_frame"


def centroid_poses(points: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    """Per label (sorted), the 4x4 identity-rotation pose at the centroid of ``points[labels == l]``."""
    poses = []
    for label in sorted(set(np.asarray(labels).tolist())):
        m = np.eye(4)
        m[:3, 3] = np.asarray(points)[np.asarray(labels) == label].mean(axis=0)
        poses.append(m)
    return poses


def sequence_frame_poses(seq: HOISequence, prefix: str = "hoi_") -> dict[str, np.ndarray]:
    """Per TF frame of a motion, its ``[T, 4, 4]`` poses: ``<prefix><side>_wrist`` (each hand's
    palm frame) and ``<prefix>object_<i>`` (each labelled object's centroid)."""
    poses = {f"{prefix}{side}_wrist": palm_frame(hand_of(seq.hand_joints, seq.hand_sides, side), side)
             for side in seq.hand_sides}
    if seq.num_object_points:
        per_frame = [centroid_poses(points, seq.object_point_labels) for points in seq.object_points]
        for i in range(len(per_frame[0])):
            poses[f"{prefix}object_{i}"] = np.stack([frame[i] for frame in per_frame])
    return poses


class FrameBroadcaster:
    """Publishes ``tf2_msgs/TFMessage`` on ``/tf`` (per frame) and ``/tf_static`` (latched)."""

    def __init__(self, node: Node) -> None:
        self.tf = node.create_publisher(TFMessage, "/tf", 100)
        static_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                                durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.tf_static = node.create_publisher(TFMessage, "/tf_static", static_qos)
        self._static: dict[str, TransformStamped] = {}

    def send(self, transforms: list[TransformStamped]) -> None:
        if transforms:
            self.tf.publish(TFMessage(transforms=transforms))

    def send_static(self, transforms: list[TransformStamped]) -> None:
        """Latched: the set of static frames so far, replaced by child frame name."""
        for t in transforms:
            self._static[t.child_frame_id] = t
        self.tf_static.publish(TFMessage(transforms=list(self._static.values())))
