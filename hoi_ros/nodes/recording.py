"""MCAP recordings of generations (ROS 2 profile: ``ros2msg`` schemas, CDR messages).

``record_sequence(path, seq, namespace, frame_id, camera_frame_id)`` writes one generated
sequence as a bag that ``ros2 bag play`` (rosbag2's MCAP storage) and Foxglove read:

* ``<ns>/motion`` (``hoi_ros/msg/HOIMotion``): the whole motion, once;
* ``<ns>/generate/video`` (``sensor_msgs/Image``, rgb8) and ``<ns>/generate/camera_info``
  (``sensor_msgs/CameraInfo``): one per frame at the sequence's fps;
* ``/tf`` (hand wrists and objects per frame) and ``/tf_static`` (the camera's optical frame),
  as :mod:`hoi_ros.nodes.frames` names them.

Messages are serialized by rclpy itself (``rclpy.serialization.serialize_message``); each schema
is the message definition with its nested definitions appended, read from the installed ``.msg``
files through the ament index.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from mcap.writer import CompressionType, Writer
from rclpy.serialization import serialize_message
from tf2_msgs.msg import TFMessage

from hoi_ros.core.sequence import HOISequence
from hoi_ros.nodes.conversions import sequence_to_motion_msg
from hoi_ros.nodes.frames import camera_pose, sequence_frame_poses, transform
from hoi_ros.nodes.image_conversion import camera_info_msg, image_to_msg

PRIMITIVES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
              "uint32", "int64", "uint64", "string", "wstring"}
SEPARATOR = "=" * 80


def datatype(msg_class: type) -> str:
    """``pkg/msg/Type`` of a generated message class (e.g. ``hoi_ros/msg/HOIMotion``)."""
    return f"{msg_class.__module__.split('.')[0]}/msg/{msg_class.__name__}"


def _msg_file(package: str, name: str) -> Path:
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory(package)) / "msg" / f"{name}.msg"


def _dependencies(package: str, text: str) -> list[tuple[str, str]]:
    """(package, type) of every non-primitive field of a ``.msg`` text, in order."""
    found = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2 or "=" in parts[1] or (len(parts) > 2 and parts[2].startswith("=")):
            continue  # a constant
        base = re.sub(r"\[.*\]$", "", parts[0])
        base = re.sub(r"<=\d+$", "", base)
        if base in PRIMITIVES:
            continue
        if "/" in base:
            pkg, _, name = base.rpartition("/")
            pkg = pkg.split("/")[0]
        else:
            pkg, name = ("std_msgs", "Header") if base == "Header" else (package, base)
        found.append((pkg, name))
    return found


def message_definition(full_type: str) -> str:
    """The ``ros2msg`` schema text of ``pkg/msg/Type``: its ``.msg`` and every nested one."""
    package, _, name = full_type.partition("/msg/")
    main = _msg_file(package, name).read_text()
    parts, seen, todo = [main.rstrip("\n")], {(package, name)}, list(_dependencies(package, main))
    while todo:
        pkg, dep = todo.pop(0)
        if (pkg, dep) in seen:
            continue
        seen.add((pkg, dep))
        text = _msg_file(pkg, dep).read_text()
        parts.append(f"{SEPARATOR}\nMSG: {pkg}/{dep}\n{text.rstrip(chr(10))}")
        todo.extend(_dependencies(pkg, text))
    return "\n".join(parts) + "\n"


class BagWriter:
    """An MCAP file of ROS 2 messages; :meth:`write` registers schemas and channels as needed."""

    def __init__(self, path: str | os.PathLike) -> None:
        self._file = open(path, "wb")
        self._writer = Writer(self._file, compression=CompressionType.ZSTD)
        self._writer.start(profile="ros2", library="hoi_ros")
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}

    def write(self, topic: str, msg: Any, stamp_ns: int) -> None:
        full_type = datatype(type(msg))
        if full_type not in self._schemas:
            self._schemas[full_type] = self._writer.register_schema(
                full_type, "ros2msg", message_definition(full_type).encode())
        if topic not in self._channels:
            self._channels[topic] = self._writer.register_channel(topic, "cdr", self._schemas[full_type])
        self._writer.add_message(self._channels[topic], log_time=stamp_ns, data=serialize_message(msg),
                                 publish_time=stamp_ns)

    def close(self) -> None:
        self._writer.finish()
        self._file.close()


def _stamp(ns: int) -> Any:
    from builtin_interfaces.msg import Time

    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def record_sequence(path: str | os.PathLike, seq: HOISequence, namespace: str = "/hoi", frame_id: str = "world",
                    camera_frame_id: str = "hoi_camera_optical_frame", start_ns: int = 0,
                    frame_prefix: str = "hoi_") -> Path:
    """Write ``seq`` as an MCAP bag at ``path`` (see the module docstring); returns the path."""
    ns = namespace.rstrip("/")
    path = Path(path)
    bag = BagWriter(path)
    try:
        bag.write(f"{ns}/motion", sequence_to_motion_msg(seq, frame_id, _stamp(start_ns)), start_ns)
        bag.write("/tf_static", TFMessage(transforms=[
            transform(camera_pose(seq.camera), frame_id, camera_frame_id, _stamp(start_ns))]), start_ns)
        poses = sequence_frame_poses(seq, frame_prefix)
        for t in range(seq.num_frames):
            t_ns = start_ns + round(t * 1e9 / seq.fps)
            stamp = _stamp(t_ns)
            bag.write("/tf", TFMessage(transforms=[transform(p[t], frame_id, child, stamp)
                                                   for child, p in poses.items()]), t_ns)
            if seq.video is not None:
                bag.write(f"{ns}/generate/video", image_to_msg(seq.video[t], frame_id=camera_frame_id,
                                                              stamp=stamp), t_ns)
                bag.write(f"{ns}/generate/camera_info", camera_info_msg(seq.camera, camera_frame_id, stamp), t_ns)
    finally:
        bag.close()
    return path
