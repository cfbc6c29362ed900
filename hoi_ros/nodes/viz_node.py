"""``hoi_viz``: replays a generated motion for RViz.

Inputs (either):
* ``/hoi/motion`` (``hoi_ros/HOIMotion``, the generator publishes it latched): the 3D motion;
* ``/hoi/sequence_path`` (``std_msgs/String``, latched): path of a saved sequence (``.npz`` with
  its ``.mp4``) on this machine, which adds the generated video; the ``sequence_path`` parameter
  loads one at start-up.

Outputs, one message per frame at the sequence's fps, in the ``frame_id`` parameter's frame
(images in ``camera_frame_id``):
``/hoi/viz/markers`` (``MarkerArray``: skeleton + object points), ``/hoi/viz/object_cloud``
(``PointCloud2``), ``/hoi/viz/video`` (``Image``: the generated video when known) and
``/hoi/viz/motion_video`` (``Image``: the rendered motion video of SViMo §3.2). Playback loops
when ``loop`` is true; ``/hoi/viz/replay`` (``std_srvs/Trigger``) restarts it on demand.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import String
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from hoi_ros.core.sequence import HOISequence
from hoi_ros.msg import HOIMotion
from hoi_ros.nodes.conversions import motion_msg_to_sequence
from hoi_ros.nodes.image_conversion import image_to_msg
from hoi_ros.nodes.runtime import spin_node
from hoi_ros.nodes.viz_markers import frame_markers, object_cloud


def latched_qos() -> QoSProfile:
    return QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class VizNode(Node):
    """Replays the latest sequence as markers, point cloud and images (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("hoi_viz", **kwargs)
        p = self.declare_parameter
        self.frame_id = str(p("frame_id", "world").value)
        self.camera_frame_id = str(p("camera_frame_id", "hoi_camera").value)
        self.loop = bool(p("loop", True).value)
        self.autoplay = bool(p("autoplay", True).value)
        self.speed = float(p("speed", 1.0).value)
        self.publish_motion_video = bool(p("publish_motion_video", True).value)
        self.joint_radius = float(p("joint_radius", 0.006).value)
        self.bone_width = float(p("bone_width", 0.004).value)
        self.object_point_size = float(p("object_point_size", 0.004).value)
        if not np.isfinite(self.speed) or self.speed <= 0:
            raise ValueError(f"speed: must be a positive number, got {self.speed}")

        self.markers_pub = self.create_publisher(MarkerArray, "/hoi/viz/markers", 10)
        self.cloud_pub = self.create_publisher(PointCloud2, "/hoi/viz/object_cloud", 10)
        self.video_pub = self.create_publisher(Image, "/hoi/viz/video", 10)
        self.motion_video_pub = self.create_publisher(Image, "/hoi/viz/motion_video", 10)
        self.create_subscription(HOIMotion, "/hoi/motion", self._on_motion, latched_qos())
        self.create_subscription(String, "/hoi/sequence_path", self._on_path, latched_qos())
        self.create_service(Trigger, "/hoi/viz/replay", self._on_replay)

        self._lock = threading.Lock()
        self.seq: HOISequence | None = None
        self.motion_video: np.ndarray | None = None
        self.frame = 0
        self.playing = False
        self.timer = None
        start_path = str(p("sequence_path", "").value)
        if start_path:
            self._load(start_path)

    # ----------------------------------------------------------------- inputs
    def _on_motion(self, msg: HOIMotion) -> None:
        try:
            seq = motion_msg_to_sequence(msg)
        except ValueError as exc:
            self.get_logger().error(f"ignoring malformed /hoi/motion: {exc}")
            return
        self._show(seq, "/hoi/motion")

    def _on_path(self, msg: String) -> None:
        self._load(msg.data)

    def _load(self, path: str) -> None:
        try:
            seq = HOISequence.load(path)
        except Exception as exc:
            self.get_logger().error(f"cannot load sequence {path!r}: {type(exc).__name__}: {exc}")
            return
        self._show(seq, path)

    def _show(self, seq: HOISequence, source: str) -> None:
        motion_video = seq.render_motion() if self.publish_motion_video else None
        with self._lock:
            self.seq, self.motion_video = seq, motion_video
            self.frame = 0
            self.playing = self.autoplay
        if self.timer is not None:
            self.destroy_timer(self.timer)
        self.timer = self.create_timer(1.0 / (seq.fps * self.speed), self._tick)
        self.get_logger().info(
            f"showing {seq.num_frames} frames at {seq.fps:g} fps from {source}"
            f"{' with video' if seq.video is not None else ''}"
        )

    def _on_replay(self, _req: Trigger.Request, resp: Trigger.Response) -> Trigger.Response:
        with self._lock:
            if self.seq is None:
                resp.success, resp.message = False, "nothing to replay: no motion received yet"
                return resp
            self.frame = 0
            self.playing = True
            resp.success = True
            resp.message = f"replaying {self.seq.num_frames} frames"
        return resp

    # ----------------------------------------------------------------- playback
    def _tick(self) -> None:
        with self._lock:
            seq, motion_video = self.seq, self.motion_video
            if seq is None or not self.playing:
                return
            t = self.frame
            self.frame += 1
            if self.frame >= seq.num_frames:
                self.frame = 0
                self.playing = self.loop
        stamp = self.get_clock().now().to_msg()
        self.markers_pub.publish(
            frame_markers(seq, t, self.frame_id, stamp, self.joint_radius, self.bone_width,
                          self.object_point_size)
        )
        self.cloud_pub.publish(object_cloud(seq, t, self.frame_id, stamp))
        if seq.video is not None:
            self.video_pub.publish(image_to_msg(seq.video[t], frame_id=self.camera_frame_id, stamp=stamp))
        if motion_video is not None:
            self.motion_video_pub.publish(
                image_to_msg(motion_video[t], frame_id=self.camera_frame_id, stamp=stamp)
            )


def main(args: list[str] | None = None) -> int:
    return spin_node(VizNode, 1, args)


if __name__ == "__main__":
    raise SystemExit(main())
