"""``hoi_sim``: MuJoCo rollouts (PAM §Stage I substitute) as a ROS service, and their playback.

Service ``/hoi/sim/rollout`` (``hoi_ros/srv/SimRollout``): initial hand pose, object, object pose,
target hand pose or task -> the simulated ``HOIMotion`` (+ per-frame RGB, depth, segmentation and
hand-keypoint images when ``return_images``). Invalid requests (unknown object, NaN pose,
unreachable target...) are answered with ``success=false`` and a message naming the field; the
node never dies of a request.

After each rollout the node publishes its motion (latched) on ``/hoi/sim/motion`` and plays the
episode back at its fps for RViz: ``/hoi/sim/joint_states`` (``JointState``, 20 finger joints),
``/hoi/sim/wrist_pose`` (``PoseStamped``), ``/hoi/sim/object_poses`` (``PoseArray``) in
``frame_id``, and ``/hoi/sim/image/{rgb,depth,segmentation,keypoints}`` (``Image``) in
``camera_frame_id``. Parameters: ``config/ros/sim.yaml``.

The node only converts messages; simulation and rendering live in :mod:`hoi_ros.sim`.
"""

from __future__ import annotations

import array
import threading
import time
from typing import Any

import numpy as np
from geometry_msgs.msg import Pose, PoseArray, PoseStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, JointState

from hoi_ros.core.episodes import Episode
from hoi_ros.msg import HOIMotion
from hoi_ros.nodes.conversions import sequence_to_motion_msg
from hoi_ros.nodes.image_conversion import image_to_msg
from hoi_ros.nodes.runtime import spin_node
from hoi_ros.sim.episode import EpisodeConfig, run_episode
from hoi_ros.sim.hand import check_side, finger_joint_names
from hoi_ros.sim.render import segmentation_image
from hoi_ros.sim.request import build_request
from hoi_ros.srv import SimRollout


def pose_to_tuple(pose: Pose) -> tuple[list[float], list[float]]:
    """(position, quaternion w x y z) of a ``geometry_msgs/Pose``."""
    p, q = pose.position, pose.orientation
    return [p.x, p.y, p.z], [q.w, q.x, q.y, q.z]


def tuple_to_pose(pos_quat: np.ndarray) -> Pose:
    """A ``geometry_msgs/Pose`` of ``[x, y, z, qw, qx, qy, qz]``."""
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in pos_quat[:3])
    o = pose.orientation
    o.w, o.x, o.y, o.z = (float(v) for v in pos_quat[3:7])
    return pose


def array_image(values: np.ndarray, encoding: str, frame_id: str, stamp: Any = None) -> Image:
    """A single-channel ``Image`` (``32FC1`` depth in metres, ``mono8`` labels) of an ``[H, W]`` array."""
    dtype = {"32FC1": np.float32, "mono8": np.uint8}[encoding]
    values = np.ascontiguousarray(values, dtype=dtype)
    msg = Image()
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    msg.height, msg.width = (int(v) for v in values.shape)
    msg.encoding = encoding
    msg.is_bigendian = int(np.little_endian is False)
    msg.step = int(values.shape[1] * values.itemsize)
    msg.data = array.array("B", values.tobytes())
    return msg


def episode_config(node: Node) -> EpisodeConfig:
    """The rendering parameters of ``config/ros/sim.yaml``; unset ones take :class:`EpisodeConfig`'s
    defaults (the one source of episode defaults)."""
    d = EpisodeConfig()
    p = node.declare_parameter
    return EpisodeConfig(
        width=int(p("width", d.width).value), height=int(p("height", d.height).value),
        fps=float(p("fps", d.fps).value), camera=str(p("camera", d.camera).value),
        fov_y_deg=float(p("fov_y_deg", d.fov_y_deg).value),
        num_object_points=int(p("num_object_points", d.num_object_points).value),
    )


class SimNode(Node):
    """The rollout service and the playback publishers (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("hoi_sim", **kwargs)
        p = self.declare_parameter
        self.frame_id = str(p("frame_id", "world").value)
        self.camera_frame_id = str(p("camera_frame_id", "hoi_sim_camera").value)
        self.side = check_side(str(p("hand_side", "right").value))
        self.loop = bool(p("loop", True).value)
        self.publish_images = bool(p("publish_images", True).value)
        self.episode_config = episode_config(self)
        self.episode_config.make_camera()  # refuse an unknown camera preset at start-up

        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.motion_pub = self.create_publisher(HOIMotion, "/hoi/sim/motion", latched)
        self.joint_pub = self.create_publisher(JointState, "/hoi/sim/joint_states", 10)
        self.wrist_pub = self.create_publisher(PoseStamped, "/hoi/sim/wrist_pose", 10)
        self.objects_pub = self.create_publisher(PoseArray, "/hoi/sim/object_poses", 10)
        self.image_pubs = {name: self.create_publisher(Image, f"/hoi/sim/image/{name}", 10)
                           for name in ("rgb", "depth", "segmentation", "keypoints")}
        self.create_service(SimRollout, "/hoi/sim/rollout", self._on_rollout,
                            callback_group=MutuallyExclusiveCallbackGroup())
        self._lock = threading.Lock()
        self._episode: Episode | None = None
        self._frame = 0
        self._timer = None
        self._timer_group = MutuallyExclusiveCallbackGroup()
        self.get_logger().info(f"serving /hoi/sim/rollout ({self.side} hand, {self.episode_config.width}x"
                               f"{self.episode_config.height} {self.episode_config.camera} camera)")

    # ----------------------------------------------------------------- service
    def _on_rollout(self, request: SimRollout.Request, response: SimRollout.Response) -> SimRollout.Response:
        start = time.monotonic()
        try:
            task_request = build_request(
                task=str(request.task),
                object_name=str(request.object),
                object_pose=pose_to_tuple(request.object_pose) if request.use_object_pose else None,
                target_object=str(request.target_object),
                target_object_pose=(pose_to_tuple(request.target_object_pose)
                                    if request.use_target_object_pose else None),
                initial_hand=((pose_to_tuple(request.initial_wrist), list(request.initial_fingers))
                              if request.use_initial_hand else None),
                target_hand=((pose_to_tuple(request.target_wrist), list(request.target_fingers))
                             if request.task == "goto" else None),
                side=self.side,
            )
            episode = run_episode(task_request, self.episode_config, seed=int(request.seed))
        except ValueError as exc:
            response.success = False
            response.message = f"invalid request: {exc}"
            self.get_logger().warning(response.message)
            return response
        except Exception as exc:  # a bug must not take the node down; report it to the caller
            response.success = False
            response.message = f"simulation failed: {type(exc).__name__}: {exc}"
            self.get_logger().error(response.message)
            return response
        stamp = self.get_clock().now().to_msg()
        motion = self._motion(episode, stamp)
        response.success = True
        response.task_success = bool(episode.success)
        response.motion = motion
        info = episode.info
        response.message = (f"{info['task']}: {'succeeded' if episode.success else 'failed'} "
                            f"({episode.sequence.num_frames} frames, {time.monotonic() - start:.1f} s); "
                            f"'{episode.sequence.prompt}'")
        if request.return_images:
            for t in range(episode.sequence.num_frames):
                response.rgb.append(self._rgb(episode, t, stamp))
                response.depth.append(array_image(episode.depth[t], "32FC1", self.camera_frame_id, stamp))
                response.segmentation.append(
                    array_image(episode.segmentation[t], "mono8", self.camera_frame_id, stamp))
                response.keypoints.append(image_to_msg(episode.keypoint_map[t], frame_id=self.camera_frame_id,
                                                       stamp=stamp))
        self.motion_pub.publish(motion)
        self._play(episode)
        self.get_logger().info(response.message)
        return response

    def _motion(self, episode: Episode, stamp: Any) -> HOIMotion:
        return sequence_to_motion_msg(episode.sequence, self.frame_id, stamp)

    def _rgb(self, episode: Episode, t: int, stamp: Any) -> Image:
        return image_to_msg(episode.sequence.video[t], frame_id=self.camera_frame_id, stamp=stamp)

    # ----------------------------------------------------------------- playback
    def _play(self, episode: Episode) -> None:
        with self._lock:
            self._episode, self._frame = episode, 0
        if self._timer is not None:
            self.destroy_timer(self._timer)
        self._timer = self.create_timer(1.0 / episode.sequence.fps, self._tick, callback_group=self._timer_group)

    def _tick(self) -> None:
        with self._lock:
            ep = self._episode
            if ep is None:
                return
            t = self._frame
            if t >= ep.sequence.num_frames:
                if not self.loop:
                    return
                t = 0
            self._frame = t + 1
        stamp = self.get_clock().now().to_msg()
        joints = JointState()
        joints.header.stamp, joints.header.frame_id = stamp, self.frame_id
        joints.name = finger_joint_names(self.side)
        joints.position = [float(v) for v in ep.finger_angles[t]]
        self.joint_pub.publish(joints)
        wrist = PoseStamped()
        wrist.header = joints.header
        wrist.pose = tuple_to_pose(ep.wrist_poses[t])
        self.wrist_pub.publish(wrist)
        objects = PoseArray()
        objects.header = joints.header
        objects.poses = [tuple_to_pose(pq) for pq in ep.object_poses[t]]
        self.objects_pub.publish(objects)
        if self.publish_images:
            self.image_pubs["rgb"].publish(self._rgb(ep, t, stamp))
            self.image_pubs["depth"].publish(array_image(ep.depth[t], "32FC1", self.camera_frame_id, stamp))
            self.image_pubs["segmentation"].publish(
                image_to_msg(segmentation_image(ep.segmentation[t]), frame_id=self.camera_frame_id, stamp=stamp))
            self.image_pubs["keypoints"].publish(
                image_to_msg(ep.keypoint_map[t], frame_id=self.camera_frame_id, stamp=stamp))


def main(args: list[str] | None = None) -> int:
    return spin_node(SimNode, 2, args)


if __name__ == "__main__":
    raise SystemExit(main())
