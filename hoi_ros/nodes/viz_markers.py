"""RViz messages of one frame of an ``HOISequence``: skeleton markers and the object cloud.

* ``visualization_msgs/MarkerArray``: joints as a ``SPHERE_LIST`` (finger colours of
  :data:`hoi_ros.core.hand.FINGER_COLORS`, white wrist, the left hand darker), bones as a
  ``LINE_LIST`` coloured per finger, object points as a ``SPHERE_LIST`` (tool / target colours of
  the rendered motion video).
* ``sensor_msgs/PointCloud2``: the object points with ``x, y, z`` (float32), ``rgb`` (packed
  float32, as RViz expects) and ``label`` (uint8: 0 tool, 1 target).
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from hoi_ros.core.hand import BONE_FINGER, FINGER_COLORS, JOINT_FINGER, JOINTS_PER_HAND, WRIST_COLOR, bones_for
from hoi_ros.core.render import SECOND_HAND_SHADE, TARGET_COLOR, TOOL_COLOR
from hoi_ros.core.sequence import HOISequence

NAMESPACE = "hoi"
JOINTS_ID, BONES_ID, OBJECT_ID = 0, 1, 2


def joint_colors(num_joints: int) -> np.ndarray:
    """RGB ``[J, 3]`` float in 0..1 per joint (second hand shaded darker)."""
    hands = num_joints // JOINTS_PER_HAND
    one = np.where(JOINT_FINGER[:, None] < 0, WRIST_COLOR[None], FINGER_COLORS[np.maximum(JOINT_FINGER, 0)])
    cols = [one * (1.0 if h == 0 else SECOND_HAND_SHADE) for h in range(hands)]
    return np.concatenate(cols).astype(np.float64) / 255.0


def bone_colors(num_joints: int) -> np.ndarray:
    hands = num_joints // JOINTS_PER_HAND
    one = FINGER_COLORS[BONE_FINGER].astype(np.float64)
    return np.concatenate([one * (1.0 if h == 0 else SECOND_HAND_SHADE) for h in range(hands)]) / 255.0


def object_colors(labels: np.ndarray) -> np.ndarray:
    return np.where(labels[:, None] == 1, TARGET_COLOR[None], TOOL_COLOR[None]).astype(np.float64) / 255.0


def _points(xyz: np.ndarray) -> list[Point]:
    return [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in np.asarray(xyz, dtype=np.float64)]


def _colors(rgb: np.ndarray) -> list[ColorRGBA]:
    return [ColorRGBA(r=float(r), g=float(g), b=float(b), a=1.0) for r, g, b in rgb]


def _marker(kind: int, mid: int, frame_id: str, stamp: Time, scale: float) -> Marker:
    m = Marker()
    m.header.frame_id = frame_id
    m.header.stamp = stamp
    m.ns = NAMESPACE
    m.id = mid
    m.type = kind
    m.action = Marker.ADD
    m.pose.orientation.w = 1.0
    m.scale.x = m.scale.y = m.scale.z = float(scale)
    m.color.a = 1.0
    m.frame_locked = True
    return m


def frame_markers(
    seq: HOISequence, t: int, frame_id: str, stamp: Time, joint_radius: float = 0.006,
    bone_width: float = 0.004, object_point_size: float = 0.004,
) -> MarkerArray:
    """Markers of frame ``t``: joints, bones and object points (ids 0, 1, 2 in namespace ``hoi``)."""
    joints = seq.hand_joints[t]
    joints_m = _marker(Marker.SPHERE_LIST, JOINTS_ID, frame_id, stamp, 2 * joint_radius)
    joints_m.points = _points(joints)
    joints_m.colors = _colors(joint_colors(seq.num_joints))
    bones = bones_for(seq.num_joints)
    bones_m = _marker(Marker.LINE_LIST, BONES_ID, frame_id, stamp, bone_width)
    bones_m.points = _points(joints[bones.reshape(-1)])
    bones_m.colors = _colors(np.repeat(bone_colors(seq.num_joints), 2, axis=0))
    obj_m = _marker(Marker.SPHERE_LIST, OBJECT_ID, frame_id, stamp, object_point_size)
    obj_m.points = _points(seq.object_points[t])
    obj_m.colors = _colors(object_colors(seq.object_point_labels))
    return MarkerArray(markers=[joints_m, bones_m, obj_m])


def object_cloud(seq: HOISequence, t: int, frame_id: str, stamp: Time) -> PointCloud2:
    """``PointCloud2`` of frame ``t``'s object points (fields x, y, z, rgb, label; 17 bytes a point)."""
    k = seq.num_object_points
    rgb8 = np.where(seq.object_point_labels[:, None] == 1, TARGET_COLOR[None], TOOL_COLOR[None]).astype(np.uint32)
    packed = ((rgb8[:, 0] << 16) | (rgb8[:, 1] << 8) | rgb8[:, 2]).astype(np.uint32)
    dtype = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u4"), ("label", "u1")])
    rec = np.zeros(k, dtype=dtype)
    pts = seq.object_points[t]
    rec["x"], rec["y"], rec["z"] = pts[:, 0], pts[:, 1], pts[:, 2]
    rec["rgb"] = packed
    rec["label"] = seq.object_point_labels
    msg = PointCloud2()
    msg.header.frame_id = frame_id
    msg.header.stamp = stamp
    msg.height, msg.width = 1, k
    msg.fields = [
        PointField(name="x", offset=0, datatype=PointField.FLOAT32, count=1),
        PointField(name="y", offset=4, datatype=PointField.FLOAT32, count=1),
        PointField(name="z", offset=8, datatype=PointField.FLOAT32, count=1),
        PointField(name="rgb", offset=12, datatype=PointField.FLOAT32, count=1),
        PointField(name="label", offset=16, datatype=PointField.UINT8, count=1),
    ]
    msg.is_bigendian = False
    msg.point_step = dtype.itemsize
    msg.row_step = dtype.itemsize * k
    msg.is_dense = True
    msg.data = rec.tobytes()
    return msg
