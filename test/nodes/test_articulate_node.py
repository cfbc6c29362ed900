"""hoi_articulate over real DDS (node in a separate process): ArtHOI as the /hoi/articulate action.

One node serves the module with a small ArtHOI config (written here: fewer Gaussians and
iterations than config/models/arthoi/fast.yaml, so a goal takes seconds) and 4 fps sim videos: a
sim goal with feedback, a joint, metrics and markers; cancel mid-run, then frames + masks and
sequence_path goals; bad inputs answered by field name. The last test runs the node in-process to
make ArtHOI fail unexpectedly.
"""

from __future__ import annotations

import array
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from ros_support import BackgroundClient, NodeProcess, ros_available, wait_for

pytestmark = [pytest.mark.ros, pytest.mark.skipif(not ros_available(), reason="rclpy / interfaces not built")]

# A short ArtHOI (the plumbing is under test here; docs/arthoi.md measures the method).
SMALL = {"render": {"num_gaussians": 300}, "stage1": {"lr": 3.0e-3, "iterations": 30},
         "stage2": {"iterations": 100}}
FRAMES = 6  # frames of the frames + masks and sequence_path goals


def mono8(labels: np.ndarray) -> Any:
    """A raw ``mono8`` ``sensor_msgs/Image`` of ``[H, W]`` labels."""
    from sensor_msgs.msg import Image

    msg = Image()
    msg.height, msg.width = (int(v) for v in labels.shape)
    msg.encoding, msg.step = "mono8", int(labels.shape[1])
    msg.data = array.array("B", np.ascontiguousarray(labels, dtype=np.uint8).tobytes())
    return msg


def frames_goal(scene: Any, geometry: Path, **fields: Any) -> Any:
    """An Articulate goal with ``scene``'s video, masks, camera and pose, and ``geometry`` as geometry_path."""
    from hoi_ros.action import Articulate

    from hoi_ros.core.geometry import matrix_to_quat
    from hoi_ros.nodes.image_conversion import image_to_msg

    goal = Articulate.Goal()
    goal.frames = [image_to_msg(f) for f in scene.video]
    goal.masks = [mono8(np.where(o, 2, np.where(h, 1, 0))) for o, h in zip(scene.object_masks, scene.hand_masks,
                                                                            strict=True)]
    goal.camera.k = [float(v) for v in scene.camera.intrinsics.reshape(-1)]
    goal.camera.width, goal.camera.height = scene.camera.width, scene.camera.height
    pose = np.linalg.inv(scene.camera.extrinsics)
    goal.camera_pose.position.x, goal.camera_pose.position.y, goal.camera_pose.position.z = (
        float(v) for v in pose[:3, 3])
    q = goal.camera_pose.orientation
    q.w, q.x, q.y, q.z = (float(v) for v in matrix_to_quat(pose[:3, :3]))
    goal.geometry_path = str(geometry)
    for key, value in fields.items():
        setattr(goal, key, value)
    return goal


class ArticulateClient(BackgroundClient):
    """Action client of /hoi/articulate and listener of its motion and markers."""

    def __init__(self) -> None:
        from hoi_ros.action import Articulate
        from hoi_ros.msg import HOIMotion
        from rclpy.action import ActionClient
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from visualization_msgs.msg import MarkerArray

        super().__init__("articulate_test_client")
        self.action = ActionClient(self.node, Articulate, "/hoi/articulate")
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.motions: list = []
        self.markers: list = []
        self.node.create_subscription(HOIMotion, "/hoi/articulate/motion", self.motions.append, latched)
        self.node.create_subscription(MarkerArray, "/hoi/articulate/markers", self.markers.append, latched)
        self.start()

    def send(self, goal: Any, feedback: list | None = None) -> Any:
        cb = (lambda msg: feedback.append(msg.feedback)) if feedback is not None else None
        future = self.action.send_goal_async(goal, feedback_callback=cb)
        wait_for(future.done, 30, "the goal response")
        handle = future.result()
        assert handle.accepted
        return handle

    @staticmethod
    def result(handle: Any, timeout: float = 120.0) -> tuple[int, Any]:
        future = handle.get_result_async()
        wait_for(future.done, timeout, "the action result")
        return future.result().status, future.result().result

    def run(self, goal: Any, feedback: list | None = None, timeout: float = 120.0) -> tuple[int, Any]:
        return self.result(self.send(goal, feedback), timeout)

    def close(self) -> None:
        self.action.destroy()
        super().close()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Any]:
    """A short door scene (every third of 4 fps frames, no truth) as a scene file and as frames, its
    surface points as geometry, and the small config."""
    from hoi_ros.arthoi.pipeline import SceneInput, scene_from_episode
    from hoi_ros.arthoi.scene_io import save_scene
    from hoi_ros.sim.articulated import ArticulatedTask, run_articulated_episode

    root = tmp_path_factory.mktemp("articulate_inputs")
    episode = run_articulated_episode(ArticulatedTask(object="door", fps=4.0))
    full = scene_from_episode(episode, SMALL["render"]["num_gaussians"])
    keep = np.linspace(0, len(full.video) - 1, FRAMES).round().astype(int)
    scene = SceneInput(full.video[keep], full.object_masks[keep], full.hand_masks[keep], full.camera,
                       full.surface_points, "door", full.hand_estimate[keep], None, full.fps / 3)
    save_scene(root / "door.npz", scene)
    np.save(root / "door_points.npy", full.surface_points)
    config = root / "small.yaml"
    config.write_text(yaml.safe_dump(SMALL))
    return {"root": root, "scene": scene, "scene_path": root / "door.npz", "geometry": root / "door_points.npy",
            "config": config}


@pytest.fixture(scope="module")
def served(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("articulations")
    params = {"config": str(inputs["config"]), "output_root": str(out), "input_roots": [str(inputs["root"])],
              "sim_fps": 4.0, "frame_id": "table", "threads": 1}
    client = ArticulateClient()
    try:
        with NodeProcess("hoi_ros.nodes.articulate_node", "hoi_articulate", params) as node:
            wait_for(client.action.server_is_ready, 90, "/hoi/articulate", node)
            yield client, node, out
    finally:
        client.close()


def test_sim_goal_recovers_the_door_with_feedback_and_markers(served) -> None:
    from action_msgs.msg import GoalStatus
    from hoi_ros.action import Articulate
    from visualization_msgs.msg import Marker

    from hoi_ros.core.generation import STAGES
    from hoi_ros.core.sequence import HOISequence
    from hoi_ros.nodes.conversions import motion_msg_to_sequence
    from hoi_ros.nodes.viz_markers import ARTICULATION_NAMESPACE

    client, node, out = served
    feedback: list = []
    status, result = client.run(Articulate.Goal(sim_object="door", request_id="door-1"), feedback)
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success, result.message
    assert result.request_id == "door-1" and result.joint_type == "revolute"
    frames = result.motion.num_frames
    assert len(result.joint_states) == frames > 10
    assert abs(np.linalg.norm([result.axis_direction.x, result.axis_direction.y, result.axis_direction.z]) - 1) < 1e-6
    metrics = json.loads(result.metrics_json)
    assert metrics["joint_type_correct"] == 1.0 and metrics["rot_mean_deg"] < 30.0, metrics
    # Feedback: the sim's rendering, then each ArtHOI stage per frame / iteration, then writing.
    stages = [(f.stage, f.detail) for f in feedback]
    assert all(f.stage in STAGES for f in feedback)
    assert stages[0] == ("rendering", "") and stages[-1] == ("writing", "")
    for detail in ("segmentation", "stage1", "stage2"):
        assert ("optimizing", detail) in stages, stages
    stage1 = [f.step for f in feedback if f.detail == "stage1"]
    assert stage1 == list(range(1, frames)) and {f.total_steps for f in feedback if f.detail == "stage1"} == {
        frames - 1}
    progress = [f.progress for f in feedback]
    assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0)
    # The recovered sequence on disk and in the result carry the articulation.
    assert result.sequence_path == str(out / "door-1" / "door-1.npz")
    saved = HOISequence.load(result.sequence_path, load_video=False)
    art = saved.articulations[0]
    assert art.joints[0].type == "revolute" and set(np.unique(art.point_parts)) == {0, 1}
    assert json.loads((out / "door-1" / "door-1.json").read_text())["joint"]["type"] == "revolute"
    got = motion_msg_to_sequence(result.motion)
    assert got.articulations[0].joints[0].type == "revolute" and result.motion.header.frame_id == "table"
    np.testing.assert_array_equal(got.object_points, saved.object_points)
    # Published: the motion and the markers (points coloured moving / static, the axis as an arrow).
    wait_for(lambda: client.motions and client.markers, 10, "articulate/motion and articulate/markers", node)
    markers = {m.id: m for m in client.markers[-1].markers if m.action == Marker.ADD}
    assert all(m.ns == ARTICULATION_NAMESPACE and m.header.frame_id == "table" for m in markers.values())
    assert markers[0].type == Marker.SPHERE_LIST and len(markers[0].points) == len(art.point_parts)
    assert len({(c.r, c.g, c.b) for c in markers[0].colors}) == 2
    assert markers[1].type == Marker.ARROW and len(markers[1].points) == 2
    assert 2 not in markers  # the slide arrow is for prismatic joints
    assert client.markers[-1].markers[0].action == Marker.DELETEALL


def test_cancel_mid_run_then_frames_and_sequence_goals_run(served, inputs) -> None:
    from action_msgs.msg import GoalStatus
    from hoi_ros.action import Articulate

    client, node, out = served
    feedback: list = []
    handle = client.send(Articulate.Goal(sim_object="door", request_id="to-cancel"), feedback)
    wait_for(lambda: any(f.detail == "stage1" for f in feedback), 60, "Stage I's first frame", node)
    cancel = handle.cancel_goal_async()
    wait_for(cancel.done, 10, "the cancel response")
    status, result = client.result(handle, timeout=30)
    assert status == GoalStatus.STATUS_CANCELED, result.message
    assert not result.success and result.message.startswith("cancelled") and "Stage I" in result.message
    done = [f.step for f in feedback if f.detail == "stage1"]
    assert max(done) < 16, done  # stopped long before the last of 17 frames
    assert not (out / "to-cancel").exists() and not list(out.glob(".*.partial"))
    # The node serves the next goals: frames + masks (no hand: Stage I only) and a scene file.
    status, result = client.run(frames_goal(inputs["scene"], inputs["geometry"], request_id="frames-1"))
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success, result.message
    assert len(result.joint_states) == FRAMES and result.metrics_json == "{}"
    status, result = client.run(Articulate.Goal(sequence_path=str(inputs["scene_path"]), config="fast",
                                                request_id="scene-1"))
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success, result.message
    assert result.joint_type in ("revolute", "prismatic") and (out / "scene-1" / "scene-1.npz").is_file()


def test_bad_inputs_are_answered_naming_the_field(served, inputs) -> None:
    from action_msgs.msg import GoalStatus
    from hoi_ros.action import Articulate

    client, node, out = served
    scene, geometry = inputs["scene"], inputs["geometry"]
    zero_focal = frames_goal(scene, geometry)
    zero_focal.camera.k = [0.0] * 9
    rgb_masks = frames_goal(scene, geometry)
    rgb_masks.masks[0].encoding = "rgb8"
    outside = Path(__file__).resolve()
    cases = {
        "sim_object": Articulate.Goal(sim_object="wardrobe"),
        "sim_action": Articulate.Goal(sim_object="door", sim_action="slam"),
        "masks": frames_goal(scene, geometry, masks=frames_goal(scene, geometry).masks[:3]),
        "masks[0].encoding": rgb_masks,
        "camera": zero_focal,
        "geometry_path": frames_goal(scene, geometry, geometry_path=""),
        "config": Articulate.Goal(sim_object="door", config="huge"),
        "request_id": Articulate.Goal(sim_object="door", request_id="../escape"),
    }
    for name, goal in cases.items():
        status, result = client.run(goal, timeout=30)
        assert status == GoalStatus.STATUS_ABORTED and not result.success, (name, result.message)
        assert result.metrics_json == "{}"
        assert result.message.startswith(f"invalid request: {name}: "), (name, result.message)
    # Paths outside the input roots, and a file under them that is not a scene.
    for goal, name in ((Articulate.Goal(sequence_path=str(outside)), "sequence_path"),
                       (frames_goal(scene, outside), "geometry_path"),
                       (Articulate.Goal(sequence_path=str(inputs["root"] / ".." / outside.name)), "sequence_path"),
                       (Articulate.Goal(sequence_path=str(geometry)), "sequence_path"),
                       (Articulate.Goal(), "sim_object")):
        status, result = client.run(goal, timeout=30)
        assert status == GoalStatus.STATUS_ABORTED, result.message
        assert result.message.startswith(f"invalid request: {name}: "), result.message
    assert "outside the input roots" in client.run(Articulate.Goal(sequence_path=str(outside)))[1].message
    node.assert_alive()
    assert not [p for p in out.iterdir() if p.name not in ("door-1", "frames-1", "scene-1")]


class _Handle:
    """The parts of an rclpy ServerGoalHandle the node uses."""

    def __init__(self, goal: Any) -> None:
        self.request = goal
        self.goal_id = type("GoalId", (), {"uuid": bytes(16)})()
        self.is_cancel_requested = False
        self.state = "executing"
        self.feedback: list = []

    def publish_feedback(self, msg: Any) -> None:
        self.feedback.append(msg)

    def succeed(self) -> None:
        self.state = "succeeded"

    def abort(self) -> None:
        self.state = "aborted"

    def canceled(self) -> None:
        self.state = "canceled"


def test_an_unexpected_error_is_answered_and_the_node_keeps_serving(inputs, tmp_path, monkeypatch) -> None:
    import rclpy
    from rclpy.parameter import Parameter

    from hoi_ros.nodes import articulate_node

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the optimiser fell over")

    context = rclpy.Context()
    rclpy.init(context=context)
    node = None
    try:
        node = articulate_node.ArticulateNode(context=context, parameter_overrides=[
            Parameter("config", value=str(inputs["config"])), Parameter("output_root", value=str(tmp_path)),
            Parameter("input_roots", value=[str(inputs["root"])])])
        monkeypatch.setattr(articulate_node, "run_arthoi", broken)
        handle = _Handle(frames_goal(inputs["scene"], inputs["geometry"], request_id="broken"))
        result = node._on_execute(handle)
        assert handle.state == "aborted" and not result.success
        assert result.message == "articulation failed: RuntimeError: the optimiser fell over"
        assert not node._run_lock.locked() and not list(tmp_path.iterdir())
        # A cancel request before the goal runs ends it canceled without running it.
        handle = _Handle(frames_goal(inputs["scene"], inputs["geometry"], request_id="early"))
        handle.is_cancel_requested = True
        result = node._on_execute(handle)
        assert handle.state == "canceled" and result.message.startswith("cancelled"), result.message
        # Busy: with queue_size 0 and a goal running, the next one is answered at once.
        node.queue_size = 0
        with node._run_lock:
            handle = _Handle(frames_goal(inputs["scene"], inputs["geometry"], request_id="third"))
            result = node._on_execute(handle)
        assert handle.state == "aborted" and result.message.startswith("busy"), result.message
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
