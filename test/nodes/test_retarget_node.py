"""hoi_retarget over real DDS (node in a separate process): service, streaming, robot description."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from ros_support import BackgroundClient, NodeProcess, ros_available, wait_for

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "retarget" / "default.yaml"

pytestmark = [pytest.mark.ros, pytest.mark.skipif(not ros_available(), reason="rclpy / interfaces not built")]


def _sequence(num_frames: int = 24, fps: float = 12.0):
    from hoi_ros.core.synthetic import reach_grasp_lift

    return reach_grasp_lift(num_frames=num_frames, fps=fps, image_size=(40, 56), num_object_points=8)


class Client(BackgroundClient):
    """A private rclpy context with a /hoi/retarget client and listeners on the node's outputs."""

    def __init__(self) -> None:
        from geometry_msgs.msg import PoseStamped
        from hoi_ros.msg import HOIMotion
        from hoi_ros.srv import Retarget
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import JointState
        from std_msgs.msg import String
        from trajectory_msgs.msg import JointTrajectory

        super().__init__("retarget_test_client")
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        from tf2_msgs.msg import TFMessage

        self.got: dict[str, list] = {"joint_states": [], "wrist": [], "trajectory": [], "description": [], "tf": []}
        self.node.create_subscription(TFMessage, "/tf", self.got["tf"].append, 100)
        self.node.create_subscription(JointState, "/hoi/retarget/joint_states", self.got["joint_states"].append, 100)
        self.node.create_subscription(PoseStamped, "/hoi/retarget/wrist_pose", self.got["wrist"].append, 100)
        self.node.create_subscription(JointTrajectory, "/hoi/retarget/trajectory", self.got["trajectory"].append,
                                      latched)
        self.node.create_subscription(String, "/hoi/robot_description", self.got["description"].append, latched)
        self.motion_pub = self.node.create_publisher(HOIMotion, "/hoi/motion", latched)
        self.frames_pub = self.node.create_publisher(HOIMotion, "/hoi/retarget/hand_frames", 100)
        self.client = self.node.create_client(Retarget, "/hoi/retarget")
        self.start()

    def call(self, motion, robot: str = "", timeout: float = 60.0):
        from hoi_ros.srv import Retarget

        req = Retarget.Request()
        req.motion, req.robot = motion, robot
        future = self.client.call_async(req)
        event = threading.Event()
        future.add_done_callback(lambda _f: event.set())
        assert event.wait(timeout), "no response from /hoi/retarget"
        return future.result()

    def parameter(self, node_name: str, name: str):
        from rcl_interfaces.srv import GetParameters

        cli = self.node.create_client(GetParameters, f"/hoi/{node_name}/get_parameters")
        assert cli.wait_for_service(timeout_sec=20)
        future = cli.call_async(GetParameters.Request(names=[name]))
        event = threading.Event()
        future.add_done_callback(lambda _f: event.set())
        assert event.wait(20)
        return future.result().values[0]



    def set_parameter(self, node_name: str, name: str, value: float):
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        cli = self.node.create_client(SetParameters, f"/hoi/{node_name}/set_parameters")
        assert cli.wait_for_service(timeout_sec=20)
        future = cli.call_async(SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()]))
        event = threading.Event()
        future.add_done_callback(lambda _f: event.set())
        assert event.wait(20)
        return future.result().results[0]


def _robot_folder(root: Path) -> Path:
    """A user's robot folder holding broken robot descriptions, one per way a file can be wrong."""
    folder = root / "robots"
    folder.mkdir()
    (folder / "not_yaml.yaml").write_text("name: [unclosed\nsecret: hunter2\n")
    (folder / "not_xml.urdf").write_text("this is not XML")
    (folder / "bad_urdf.yaml").write_text("name: bad_urdf\nurdf: not_xml.urdf\nkeypoints: {palm: 0}\n")
    (folder / "a_folder.yaml").mkdir()
    (folder / "no_keypoints.yaml").write_text("name: no_keypoints\nurdf: not_xml.urdf\n")
    # A good one: the Allegro-like hand under another name, its URDF beside the YAML.
    from hoi_ros.retarget import get_robot

    allegro = get_robot("allegro")
    (folder / "my_hand.urdf").write_text(allegro.to_urdf())
    (folder / "my_hand.yaml").write_text(yaml.safe_dump({"name": "my_hand", "urdf": "my_hand.urdf",
                                                         "keypoints": dict(allegro.keypoints)}))
    return folder


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    client = Client()
    folder = _robot_folder(tmp_path_factory.mktemp("robots"))
    params = {"solver_config": str(CONFIG), "robot": "allegro", "stream": True, "loop": False,
              "robot_folders": [str(folder)]}
    try:
        with NodeProcess("hoi_ros.nodes.retarget_node", "hoi_retarget_test", params) as node:
            wait_for(lambda: client.client.service_is_ready(), 60, "/hoi/retarget", node)
            yield client, node
    finally:
        client.close()


def test_service_returns_the_core_result_as_a_joint_trajectory(served) -> None:
    from hoi_ros.nodes.conversions import sequence_to_motion_msg
    from hoi_ros.retarget import RetargetConfig, SequenceRetargeter

    client, _node = served
    seq = _sequence()
    resp = client.call(sequence_to_motion_msg(seq, "table"))
    assert resp.success, resp.message
    expected = SequenceRetargeter("allegro", RetargetConfig.from_yaml(CONFIG)).retarget(seq.hand_joints, seq.fps)
    traj = resp.trajectory
    assert resp.robot == "allegro" and traj.header.frame_id == "table"
    assert list(traj.joint_names) == expected.full_joint_names
    assert list(resp.actuated_joint_names) == expected.joint_names
    assert len(traj.points) == seq.num_frames
    positions = np.array([p.positions for p in traj.points])
    np.testing.assert_allclose(positions, expected.full_qpos, atol=1e-12)
    times = np.array([p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in traj.points])
    np.testing.assert_allclose(times, np.arange(seq.num_frames) / seq.fps, atol=1e-9)
    velocities = np.array([p.velocities for p in traj.points])
    np.testing.assert_allclose(velocities, np.gradient(expected.full_qpos, 1 / seq.fps, axis=0), atol=1e-9)
    errors = np.asarray(resp.fingertip_error).reshape(seq.num_frames, -1)
    np.testing.assert_allclose(errors, expected.fingertip_error, atol=1e-6)
    assert list(resp.fingertip_links) == expected.fingertip_links
    assert list(resp.collision) == expected.collision.tolist() and len(resp.min_distance) == seq.num_frames
    assert len(resp.wrist_poses) == seq.num_frames
    p0 = resp.wrist_poses[0].position
    np.testing.assert_allclose([p0.x, p0.y, p0.z], seq.hand_joints[0, 0], atol=1e-6)
    assert resp.scale == pytest.approx(expected.scale) and resp.solve_time > 0


def test_service_other_robot_and_errors(served) -> None:
    from hoi_ros.nodes.conversions import sequence_to_motion_msg

    client, node = served
    seq = _sequence(10)
    resp = client.call(sequence_to_motion_msg(seq, "table"), robot="inspire")
    assert resp.success, resp.message
    assert resp.robot == "inspire"
    assert len(resp.trajectory.joint_names) == 12 and len(resp.actuated_joint_names) == 6
    resp = client.call(sequence_to_motion_msg(seq, "table"), robot="shadow_hand_xyz")
    assert not resp.success and "unknown robot 'shadow_hand_xyz'" in resp.message
    joints = seq.hand_joints.copy()
    joints[4, 7, 0] = np.nan
    bad = sequence_to_motion_msg(seq, "table")
    bad.hand_joints = joints.astype(np.float32).reshape(-1).tolist()
    resp = client.call(bad)
    # HOISequence (the message conversion) already refuses it, naming the field and the first bad value.
    assert not resp.success and "hand_joints: contains NaN or Inf (first at index [4, 7, 0])" in resp.message
    bad.num_frames = 3
    resp = client.call(bad)
    assert not resp.success and "hand_joints:" in resp.message
    # A left hand alone is refused by name; with both hands the right one is used wherever it is.
    left = _sequence(10)
    left.hand_sides = ("left",)
    resp = client.call(sequence_to_motion_msg(left, "table"))
    assert not resp.success and "the motion has no right hand (its hands: ['left'])" in resp.message
    both = _sequence(10)
    both.hand_joints = np.concatenate([both.hand_joints + 1.0, both.hand_joints], axis=1)
    both.hand_sides = ("left", "right")
    resp = client.call(sequence_to_motion_msg(both, "table"))
    right_only = client.call(sequence_to_motion_msg(_sequence(10), "table"))
    assert resp.success and right_only.success
    np.testing.assert_allclose([p.positions for p in resp.trajectory.points],
                               [p.positions for p in right_only.trajectory.points], atol=1e-12)
    node.assert_alive()


def test_stream_plays_joint_states_of_published_motions(served) -> None:
    from hoi_ros.nodes.conversions import sequence_to_motion_msg
    from hoi_ros.retarget import get_robot

    client, node = served
    seq = _sequence(12, fps=24.0)
    client.motion_pub.publish(sequence_to_motion_msg(seq, "table"))
    wait_for(lambda: len(client.got["trajectory"]) >= 1, 60, "/hoi/retarget/trajectory", node)
    traj = client.got["trajectory"][-1]
    assert len(traj.points) == seq.num_frames
    wait_for(lambda: len(client.got["joint_states"]) >= seq.num_frames, 30, "a played-back stream", node)
    states = client.got["joint_states"][: seq.num_frames]
    assert list(states[0].name) == list(traj.joint_names)
    np.testing.assert_allclose([s.position for s in states], [p.positions for p in traj.points], atol=1e-12)
    assert client.got["wrist"][0].header.frame_id == "table"
    # The robot's root link follows the retargeted wrist on /tf (robot_state_publisher adds the rest).
    root = get_robot("allegro").root
    wait_for(lambda: len(client.got["tf"]) >= seq.num_frames, 10, "the robot's frames on /tf", node)
    frames = [t for m in client.got["tf"] for t in m.transforms if t.child_frame_id == root]
    assert frames and {t.header.frame_id for t in frames} == {"table"}
    # Every other link of the robot hand hangs on the root at its forward-kinematics pose.
    robot = get_robot("allegro")
    links = {t.child_frame_id for m in client.got["tf"] for t in m.transforms if t.header.frame_id == root}
    assert links == set(robot.links) - {root}
    first = client.got["wrist"][0].pose.position
    tr = frames[0].transform.translation
    np.testing.assert_allclose([tr.x, tr.y, tr.z], [first.x, first.y, first.z], atol=1e-9)
    # loop is false: the stream stops after one pass.
    count = len(client.got["joint_states"])
    time.sleep(1.0)
    assert len(client.got["joint_states"]) == count
    # The robot description is latched on /robot_description and is the node's parameter.
    wait_for(lambda: len(client.got["description"]) >= 1, 10, "/robot_description", node)
    urdf = get_robot("allegro").to_urdf()
    assert client.got["description"][-1].data == urdf
    assert client.parameter("hoi_retarget_test", "robot_description").string_value == urdf


def test_hand_frames_are_retargeted_one_by_one_as_the_library_streams_them(served) -> None:
    """Online path: single-frame messages in, one JointState each, equal to the library's streaming
    retargeter fed the same frames (state kept across messages)."""
    from hoi_ros.nodes.conversions import sequence_to_motion_msg
    from hoi_ros.retarget import RetargetConfig, StreamingRetargeter

    client, node = served
    seq = _sequence(16, fps=30.0)
    wait_for(lambda: client.frames_pub.get_subscription_count() >= 1, 30, "the hand_frames subscriber", node)
    for t in range(seq.num_frames):
        one = seq.__class__(seq.hand_joints[t : t + 1], seq.object_points[t : t + 1], seq.camera, seq.fps)
        msg = sequence_to_motion_msg(one, "hands_cam")
        msg.header.stamp.sec, msg.header.stamp.nanosec = 100, t
        client.frames_pub.publish(msg)
        time.sleep(0.02)

    def online() -> list:
        return [m for m in client.got["joint_states"] if m.header.frame_id == "hands_cam"]

    wait_for(lambda: len(online()) >= seq.num_frames, 30, "one JointState per frame", node)
    states = sorted(online(), key=lambda m: m.header.stamp.nanosec)
    assert [m.header.stamp.nanosec for m in states] == list(range(seq.num_frames))
    streamer = StreamingRetargeter("allegro", RetargetConfig.from_yaml(REPO / "config/retarget/streaming.yaml"))
    expected = [streamer.step(kp).full_qpos for kp in seq.hand_joints]
    assert list(states[0].name) == streamer.full_joint_names
    np.testing.assert_allclose([m.position for m in states], expected, atol=1e-9)
    node.assert_alive()


@pytest.mark.parametrize(("robot", "expected"), [
    ("/etc/passwd/x.yaml", "robot: '/etc/passwd/x.yaml' is not a robot name"),
    ("../../etc/hostname", "is not a robot name"),
    ("allegro.yaml", "is not a robot name"),
    ("not_yaml", "robot: not_yaml: not_yaml.yaml is not valid YAML (line 2)"),
    ("bad_urdf", "robot: bad_urdf: cannot load bad_urdf.yaml: ParseError"),
    ("a_folder", "robot: unknown robot 'a_folder'"),
    ("no_keypoints", "robot: no_keypoints: cannot load no_keypoints.yaml:"),
])
def test_every_bad_robot_is_answered_by_name_and_the_node_keeps_serving(served, robot, expected) -> None:
    from hoi_ros.nodes.conversions import sequence_to_motion_msg

    client, node = served
    resp = client.call(sequence_to_motion_msg(_sequence(6), "table"), robot=robot, timeout=30)
    assert not resp.success and expected in resp.message, resp.message
    assert "hunter2" not in resp.message and "hunter2" not in node.log()  # no file contents anywhere
    time.sleep(0.2)
    node.assert_alive()
    ok = client.call(sequence_to_motion_msg(_sequence(6), "table"), robot="inspire", timeout=30)
    assert ok.success, ok.message


def test_a_robot_from_the_configured_folders_by_name(served) -> None:
    from hoi_ros.nodes.conversions import sequence_to_motion_msg

    client, _node = served
    resp = client.call(sequence_to_motion_msg(_sequence(6), "table"), robot="my_hand", timeout=60)
    assert resp.success and resp.robot == "my_hand", resp.message
    assert len(resp.actuated_joint_names) == 16


def test_runtime_parameter_changes_outside_the_range_are_refused(served) -> None:
    client, node = served
    refused = client.set_parameter("hoi_retarget_test", "speed", -5.0)
    assert not refused.successful and "range" in refused.reason, refused.reason
    assert client.parameter("hoi_retarget_test", "speed").double_value == 1.0
    read_only = client.set_parameter("hoi_retarget_test", "robot", "inspire")
    assert not read_only.successful and "read-only" in read_only.reason, read_only.reason
    accepted = client.set_parameter("hoi_retarget_test", "speed", 2.0)
    assert accepted.successful, accepted.reason
    assert client.parameter("hoi_retarget_test", "speed").double_value == 2.0
    assert client.set_parameter("hoi_retarget_test", "speed", 1.0).successful
    node.assert_alive()


def test_start_up_error_names_the_parameter_and_ends_the_process(tmp_path) -> None:
    params = {"solver_config": str(CONFIG), "robot": "/etc/hostname.yaml"}
    with NodeProcess("hoi_ros.nodes.retarget_node", "hoi_retarget_bad", params) as node:
        assert node.wait_exit(60) == 1
        log = node.log()
    assert "cannot start: robot: '/etc/hostname.yaml' is not a robot name" in log, log
    assert "Traceback" not in log, log
    params = {"solver_config": str(CONFIG), "speed": -5.0}
    with NodeProcess("hoi_ros.nodes.retarget_node", "hoi_retarget_bad", params) as node:
        assert node.wait_exit(60) == 1
        log = node.log()
    assert "cannot start: speed: -5.0 is outside 0.01..100.0" in log, log


def test_images_in_joint_states_out(tmp_path) -> None:
    """Images path: frames of the shared real hand video on /hoi/retarget/image come back as robot
    joint states (MediaPipe's hand landmarker, the video extra)."""
    pytest.importorskip("mediapipe")
    from sensor_msgs.msg import Image
    from shared_data import REAL_HAND_VIDEO

    from hoi_ros.core.io import read_video
    from hoi_ros.nodes.image_conversion import image_to_msg

    frames = read_video(REAL_HAND_VIDEO)[:6]
    client = Client()
    pub = client.node.create_publisher(Image, "/hoi/retarget/image", 10)
    params = {"solver_config": str(CONFIG), "robot": "allegro", "stream": False, "image_input": True}
    try:
        with NodeProcess("hoi_ros.nodes.retarget_node", "hoi_retarget_images", params) as node:
            wait_for(lambda: pub.get_subscription_count() >= 1, 60, "the image subscriber", node)
            for t, rgb in enumerate(frames):
                msg = image_to_msg(rgb)
                msg.header.frame_id, msg.header.stamp.nanosec = "hand_camera", t
                pub.publish(msg)
                time.sleep(0.1)
            wait_for(lambda: len([m for m in client.got["joint_states"] if m.header.frame_id == "hand_camera"])
                     >= len(frames), 60, "a joint state per image", node)
            states = [m for m in client.got["joint_states"] if m.header.frame_id == "hand_camera"]
            assert all(np.isfinite(m.position).all() and len(m.position) == len(states[0].name) for m in states)
            node.assert_alive()
    finally:
        client.close()
