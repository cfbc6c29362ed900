"""``hoi_retarget``: human hand motion -> robot hand joint trajectory (:mod:`hoi_ros.retarget`).

Names are relative to the node's namespace (default ``/hoi``; shown here with it).

* Service ``/hoi/retarget`` (``hoi_ros/srv/Retarget``): a ``HOIMotion`` (its right hand, found
  by the joint names' side) and a robot name in (a built-in robot, or ``<name>.yaml`` in one of
  the ``robot_folders``: never a path, see :mod:`hoi_ros.nodes.robots`),
  a ``trajectory_msgs/JointTrajectory`` (every revolute joint, one point per frame,
  ``time_from_start`` from the motion's fps), per-frame fingertip errors, collision flags and
  wrist poses out.
* Streaming (parameter ``stream``): every motion on ``/hoi/motion`` (the generator publishes it
  latched) is retargeted to the node's robot; the trajectory goes out latched on
  ``/hoi/retarget/trajectory`` and is played back as ``sensor_msgs/JointState`` on
  ``/hoi/retarget/joint_states`` at the motion's fps (looped when ``loop``), with the robot base
  pose per frame on ``/hoi/retarget/wrist_pose`` (``geometry_msgs/PoseStamped``, the motion's frame).
* Online, frame by frame (parameter ``frame_input``): each ``HOIMotion`` on ``/hoi/retarget/hand_frames``
  (one or more frames of hand keypoints, e.g. from a hand tracker at camera rate) is streamed
  through :class:`hoi_ros.retarget.StreamingRetargeter` (state kept between messages: previous
  solutions, the calibrated scale, the collision model; ``streaming_config``), and every frame is
  published at once as ``JointState`` on ``/hoi/retarget/joint_states`` (stamped with the input's
  stamp), with the wrist pose and the root link on ``/tf``. An empty message resets the state.
* Images in (parameter ``image_input``; needs the video extra, ``requirements/video.txt``): each
  ``sensor_msgs/Image`` on ``/hoi/retarget/image`` goes through MediaPipe's hand landmarker and the
  same streaming retargeter (:class:`hoi_ros.retarget.from_video.ImageStreamRetargeter`); a frame
  with no hand publishes nothing and keeps the state.
* The robot's URDF is the node's ``robot_description`` parameter and is published latched on
  ``/hoi/robot_description`` (``std_msgs/String``), as ``robot_state_publisher`` in the same
  namespace expects; the same files are installed in ``share/hoi_ros/urdf/``. Remap its
  ``joint_states`` to ``retarget/joint_states`` to feed it. While a motion streams, the robot's
  root link is broadcast on ``/tf`` at the retargeted wrist pose (parent: the motion's frame) and,
  with ``link_frames`` (default true; the launch file turns it off and runs robot_state_publisher),
  every other link in the root's frame from the robot's forward kinematics, so the robot hand's
  frames hang in the world next to the human hand.

Every request is answered (an unexpected error becomes ``success: false`` naming the field) and
the node keeps serving; ``loop`` and ``speed`` may change at run time (``speed`` within 0.01..100).

Parameters: ``config/ros/retarget.yaml``. The node only converts messages; the solver is the core's.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Pose, PoseStamped
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from hoi_ros.core.geometry import matrix_to_quat, quat_wxyz_to_xyzw
from hoi_ros.msg import HOIMotion
from hoi_ros.nodes.conversions import motion_msg_to_sequence
from hoi_ros.nodes.frames import FrameBroadcaster, transform
from hoi_ros.nodes.image_conversion import msg_to_rgb
from hoi_ros.nodes.parameters import declare, declare_strings, on_change
from hoi_ros.nodes.robots import DEFAULT_FOLDERS, find_robot
from hoi_ros.nodes.runtime import StartupError, guarded_callback, guarded_service, resolve_path, spin_node
from hoi_ros.retarget import RetargetConfig, RetargetResult, SequenceRetargeter, StreamingRetargeter
from hoi_ros.retarget.human import hand_of
from hoi_ros.srv import Retarget


def _duration(seconds: float) -> Duration:
    sec = int(np.floor(seconds))
    return Duration(sec=sec, nanosec=round((seconds - sec) * 1e9) % 1_000_000_000)


def _pose(matrix: np.ndarray) -> Pose:
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in matrix[:3, 3])
    x, y, z, w = quat_wxyz_to_xyzw(matrix_to_quat(matrix[:3, :3]))
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = float(x), float(y), float(z), \
        float(w)
    return pose


def result_to_trajectory(res: RetargetResult, frame_id: str) -> JointTrajectory:
    """Every revolute joint per frame; velocities by central differences (one-sided at the ends)."""
    traj = JointTrajectory()
    traj.header.frame_id = frame_id
    traj.joint_names = list(res.full_joint_names)
    q = res.full_qpos
    vel = np.gradient(q, 1.0 / res.fps, axis=0) if len(q) > 1 else np.zeros_like(q)
    for t in range(res.num_frames):
        point = JointTrajectoryPoint()
        point.positions = q[t].astype(float).tolist()
        point.velocities = vel[t].astype(float).tolist()
        point.time_from_start = _duration(t / res.fps)
        traj.points.append(point)
    return traj


def fill_response(resp: Retarget.Response, res: RetargetResult, frame_id: str, seconds: float) -> Retarget.Response:
    resp.success = True
    resp.robot = res.robot
    resp.trajectory = result_to_trajectory(res, frame_id)
    resp.actuated_joint_names = list(res.joint_names)
    resp.fingertip_links = list(res.fingertip_links)
    resp.fingertip_error = res.fingertip_error.astype(np.float32).reshape(-1).tolist()
    resp.collision = [bool(c) for c in res.collision]
    resp.min_distance = np.nan_to_num(res.min_distance, posinf=1e9).astype(np.float32).tolist()
    resp.scale = float(res.scale)
    resp.wrist_poses = [_pose(m) for m in res.wrist_pose]
    resp.solve_time = float(seconds)
    resp.message = (f"{res.num_frames} frames to {res.robot} in {seconds:.3f} s: mean fingertip error "
                    f"{res.fingertip_error.mean() * 1000:.1f} mm, {int(res.collision.sum())} collision frames"
                    + "".join(f"; {w}" for w in res.warnings))
    return resp


def latched_qos() -> QoSProfile:
    return QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class RetargetNode(Node):
    """Service + streaming retargeting (see the module docstring)."""

    node_name = "hoi_retarget"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("namespace", "hoi")
        super().__init__("hoi_retarget", **kwargs)
        solver_config = str(declare(self, "solver_config", "config/retarget/default.yaml",
                                    "retargeting solver YAML (section 'retarget')"))
        try:
            self.base_config = RetargetConfig.from_yaml(resolve_path(solver_config, "solver_config"))
        except Exception as exc:
            raise StartupError("solver_config", f"{type(exc).__name__}: {exc}") from None
        folders = declare_strings(self, "robot_folders", list(DEFAULT_FOLDERS),
                                  "folders searched for <robot>.yaml (the package's urdf/ and the user's)")
        self.robot_folders = [self._folder(f) for f in folders]
        self.robot = str(declare(self, "robot", "", "robot of the stream and of requests naming none "
                                 "('' = the solver config's)")) or self.base_config.robot
        self.stream = bool(declare(self, "stream", True, "retarget every motion and play it back"))
        self.link_frames = bool(declare(self, "link_frames", True, "broadcast every robot link on /tf (off where "
                                        "robot_state_publisher does it)"))
        frame_input = bool(declare(self, "frame_input", True, "retarget hand keypoints frame by frame"))
        image_input = bool(declare(self, "image_input", False, "retarget images frame by frame (video extra)"))
        streaming_config = str(declare(self, "streaming_config", "config/retarget/streaming.yaml",
                                       "solver YAML of the frame-by-frame paths"))
        self.loop = bool(declare(self, "loop", True, "replay the last streamed motion", read_only=False))
        self.speed = float(declare(self, "speed", 1.0, "playback speed (1 = the motion's fps)", read_only=False,
                                   low=0.01, high=100.0))
        try:
            desc = find_robot(self.robot, self.robot_folders)  # fails early with the reason
        except ValueError as exc:
            raise StartupError("robot", str(exc).removeprefix("robot: ")) from None
        urdf = desc.to_urdf()
        self.root_link = desc.root
        # Always this robot's URDF (a value from a parameter file is ignored).
        self.declare_parameter("robot_description", urdf,
                               ParameterDescriptor(description="URDF of the robot", read_only=True),
                               ignore_override=True)

        self._solve_lock = threading.Lock()  # one solve at a time; retargeters are cached per robot
        self._play_lock = threading.Lock()  # the stream being played back
        self._retargeters: dict[str, SequenceRetargeter] = {}
        self._retargeter(self.robot)
        self._online: Any = None  # StreamingRetargeter or ImageStreamRetargeter of the node's robot
        if frame_input or image_input:
            try:
                online_config = RetargetConfig.from_yaml(resolve_path(streaming_config, "streaming_config"))
            except Exception as exc:
                raise StartupError("streaming_config", f"{type(exc).__name__}: {exc}") from None
            if image_input:
                try:
                    from hoi_ros.retarget.from_video import ImageStreamRetargeter

                    self._online = ImageStreamRetargeter(desc, online_config)
                except ImportError as exc:
                    raise StartupError("image_input", f"needs the video extra (pip install --no-deps -r "
                                       f"requirements/video.txt): {exc}") from None
            else:
                self._online = StreamingRetargeter(desc, online_config)

        self.create_publisher(String, "robot_description", latched_qos()).publish(String(data=urdf))
        self.trajectory_pub = self.create_publisher(JointTrajectory, "retarget/trajectory", latched_qos())
        self.joint_pub = self.create_publisher(JointState, "retarget/joint_states", 10)
        self.wrist_pub = self.create_publisher(PoseStamped, "retarget/wrist_pose", 10)
        self.frames = FrameBroadcaster(self)
        self.create_service(Retarget, "retarget", guarded_service(self, self._on_service, "motion"),
                            callback_group=MutuallyExclusiveCallbackGroup())
        if self.stream:
            self.create_subscription(HOIMotion, "motion", guarded_callback(self, self._on_motion, "motion"),
                                     latched_qos(), callback_group=MutuallyExclusiveCallbackGroup())
        if frame_input and not image_input:
            self.create_subscription(HOIMotion, "retarget/hand_frames",
                                     guarded_callback(self, self._on_hand_frames, "hand_frames"), 10,
                                     callback_group=MutuallyExclusiveCallbackGroup())
        if image_input:
            self.create_subscription(Image, "retarget/image", guarded_callback(self, self._on_image, "image"), 10,
                                     callback_group=MutuallyExclusiveCallbackGroup())
        self._play: tuple[RetargetResult, str] | None = None
        self._frame = 0
        self._timer = None
        on_change(self, self._on_parameters)
        self.get_logger().info(f"retargeting to {self.robot} ({len(desc.actuated_joints)} actuated joints)"
                               f"{', streaming ' + self.resolve_topic_name('motion') if self.stream else ''}")

    @staticmethod
    def _folder(folder: str) -> Path:
        try:
            return resolve_path(folder, "robot_folders")
        except FileNotFoundError:
            return Path(folder).expanduser()  # may appear later (e.g. the user's folder)

    def _on_parameters(self, values: dict[str, Any]) -> None:
        if "loop" in values:
            self.loop = bool(values["loop"])
        if "speed" in values:
            self.speed = float(values["speed"])
            with self._play_lock:
                play = self._play
            if play is not None:
                self._start_timer(play[0].fps)

    def _start_timer(self, fps: float) -> None:
        if self._timer is not None:
            self.destroy_timer(self._timer)
        self._timer = self.create_timer(1.0 / (fps * self.speed), guarded_callback(self, self._tick, "playback"))

    def _retargeter(self, robot: str) -> SequenceRetargeter:
        if robot not in self._retargeters:
            self._retargeters[robot] = SequenceRetargeter(find_robot(robot, self.robot_folders), self.base_config)
        return self._retargeters[robot]

    def _solve(self, msg: HOIMotion, robot: str) -> tuple[RetargetResult, float]:
        seq = motion_msg_to_sequence(msg)
        with self._solve_lock:
            rt = self._retargeter(robot)
            tic = time.perf_counter()
            res = rt.retarget(hand_of(seq.hand_joints, seq.hand_sides, rt.config.hand), fps=seq.fps)
            return res, time.perf_counter() - tic

    # ----------------------------------------------------------------- service
    def _on_service(self, request: Retarget.Request, response: Retarget.Response) -> Retarget.Response:
        robot = request.robot or self.robot
        try:
            res, seconds = self._solve(request.motion, robot)
        except ValueError as exc:  # RequestError (robot) or the motion's own checks, naming the field
            response.success, response.robot, response.message = False, robot[:80], str(exc)
            return response
        return fill_response(response, res, request.motion.header.frame_id, seconds)

    # ----------------------------------------------------------------- streaming
    def _on_motion(self, msg: HOIMotion) -> None:
        try:
            res, seconds = self._solve(msg, self.robot)
        except ValueError as exc:
            self.get_logger().error(f"cannot retarget the motion: {exc}")
            return
        self.trajectory_pub.publish(result_to_trajectory(res, msg.header.frame_id))
        with self._play_lock:
            self._play, self._frame = (res, msg.header.frame_id), 0
        self._start_timer(res.fps)
        self.get_logger().info(f"retargeted {res.num_frames} frames in {seconds:.3f} s; streaming joint states")

    # ----------------------------------------------------------------- online, frame by frame
    def _publish_frame(self, frame: Any, stamp: Any, frame_id: str) -> None:
        js = JointState()
        js.header.stamp, js.header.frame_id = stamp, frame_id
        js.name = list(self._online_names())
        js.position = np.asarray(frame.full_qpos, dtype=float).tolist()
        self.joint_pub.publish(js)
        wrist = PoseStamped()
        wrist.header.stamp, wrist.header.frame_id = stamp, frame_id
        wrist.pose = _pose(frame.wrist_pose)
        self.wrist_pub.publish(wrist)
        online = getattr(self._online, "retargeter", self._online)
        self._send_robot_frames(online.kin, frame.qpos, frame.wrist_pose, frame_id, stamp)

    def _send_robot_frames(self, kin: Any, qpos: np.ndarray, wrist_pose: np.ndarray, frame_id: str,
                           stamp: Any) -> None:
        """The root link at the retargeted wrist, and (``link_frames``) every other link in the root's
        frame from the robot's forward kinematics, as robot_state_publisher would give them."""
        out = [transform(wrist_pose, frame_id, self.root_link, stamp)]
        if self.link_frames:
            fk = kin.forward(np.asarray(qpos, dtype=np.float64))
            pose = np.eye(4)
            for i, link in enumerate(kin.link_names):
                if link != self.root_link:
                    pose[:3, :3], pose[:3, 3] = fk.rot[0, i], fk.pos[0, i]
                    out.append(transform(pose, self.root_link, link, stamp))
        self.frames.send(out)

    def _online_names(self) -> list[str]:
        online = getattr(self._online, "retargeter", self._online)
        return list(online.full_joint_names)

    def _on_hand_frames(self, msg: HOIMotion) -> None:
        if msg.num_frames == 0:
            self._online.reset()
            return
        try:
            seq = motion_msg_to_sequence(msg)
            hand = hand_of(seq.hand_joints, seq.hand_sides, self._online.config.hand)
            frames = [self._online.step(kp) for kp in hand]
        except ValueError as exc:
            self.get_logger().error(f"hand_frames: cannot retarget: {exc}")
            return
        for frame in frames:
            for warning in frame.warnings:
                self.get_logger().warning(warning)
            self._publish_frame(frame, msg.header.stamp, msg.header.frame_id)

    def _on_image(self, msg: Image) -> None:
        frame = self._online.step(msg_to_rgb(msg, field="image"))
        if frame is not None:
            self._publish_frame(frame, msg.header.stamp, msg.header.frame_id)

    def destroy_node(self) -> None:
        close = getattr(self._online, "close", None)
        if close is not None:
            close()
        super().destroy_node()

    def _tick(self) -> None:
        with self._play_lock:
            if self._play is None:
                return
            res, frame_id = self._play
            t = self._frame
            self._frame += 1
            if self._frame >= res.num_frames:
                self._frame = 0
                if not self.loop:
                    self._play = None
        stamp = self.get_clock().now().to_msg()
        js = JointState()
        js.header.stamp = stamp
        js.name = list(res.full_joint_names)
        js.position = res.full_qpos[t].astype(float).tolist()
        self.joint_pub.publish(js)
        wrist = PoseStamped()
        wrist.header.stamp, wrist.header.frame_id = stamp, frame_id
        wrist.pose = _pose(res.wrist_pose[t])
        self.wrist_pub.publish(wrist)
        # The robot's root link at the retargeted wrist, and its other links (robot_state_publisher's job
        # where it runs: link_frames false).
        self._send_robot_frames(self._retargeter(self.robot).kin, res.qpos[t], res.wrist_pose[t], frame_id, stamp)


def main(args: list[str] | None = None) -> int:
    return spin_node(RetargetNode, 3, args)


if __name__ == "__main__":
    raise SystemExit(main())
