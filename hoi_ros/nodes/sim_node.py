"""``hoi_sim``: MuJoCo rollouts (PAM §Stage I substitute) as a ROS service, and their playback.

Names are relative to the node's namespace (default ``/hoi``; shown here with it).

Service ``/hoi/sim/rollout`` (``hoi_ros/srv/SimRollout``): initial hand pose, object, object pose,
target hand pose or task -> the simulated ``HOIMotion`` (+ per-frame RGB, depth, segmentation and
hand-keypoint images when ``return_images``). Invalid requests (unknown object, NaN pose,
unreachable target, seed beyond 2^31-1) are answered with ``success=false`` and a message naming
the field before the rollout; a negative ``seed`` picks one (reported in the response). The node
never dies of a request.

After each rollout the node publishes its motion (latched) on ``/hoi/sim/motion`` and plays the
episode back at its fps for RViz: ``/hoi/sim/joint_states`` (``JointState``, 20 finger joints),
``/hoi/sim/wrist_pose`` (``PoseStamped``), ``/hoi/sim/object_poses`` (``PoseArray``) in
``frame_id``, and ``/hoi/sim/image/{rgb,depth,segmentation,keypoints}`` (``Image``) with
``/hoi/sim/image/camera_info`` (``CameraInfo``) in ``<camera_frame_id>_optical_frame``; TF:
that optical frame on ``/tf_static``, ``hoi_sim_wrist`` and ``hoi_sim_object_<i>`` per frame on
``/tf`` (:mod:`hoi_ros.nodes.frames`). Parameters:
``config/ros/sim.yaml`` (``loop`` and ``publish_images`` may change at run time; the rest are
read-only, with ranges).

The node only converts messages; simulation and rendering live in :mod:`hoi_ros.sim`.
"""

from __future__ import annotations

import array
import secrets
import threading
import time
from typing import Any

import numpy as np
from geometry_msgs.msg import Pose, PoseArray, PoseStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, JointState

from hoi_ros.core.episodes import Episode
from hoi_ros.core.generation import MAX_SEED, RequestError
from hoi_ros.msg import HOIMotion
from hoi_ros.nodes.conversions import sequence_to_motion_msg
from hoi_ros.nodes.frames import FrameBroadcaster, camera_pose, optical_frame, pose_matrix, transform
from hoi_ros.nodes.image_conversion import camera_info_msg, image_to_msg
from hoi_ros.nodes.parameters import declare, on_change
from hoi_ros.nodes.runtime import StartupError, guarded_callback, guarded_service, spin_node
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
    return EpisodeConfig(
        width=int(declare(node, "width", d.width, "rendered image width (pixels)", low=8, high=4096)),
        height=int(declare(node, "height", d.height, "rendered image height (pixels)", low=8, high=4096)),
        fps=float(declare(node, "fps", float(d.fps), "frames per second of a rollout", low=1.0, high=500.0)),
        camera=str(declare(node, "camera", d.camera, "camera preset: third_person or ego")),
        fov_y_deg=float(declare(node, "fov_y_deg", float(d.fov_y_deg), "vertical field of view (degrees)",
                                low=1.0, high=179.0)),
        num_object_points=int(declare(node, "num_object_points", d.num_object_points, "object surface points",
                                      low=1, high=100_000)),
    )


def resolve_seed(seed: int) -> int:
    """Generate's convention: negative = pick one; beyond 2^31-1 is refused naming the field."""
    seed = int(seed)
    if seed < 0:
        return secrets.randbelow(MAX_SEED + 1)
    if seed > MAX_SEED:
        raise RequestError("seed", f"{seed} exceeds {MAX_SEED} (negative = pick one)")
    return seed


class SimNode(Node):
    """The rollout service and the playback publishers (see the module docstring)."""

    node_name = "hoi_sim"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("namespace", "hoi")
        super().__init__("hoi_sim", **kwargs)
        self.frame_id = str(declare(self, "frame_id", "world", "frame of the motion, wrist and object poses"))
        self.camera_frame_id = optical_frame(str(declare(
            self, "camera_frame_id", "hoi_sim_camera", "camera of the images; they are in <it>_optical_frame")))
        self.frame_prefix = str(declare(self, "frame_prefix", "hoi_sim_",
                                        "TF frames <prefix>wrist and <prefix>object_<i>"))
        try:
            self.side = check_side(str(declare(self, "hand_side", "right", "right or left")))
        except ValueError as exc:
            raise StartupError("hand_side", str(exc)) from None
        self.loop = bool(declare(self, "loop", True, "replay the last rollout forever", read_only=False))
        self.publish_images = bool(declare(self, "publish_images", True, "publish the playback's images",
                                           read_only=False))
        self.episode_config = episode_config(self)
        try:
            self.episode_config.make_camera()  # refuse an unknown camera preset at start-up
        except ValueError as exc:
            raise StartupError("camera", str(exc)) from None

        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.motion_pub = self.create_publisher(HOIMotion, "sim/motion", latched)
        self.joint_pub = self.create_publisher(JointState, "sim/joint_states", 10)
        self.wrist_pub = self.create_publisher(PoseStamped, "sim/wrist_pose", 10)
        self.objects_pub = self.create_publisher(PoseArray, "sim/object_poses", 10)
        self.image_pubs = {name: self.create_publisher(Image, f"sim/image/{name}", 10)
                           for name in ("rgb", "depth", "segmentation", "keypoints")}
        self.camera_info_pub = self.create_publisher(CameraInfo, "sim/image/camera_info", 10)
        self.frames = FrameBroadcaster(self)
        self.create_service(SimRollout, "sim/rollout", guarded_service(self, self._on_rollout),
                            callback_group=MutuallyExclusiveCallbackGroup())
        self._lock = threading.Lock()
        self._episode: Episode | None = None
        self._frame = 0
        self._timer = None
        self._timer_group = MutuallyExclusiveCallbackGroup()
        on_change(self, self._on_parameters)
        self.get_logger().info(f"serving {self.resolve_service_name('sim/rollout')} ({self.side} hand, "
                               f"{self.episode_config.width}x{self.episode_config.height} "
                               f"{self.episode_config.camera} camera)")

    def _on_parameters(self, values: dict[str, Any]) -> None:
        if "loop" in values:
            self.loop = bool(values["loop"])
        if "publish_images" in values:
            self.publish_images = bool(values["publish_images"])

    # ----------------------------------------------------------------- service
    def _on_rollout(self, request: SimRollout.Request, response: SimRollout.Response) -> SimRollout.Response:
        start = time.monotonic()
        try:
            seed = resolve_seed(request.seed)
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
            episode = run_episode(task_request, self.episode_config, seed=seed)
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
        response.seed = seed
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
        self.frames.send_static([transform(camera_pose(episode.sequence.camera), self.frame_id, self.camera_frame_id,
                                           self.get_clock().now().to_msg())])
        with self._lock:
            self._episode, self._frame = episode, 0
        if self._timer is not None:
            self.destroy_timer(self._timer)
        self._timer = self.create_timer(1.0 / episode.sequence.fps, guarded_callback(self, self._tick, "playback"),
                                        callback_group=self._timer_group)

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
        self.frames.send(
            [transform(pose_matrix(ep.wrist_poses[t]), self.frame_id, f"{self.frame_prefix}wrist", stamp)]
            + [transform(pose_matrix(pq), self.frame_id, f"{self.frame_prefix}object_{i}", stamp)
               for i, pq in enumerate(ep.object_poses[t])])
        if self.publish_images:
            self.image_pubs["rgb"].publish(self._rgb(ep, t, stamp))
            self.image_pubs["depth"].publish(array_image(ep.depth[t], "32FC1", self.camera_frame_id, stamp))
            self.image_pubs["segmentation"].publish(
                image_to_msg(segmentation_image(ep.segmentation[t]), frame_id=self.camera_frame_id, stamp=stamp))
            self.image_pubs["keypoints"].publish(
                image_to_msg(ep.keypoint_map[t], frame_id=self.camera_frame_id, stamp=stamp))
            self.camera_info_pub.publish(camera_info_msg(ep.sequence.camera, self.camera_frame_id, stamp))


def main(args: list[str] | None = None) -> int:
    return spin_node(SimNode, 2, args)


if __name__ == "__main__":
    raise SystemExit(main())
