"""hoi_pam with PAM's tiny config over real DDS (node in a separate process).

One node serves the module: a sim goal with feedback per stage and denoising step, its files, motion
and video topics; cancellation within a step and the next goal served; per-seed determinism from
a pose file; a failure in the worker answered; bad goals answered by field name before any compute;
start-up refusing a missing model.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ros_support import BackgroundClient, NodeProcess, ros_available, wait_for

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "config" / "models" / "pam" / "tiny_for_tests.yaml"
T, H, W = 9, 32, 48  # the tiny config's clip

pytestmark = [
    pytest.mark.ros,
    pytest.mark.skipif(not ros_available(), reason="rclpy / interfaces not built"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]


class PAMClient(BackgroundClient):
    """/hoi/pam/generate action client and the node's topics, in a private rclpy context."""

    def __init__(self) -> None:
        from hoi_ros.action import PAMGenerate
        from hoi_ros.msg import HOIMotion
        from rclpy.action import ActionClient
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        super().__init__("pam_test_client")
        self.action = ActionClient(self.node, PAMGenerate, "/hoi/pam/generate")
        self.video: list = []
        self.motion: list = []
        self.node.create_subscription(Image, "/hoi/pam/video", self.video.append, 50)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(HOIMotion, "/hoi/pam/motion", self.motion.append, latched)
        self.start()

    @staticmethod
    def wait_future(future: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while not future.done():
            assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
            time.sleep(0.01)
        return future.result()

    def send(self, feedback: list | None = None, **fields: Any) -> Any:
        """Send a goal (a grasp_lift of a mug, 2 steps, unless ``fields`` say otherwise); the handle."""
        from hoi_ros.action import PAMGenerate

        goal = PAMGenerate.Goal(task="grasp_lift", object="mug", num_inference_steps=2, seed=0, sim_seed=0)
        for key, value in fields.items():
            setattr(goal, key, value)
        cb = (lambda msg: feedback.append(msg.feedback)) if feedback is not None else None
        handle = self.wait_future(self.action.send_goal_async(goal, feedback_callback=cb), 30, "the goal response")
        assert handle.accepted, "every goal is accepted (and answered)"
        return handle

    def result(self, handle: Any, timeout: float = 120.0) -> tuple[int, Any]:
        res = self.wait_future(handle.get_result_async(), timeout, "the action result")
        return res.status, res.result

    def run(self, feedback: list | None = None, timeout: float = 120.0, **fields: Any) -> tuple[int, Any]:
        return self.result(self.send(feedback, **fields), timeout)

    def close(self) -> None:
        self.action.destroy()
        super().close()


def _pose_file(path: Path) -> Path:
    """A short HOISequence (the hand 0.5 m in front of the camera) as a pose file."""
    from hoi_ros.core.camera import Camera
    from hoi_ros.core.sequence import HOISequence

    rng = np.random.default_rng(0)
    return HOISequence(hand_joints=rng.normal(0.0, 0.05, size=(12, 21, 3)).astype(np.float32) + [0.0, 0.0, 0.5],
                       object_points=rng.normal(size=(12, 8, 3)).astype(np.float32),
                       camera=Camera.from_fov(W, H, 50.0), fps=8.0, prompt="lift the cup").save(path)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(client, node, output_root, poses root) of one hoi_pam loaded with the tiny config."""
    out = tmp_path_factory.mktemp("pam_out")
    poses = tmp_path_factory.mktemp("pam_poses")
    _pose_file(poses / "lift")
    params = {"model": str(TINY), "output_root": str(out), "input_roots": [str(poses)], "queue_size": 1,
              "frame_id": "table", "name_check_s": 0.0}
    client = PAMClient()
    try:
        with NodeProcess("hoi_ros.nodes.pam_node", "hoi_pam", params) as node:
            wait_for(client.action.server_is_ready, 120, "/hoi/pam/generate", node)
            yield client, node, out, poses
    finally:
        client.close()


def test_sim_goal_gives_video_motion_files_and_feedback(served) -> None:
    from action_msgs.msg import GoalStatus

    from hoi_ros.core.sequence import HOISequence
    from hoi_ros.nodes.conversions import motion_msg_to_sequence

    client, node, out, _ = served
    feedback: list = []
    status, result = client.run(feedback, seed=3, request_id="sim-1", return_video=True)
    assert status == GoalStatus.STATUS_SUCCEEDED, result.message
    assert result.success and result.request_id == "sim-1" and result.seed == 3
    assert result.video_path == str(out / "sim-1" / "sim-1.mp4") and Path(result.video_path).is_file()
    assert result.sequence_path == str(out / "sim-1" / "sim-1.npz")
    saved = HOISequence.load(result.sequence_path)
    assert saved.video.shape == (T, H, W, 3) and saved.prompt == "grasp the white mug and lift it up"
    assert saved.metadata["generator"] == "pam" and saved.metadata["request_id"] == "sim-1"
    motion = motion_msg_to_sequence(result.motion)
    assert result.motion.header.frame_id == "table" and result.motion.num_frames == T
    np.testing.assert_array_equal(motion.hand_joints, saved.hand_joints)
    assert len(result.video) == T and {(m.height, m.width, m.encoding) for m in result.video} == {(H, W, "rgb8")}
    # Feedback: every stage in order, one message per denoising step of both stages (2 x 2).
    time.sleep(0.2)  # feedback and result travel on different topics
    stages = [f.stage for f in feedback]
    assert stages[0] == "queued"
    assert [s for i, s in enumerate(stages) if i == 0 or s != stages[i - 1]] == [
        "queued", "rendering", "encoding", "denoising", "decoding", "writing"]
    assert [(f.step, f.total_steps) for f in feedback if f.stage == "denoising"] == [(i, 4) for i in range(5)]
    progress = [f.progress for f in feedback]
    assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0)
    # Topics: the trajectory (latched) and the video, played once at its fps.
    wait_for(lambda: len(client.video) >= T and client.motion, 15, "/hoi/pam/video and /hoi/pam/motion", node)
    np.testing.assert_array_equal(motion_msg_to_sequence(client.motion[-1]).hand_joints, saved.hand_joints)
    frames = [np.frombuffer(bytes(m.data), np.uint8).reshape(H, W, 3) for m in client.video[-T:]]
    np.testing.assert_array_equal(frames[0], np.frombuffer(bytes(result.video[0].data), np.uint8).reshape(H, W, 3))
    assert client.video[-1].encoding == "rgb8" and client.video[-1].header.frame_id == "hoi_pam_camera_optical_frame"


def test_cancel_stops_within_a_step_and_the_next_goal_runs(served) -> None:
    from action_msgs.msg import GoalStatus

    client, node, out, _ = served
    feedback: list = []
    handle = client.send(feedback, num_inference_steps=400, request_id="to-cancel")
    wait_for(lambda: any(f.stage == "denoising" for f in feedback), 60, "the first denoising step", node)
    client.wait_future(handle.cancel_goal_async(), 10, "the cancel response")
    status, result = client.result(handle, timeout=30)
    assert status == GoalStatus.STATUS_CANCELED, result.message
    assert not result.success and "cancel" in result.message
    assert max(f.step for f in feedback if f.stage == "denoising") < 800
    assert not (out / "to-cancel").exists()
    status, result = client.run(num_inference_steps=1, object="red box", task="push")
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success, result.message


def test_pose_file_goals_are_deterministic_per_seed(served) -> None:
    from action_msgs.msg import GoalStatus

    client, _node, _out, _poses = served

    def frames(seed: int) -> np.ndarray:
        status, result = client.run(pose_file="lift.npz", seed=seed, num_inference_steps=1, return_video=True)
        assert status == GoalStatus.STATUS_SUCCEEDED, result.message
        assert result.motion.prompt == "lift the cup"
        return np.stack([np.frombuffer(bytes(m.data), np.uint8) for m in result.video])

    first = frames(7)
    np.testing.assert_array_equal(first, frames(7))
    assert not np.array_equal(first, frames(8))


def test_a_failure_in_the_worker_is_answered_and_the_node_serves_on(served) -> None:
    from action_msgs.msg import GoalStatus

    client, node, out, _ = served
    (out / ".blocked.partial").write_text("a file where the worker makes its folder")
    status, result = client.run(pose_file="lift.npz", num_inference_steps=1, request_id="blocked")
    assert status == GoalStatus.STATUS_ABORTED and not result.success
    assert result.message.startswith("writing the output failed: FileExistsError"), result.message
    assert not (out / "blocked").exists()
    status, result = client.run(pose_file="lift.npz", num_inference_steps=1, request_id="after")
    assert status == GoalStatus.STATUS_SUCCEEDED and (out / "after" / "after.mp4").is_file(), result.message
    node.assert_alive()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"object": "unicorn"}, "invalid request: source.object: "),
        ({"object_pose": "nan", "use_object_pose": True}, "invalid request: source.object_pose.position: "),
        ({"pose_file": "/etc/passwd.npz", "conditions": "hand"}, "invalid request: pose_file: "),
        ({"pose_file": "../outside.npz"}, "invalid request: pose_file: "),
        ({"conditions": "rgb"}, "invalid request: conditions: "),
        ({"pose_file": "lift.npz", "conditions": "all"}, "invalid request: conditions: "),
        ({"num_inference_steps": 5000}, "invalid request: num_inference_steps: "),
        ({"request_id": "../x"}, "invalid request: request_id: "),
    ],
)
def test_bad_goals_are_answered_by_field_before_compute(served, fields: dict, expected: str) -> None:
    from action_msgs.msg import GoalStatus
    from geometry_msgs.msg import Pose

    client, _node, _out, _ = served
    fields = dict(fields)
    if fields.get("object_pose") == "nan":
        fields["object_pose"] = Pose()
        fields["object_pose"].position.x = math.nan
    start = time.monotonic()
    status, result = client.run(timeout=30, **fields)
    assert status == GoalStatus.STATUS_ABORTED and not result.success
    assert result.message.startswith(expected), result.message
    assert time.monotonic() - start < 5  # refused before any compute


def test_a_missing_model_stops_the_node_naming_the_parameter(tmp_path: Path) -> None:
    with NodeProcess("hoi_ros.nodes.pam_node", "hoi_pam_missing",
                     {"model": str(tmp_path / "no_such_model"), "output_root": str(tmp_path / "out"),
                      "name_check_s": 0.0}) as node:
        assert node.wait_exit(60) == 1, node.log()
        assert "cannot start: model: " in node.log() and "no_such_model" in node.log()
