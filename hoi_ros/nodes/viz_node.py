"""``hoi_viz``: replays a generated motion for RViz.

Names are relative to the node's namespace (default ``/hoi``; shown here with it).

Inputs (either):
* ``/hoi/motion`` (``hoi_ros/HOIMotion``, the generator publishes it latched): the 3D motion;
* ``/hoi/sequence_path`` (``std_msgs/String``, latched): path of a saved sequence (``.npz`` with
  its ``.mp4``) on this machine, which adds the generated video; the ``sequence_path`` parameter
  loads one at start-up.

Outputs, one message per frame at the sequence's fps, in the ``frame_id`` parameter's frame
(images in ``camera_frame_id``):
``/hoi/viz/markers`` (``MarkerArray``: skeleton + object points), ``/hoi/viz/object_cloud``
(``PointCloud2``), ``/hoi/viz/video`` (``Image``: the generated video when known) and
``/hoi/viz/motion_video`` (``Image``: the rendered motion video of SViMo §3.2), both with
``/hoi/viz/camera_info`` (``CameraInfo``: the sequence's camera, same stamp, in
``<camera_frame_id>_optical_frame``). TF (:mod:`hoi_ros.nodes.frames`): ``frame_id`` ->
the camera's optical frame on ``/tf_static``, ``hoi_<side>_wrist`` and ``hoi_object_<i>`` per
frame on ``/tf``. Playback loops
when ``loop`` is true; ``/hoi/viz/replay`` (``std_srvs/Trigger``) restarts it on demand.

``speed`` (0.01..100), ``loop`` and ``autoplay`` may change at run time; a value outside the range
is refused. A malformed input is logged and skipped; the node keeps playing.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import String
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from hoi_ros.core.sequence import HOISequence
from hoi_ros.msg import HOIMotion
from hoi_ros.nodes.conversions import motion_msg_to_sequence
from hoi_ros.nodes.frames import FrameBroadcaster, camera_pose, optical_frame, sequence_frame_poses, transform
from hoi_ros.nodes.image_conversion import camera_info_msg, image_to_msg
from hoi_ros.nodes.parameters import declare, on_change
from hoi_ros.nodes.runtime import guarded_callback, guarded_service, spin_node
from hoi_ros.nodes.viz_markers import frame_markers, object_cloud


def latched_qos() -> QoSProfile:
    return QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class VizNode(Node):
    """Replays the latest sequence as markers, point cloud and images (see the module docstring)."""

    node_name = "hoi_viz"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("namespace", "hoi")
        super().__init__("hoi_viz", **kwargs)
        self.frame_id = str(declare(self, "frame_id", "world", "frame of the markers and the object cloud"))
        self.camera_frame_id = optical_frame(str(declare(
            self, "camera_frame_id", "hoi_camera", "camera of the video images; they are in <it>_optical_frame")))
        self.frame_prefix = str(declare(self, "frame_prefix", "hoi_",
                                        "TF frames <prefix><side>_wrist and <prefix>object_<i>"))
        self.loop = bool(declare(self, "loop", True, "replay the latest motion forever", read_only=False))
        self.autoplay = bool(declare(self, "autoplay", True, "start playing when a motion arrives", read_only=False))
        self.speed = float(declare(self, "speed", 1.0, "playback speed (1 = the sequence's fps)", read_only=False,
                                   low=0.01, high=100.0))
        self.publish_motion_video = bool(declare(self, "publish_motion_video", True,
                                                 "publish the rendered motion video"))
        self.joint_radius = float(declare(self, "joint_radius", 0.006, "metres", low=0.0001, high=1.0))
        self.bone_width = float(declare(self, "bone_width", 0.004, "metres", low=0.0001, high=1.0))
        self.object_point_size = float(declare(self, "object_point_size", 0.004, "metres", low=0.0001, high=1.0))

        self.markers_pub = self.create_publisher(MarkerArray, "viz/markers", 10)
        self.cloud_pub = self.create_publisher(PointCloud2, "viz/object_cloud", 10)
        self.video_pub = self.create_publisher(Image, "viz/video", 10)
        self.motion_video_pub = self.create_publisher(Image, "viz/motion_video", 10)
        self.camera_info_pub = self.create_publisher(CameraInfo, "viz/camera_info", 10)
        self.frames = FrameBroadcaster(self)
        self.create_subscription(HOIMotion, "motion", guarded_callback(self, self._on_motion, "motion"), latched_qos())
        self.create_subscription(String, "sequence_path", guarded_callback(self, self._on_path, "sequence_path"),
                                 latched_qos())
        self.create_service(Trigger, "viz/replay", guarded_service(self, self._on_replay))
        on_change(self, self._on_parameters)

        self._lock = threading.Lock()
        self.seq: HOISequence | None = None
        self.poses: dict[str, np.ndarray] = {}  # TF child frame -> [T, 4, 4]
        self.motion_video: np.ndarray | None = None
        self.frame = 0
        self.playing = False
        self.timer = None
        start_path = str(declare(self, "sequence_path", "", "a saved sequence (.npz) to show at start-up"))
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
        poses = sequence_frame_poses(seq, self.frame_prefix)
        self.frames.send_static([transform(camera_pose(seq.camera), self.frame_id, self.camera_frame_id,
                                           self.get_clock().now().to_msg())])
        with self._lock:
            self.seq, self.motion_video, self.poses = seq, motion_video, poses
            self.frame = 0
            self.playing = self.autoplay
        self._start_timer(seq.fps)
        self.get_logger().info(
            f"showing {seq.num_frames} frames at {seq.fps:g} fps from {source}"
            f"{' with video' if seq.video is not None else ''}"
        )

    def _start_timer(self, fps: float) -> None:
        if self.timer is not None:
            self.destroy_timer(self.timer)
        self.timer = self.create_timer(1.0 / (fps * self.speed), guarded_callback(self, self._tick, "playback"))

    def _on_parameters(self, values: dict[str, Any]) -> None:
        if "loop" in values:
            self.loop = bool(values["loop"])
        if "autoplay" in values:
            self.autoplay = bool(values["autoplay"])
        if "speed" in values:
            self.speed = float(values["speed"])
            with self._lock:
                seq = self.seq
            if seq is not None:
                self._start_timer(seq.fps)

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
            seq, motion_video, poses = self.seq, self.motion_video, self.poses
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
        self.frames.send([transform(p[t], self.frame_id, child, stamp) for child, p in poses.items()])
        if seq.video is not None:
            self.video_pub.publish(image_to_msg(seq.video[t], frame_id=self.camera_frame_id, stamp=stamp))
        if motion_video is not None:
            self.motion_video_pub.publish(
                image_to_msg(motion_video[t], frame_id=self.camera_frame_id, stamp=stamp)
            )
        if seq.video is not None or motion_video is not None:
            self.camera_info_pub.publish(camera_info_msg(seq.camera, self.camera_frame_id, stamp))


def main(args: list[str] | None = None) -> int:
    return spin_node(VizNode, 1, args)


if __name__ == "__main__":
    raise SystemExit(main())
