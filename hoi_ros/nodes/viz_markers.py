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


# ----------------------------------------------------------------- articulation (/hoi/articulate)
ARTICULATION_NAMESPACE = "hoi_articulation"
ART_POINTS_ID, ART_AXIS_ID, ART_SLIDE_ID, ART_LABEL_ID = 0, 1, 2, 3
DYNAMIC_COLOR = np.array([1.0, 0.5, 0.05])  # the moving part (ArtHOI §3.1's G^d)
STATIC_COLOR = np.array([0.25, 0.45, 0.9])  # the static part (G^s)
AXIS_COLOR = np.array([0.1, 0.85, 0.25])
SLIDE_COLOR = np.array([0.9, 0.2, 0.75])


def _arrow(mid: int, start: np.ndarray, end: np.ndarray, color: np.ndarray, frame_id: str, stamp: Time,
           shaft: float) -> Marker:
    """An ``ARROW`` from ``start`` to ``end`` (shaft diameter ``shaft``, head twice as wide)."""
    m = _marker(Marker.ARROW, mid, frame_id, stamp, shaft)
    m.ns = ARTICULATION_NAMESPACE
    m.points = _points(np.stack([start, end]))
    m.scale.x, m.scale.y, m.scale.z = float(shaft), 2.0 * float(shaft), 3.0 * float(shaft)
    m.color = _colors(color[None])[0]
    return m


def articulation_markers(points: np.ndarray, moving: np.ndarray, joint_type: str, axis: np.ndarray,
                         origin: np.ndarray, frame_id: str, stamp: Time, slide: np.ndarray | None = None,
                         label: str = "", point_size: float = 0.005, axis_length: float | None = None
                         ) -> MarkerArray:
    """Markers of a recovered articulation (ArtHOI §3.2's joint read off ``T^d(t)``), namespace
    :data:`ARTICULATION_NAMESPACE`, after a ``DELETEALL`` of that namespace:

    * id 0: the object's points ``[K, 3]`` as a ``SPHERE_LIST``, the moving part (``moving`` ``[K]``
      bool) orange, the static part blue;
    * id 1: the joint axis as an ``ARROW`` through ``origin`` along ``axis`` (``axis_length``, default
      a little longer than the object);
    * id 2 (prismatic, with ``slide`` = ``[start, end]``): an ``ARROW`` along the slide;
    * id 3: ``label`` (e.g. the joint type and its final state) as text beside the axis.
    """
    pts = np.asarray(points, dtype=np.float64)
    moving = np.asarray(moving, dtype=bool)
    axis = np.asarray(axis, dtype=np.float64) / max(float(np.linalg.norm(axis)), 1e-12)
    origin = np.asarray(origin, dtype=np.float64)
    clear = Marker()
    clear.header.frame_id, clear.header.stamp = frame_id, stamp
    clear.ns, clear.action = ARTICULATION_NAMESPACE, Marker.DELETEALL
    cloud = _marker(Marker.SPHERE_LIST, ART_POINTS_ID, frame_id, stamp, point_size)
    cloud.ns = ARTICULATION_NAMESPACE
    cloud.points = _points(pts)
    cloud.colors = _colors(np.where(moving[:, None], DYNAMIC_COLOR[None], STATIC_COLOR[None]))
    extent = float(np.linalg.norm(np.ptp(pts, axis=0))) if len(pts) else 0.1
    length = float(axis_length) if axis_length else max(0.1, 1.2 * extent)
    shaft = max(0.004, 0.03 * length)
    markers = [clear, cloud, _arrow(ART_AXIS_ID, origin - 0.5 * length * axis, origin + 0.5 * length * axis,
                                    AXIS_COLOR, frame_id, stamp, shaft)]
    if joint_type == "prismatic" and slide is not None:
        start, end = np.asarray(slide, dtype=np.float64)
        markers.append(_arrow(ART_SLIDE_ID, start, end, SLIDE_COLOR, frame_id, stamp, 0.8 * shaft))
    if label:
        text = _marker(Marker.TEXT_VIEW_FACING, ART_LABEL_ID, frame_id, stamp, 0.1 * length)
        text.ns = ARTICULATION_NAMESPACE
        top = origin + 0.5 * length * axis
        text.pose.position = Point(x=float(top[0]), y=float(top[1]), z=float(top[2]) + 0.1 * length)
        text.text = label
        markers.append(text)
    return MarkerArray(markers=markers)
