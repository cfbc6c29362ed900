"""hoi_sim over real DDS: the node runs in its own process, this test calls /hoi/sim/rollout from
another and listens to the playback topics; bad requests get a message naming the field and the
node lives on."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest
from ros_support import BackgroundClient, NodeProcess, ros_available, wait_for

pytestmark = [
    pytest.mark.ros,
    pytest.mark.skipif(not ros_available(), reason="rclpy / interfaces not built"),
]

PARAMS = {"width": 64, "height": 48, "fps": 5.0, "num_object_points": 50, "camera": "ego", "frame_id": "table"}


class SimClient(BackgroundClient):
    """A /hoi/sim/rollout client and topic listeners in a private rclpy context."""

    def __init__(self) -> None:
        from geometry_msgs.msg import PoseArray
        from hoi_ros.msg import HOIMotion
        from hoi_ros.srv import SimRollout
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image, JointState

        super().__init__("sim_test_client")
        self.client = self.node.create_client(SimRollout, "/hoi/sim/rollout")
        from tf2_msgs.msg import TFMessage

        self.got: dict[str, list] = {k: [] for k in ("joints", "objects", "rgb", "depth", "motion", "tf")}
        self.node.create_subscription(TFMessage, "/tf", self.got["tf"].append, 10)
        self.node.create_subscription(JointState, "/hoi/sim/joint_states", self.got["joints"].append, 10)
        self.node.create_subscription(PoseArray, "/hoi/sim/object_poses", self.got["objects"].append, 10)
        self.node.create_subscription(Image, "/hoi/sim/image/rgb", self.got["rgb"].append, 10)
        self.node.create_subscription(Image, "/hoi/sim/image/depth", self.got["depth"].append, 10)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(HOIMotion, "/hoi/sim/motion", self.got["motion"].append, latched)
        self.start()

    def call(self, timeout: float = 120.0, **fields: Any) -> Any:
        from hoi_ros.srv import SimRollout

        req = SimRollout.Request()
        for key, value in fields.items():
            setattr(req, key, value)
        future = self.client.call_async(req)
        deadline = time.monotonic() + timeout
        while not future.done():
            assert time.monotonic() < deadline, "no rollout response"
            time.sleep(0.01)
        return future.result()



@pytest.fixture(scope="module")
def served():
    client = SimClient()
    try:
        with NodeProcess("hoi_ros.nodes.sim_node", "hoi_sim_test", PARAMS) as node:
            wait_for(client.client.service_is_ready, 60, "/hoi/sim/rollout", node)
            yield client, node
    finally:
        client.close()


def test_rollout_over_dds_returns_motion_and_condition_images(served) -> None:
    from hoi_ros.nodes.conversions import motion_msg_to_sequence

    client, node = served
    resp = client.call(task="grasp_lift", object="red box", seed=3, return_images=True)
    assert resp.success and resp.task_success, resp.message
    assert "grasp the red box and lift it up" in resp.message
    seq = motion_msg_to_sequence(resp.motion)
    t = seq.num_frames
    assert t >= 10 and seq.fps == pytest.approx(5.0) and seq.num_object_points == 50
    assert resp.motion.header.frame_id == "table" and resp.motion.joint_names[0] == "right_wrist"
    assert seq.camera.width == 64 and seq.camera.height == 48
    # The object (its points) really rose: lifted by at least 5 cm.
    assert seq.object_points[-1, :, 2].mean() - seq.object_points[0, :, 2].mean() >= 0.05
    assert [len(resp.rgb), len(resp.depth), len(resp.segmentation), len(resp.keypoints)] == [t] * 4
    assert [resp.rgb[0].encoding, resp.depth[0].encoding, resp.segmentation[0].encoding,
            resp.keypoints[0].encoding] == ["rgb8", "32FC1", "mono8", "rgb8"]
    depth = np.frombuffer(bytes(resp.depth[-1].data), np.float32).reshape(48, 64)
    labels = np.frombuffer(bytes(resp.segmentation[-1].data), np.uint8).reshape(48, 64)
    assert set(np.unique(labels)) <= {0, 1, 2} and (labels == 1).any()
    assert np.all(depth[labels > 0] > 0.1) and np.all(depth[labels > 0] < 2.0)
    # The playback reaches RViz topics in this second process.
    wait_for(lambda: len(client.got["joints"]) >= 3 and client.got["objects"] and client.got["rgb"]
             and client.got["depth"] and client.got["motion"], 30, "playback topics", node)
    joints = client.got["joints"][-1]
    assert len(joints.name) == 20 and joints.name[0] == "right_thumb_cmc_flex"
    assert all(math.isfinite(v) for v in joints.position)
    assert len(client.got["objects"][-1].poses) == 1 and client.got["objects"][-1].header.frame_id == "table"
    assert client.got["motion"][-1].num_frames == t
    # The wrist and object frames are on /tf beside the poses, and the images are in the optical frame.
    wait_for(lambda: client.got["tf"], 10, "/tf", node)
    frames = {f.child_frame_id: f for f in client.got["tf"][-1].transforms}
    assert set(frames) == {"hoi_sim_wrist", "hoi_sim_object_0"}
    assert frames["hoi_sim_wrist"].header.frame_id == "table"
    assert client.got["rgb"][-1].header.frame_id == "hoi_sim_camera_optical_frame"


def test_two_object_task_without_images(served) -> None:
    client, _node = served
    resp = client.call(task="place", object="mug", target_object="green bowl")
    assert resp.success and resp.task_success, resp.message
    assert not resp.rgb and resp.motion.num_object_points == 50
    labels = np.frombuffer(bytes(resp.motion.object_point_labels), np.uint8)
    assert labels.tolist() == [0] * 25 + [1] * 25
    assert "green bowl" in resp.motion.prompt


def _nan_pose():
    from geometry_msgs.msg import Pose

    pose = Pose()
    pose.position.x = float("nan")
    return pose


def _far_pose():
    from geometry_msgs.msg import Pose

    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = 0.0, 1.5, 0.2
    return pose


@pytest.mark.parametrize("fields, field", [
    ({"task": "grasp_lift", "object": "teapot"}, "object:"),
    ({"task": "grasp_lift", "object": "box", "use_object_pose": True}, "object_pose.position:"),  # in the table
    ({"task": "juggle", "object": "box"}, "task:"),
    ({"task": "place", "object": "box", "target_object": "mug"}, "target_object:"),
    ({"task": "grasp_lift", "object": "box", "seed": 2**31}, "seed: 2147483648 exceeds 2147483647"),
])
def test_bad_requests_get_a_named_error(served, fields, field: str) -> None:
    client, node = served
    start = time.monotonic()
    resp = client.call(**fields)
    assert not resp.success and resp.message.startswith(f"invalid request: {field}"), resp.message
    assert time.monotonic() - start < 5  # refused before the rollout
    node.assert_alive()


def test_negative_seed_picks_one_and_reports_it(served) -> None:
    client, _node = served
    resp = client.call(task="push", object="block", seed=-1)
    assert resp.success, resp.message
    assert 0 <= resp.seed <= 2**31 - 1
    again = client.call(task="push", object="block", seed=resp.seed)
    assert again.success and again.seed == resp.seed
    assert list(again.motion.object_points) == list(resp.motion.object_points)  # the seed it reports is the one used


def test_nan_pose_and_unreachable_target_get_a_named_error(served) -> None:
    client, node = served
    resp = client.call(task="push", object="block", use_object_pose=True, object_pose=_nan_pose())
    assert not resp.success and resp.message.startswith("invalid request: object_pose.position: contains NaN")
    resp = client.call(task="goto", object="ball", target_wrist=_far_pose())
    assert not resp.success and resp.message.startswith("invalid request: target_wrist.position:")
    assert "unreachable" in resp.message
    resp = client.call(task="goto", object="ball", target_wrist=_far_pose(), target_fingers=[0.1, 0.2])
    assert not resp.success
    node.assert_alive()
    assert client.call(task="push", object="block").success  # still serving
