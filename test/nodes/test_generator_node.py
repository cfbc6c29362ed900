"""hoi_generator with SViMo's tiny config over real DDS (node in a separate process).

One node serves the whole module (queue_size 1): service and action round trips, feedback per
denoising step, cancellation within a step, "busy" beyond the queue, named validation errors, an
output folder that holds complete files only, the request's camera and the warnings for input the
model does not cover (the shipped model's statistics, through the ``input_coverage`` parameter).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
from generate_client import GenerateClient, make_request
from ros_support import NodeProcess, ros_available, wait_for
from shared_data import REAL_HAND_VIDEO

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "config" / "models" / "svimo" / "tiny_for_tests.yaml"
PIPELINE = REPO / "hoi_ros" / "svimo" / "pipeline.py"
SHIPPED = REPO / "models" / "svimo_tiny"

pytestmark = [
    pytest.mark.ros,
    pytest.mark.skipif(not ros_available(), reason="rclpy / interfaces not built"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(client, node, output_root) of one hoi_generator loaded with config/models/svimo/tiny_for_tests.yaml."""
    assert PIPELINE.exists() and TINY.exists(), "SViMo's pipeline and tiny config are required"
    out = tmp_path_factory.mktemp("generations")
    stale = out / ".crashed.partial"  # left by a killed node: removed at start-up
    stale.mkdir()
    (stale / "crashed.mp4").write_bytes(b"half a video")
    params = {"generator_config": str(TINY), "output_root": str(out), "queue_size": 1, "frame_id": "table",
              "input_coverage": str(SHIPPED / "input_coverage.json")}
    client = GenerateClient("generator_test_client")
    try:
        with NodeProcess("hoi_ros.nodes.generator_node", "hoi_generator_tiny", params) as node:
            client.wait_ready(timeout=120, node=node)
            assert not stale.exists(), node.log()
            yield client, node, out
    finally:
        client.close()


def _motion_listener(client: GenerateClient) -> list:
    from hoi_ros.msg import HOIMotion
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    got: list = []
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    client.node.create_subscription(HOIMotion, "/hoi/motion", got.append, qos)
    return got


def test_service_round_trip(served) -> None:
    from hoi_ros.core.sequence import HOISequence
    from hoi_ros.nodes.conversions import motion_msg_to_sequence

    client, node, out = served
    motions = _motion_listener(client)
    resp = client.call(make_request("srv", num_inference_steps=2, seed=5, request_id="srv-1"), timeout=120)
    assert resp.success, resp.message
    assert resp.request_id == "srv-1" and resp.seed == 5
    assert resp.video_path == str(out / "srv-1" / "srv-1.mp4")
    assert resp.sequence_path == str(out / "srv-1" / "srv-1.npz")
    saved = HOISequence.load(resp.sequence_path)
    assert saved.video is not None and saved.num_frames == resp.motion.num_frames
    got = motion_msg_to_sequence(resp.motion)
    np.testing.assert_array_equal(got.hand_joints, saved.hand_joints)
    np.testing.assert_array_equal(got.object_points, saved.object_points)
    assert resp.motion.header.frame_id == "table"
    assert saved.metadata["request_id"] == "srv-1" and saved.metadata["seed"] == 5
    wait_for(lambda: len(motions) >= 1, 10, "/hoi/motion", node)
    np.testing.assert_array_equal(motion_msg_to_sequence(motions[-1]).hand_joints, saved.hand_joints)


def test_action_round_trip_with_feedback_per_step(served) -> None:
    from action_msgs.msg import GoalStatus

    client, _node, out = served
    feedback: list = []
    handle = client.send_goal(make_request("action", num_inference_steps=3, image=np.zeros((30, 20, 3), np.uint8),
                                           encoding="mono8", seed=-1), feedback)
    status, result = client.result(handle, timeout=120)
    assert status == GoalStatus.STATUS_SUCCEEDED, result.message
    assert result.success and result.seed >= 0 and Path(result.video_path).is_file()
    assert len(result.request_id) == 16 and Path(result.sequence_path).parent == out / result.request_id
    time.sleep(0.2)  # feedback and result travel on different topics
    denoise = [(f.step, f.total_steps) for f in feedback if f.stage == "denoising"]
    assert denoise == [(1, 3), (2, 3), (3, 3)]  # one feedback per denoising step
    assert feedback[0].stage == "queued"
    progress = [f.progress for f in feedback]
    assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0)


def test_cancel_stops_within_a_step_and_next_goal_runs(served) -> None:
    from action_msgs.msg import GoalStatus

    client, node, out = served
    feedback: list = []
    handle = client.send_goal(make_request("action", num_inference_steps=500, request_id="to-cancel"), feedback)
    wait_for(lambda: any(f.stage == "denoising" for f in feedback), 60, "the first denoising step", node)
    client.wait_future(handle.cancel_goal_async(), 10, "the cancel response")
    start = time.monotonic()
    status, result = client.result(handle, timeout=30)
    assert status == GoalStatus.STATUS_CANCELED, result.message
    assert not result.success and "cancel" in result.message
    steps = [f.step for f in feedback if f.stage == "denoising"]
    assert max(steps) < 500
    assert time.monotonic() - start < 20
    assert not (out / "to-cancel").exists()
    status, result = client.result(client.send_goal(make_request("action", num_inference_steps=1)), timeout=120)
    assert status == GoalStatus.STATUS_SUCCEEDED, result.message


def test_clients_beyond_the_queue_get_busy(served) -> None:
    from action_msgs.msg import GoalStatus

    client, node, _out = served
    # A long goal occupies the worker; queue_size is 1, so of the next five concurrent requests
    # (four service clients in their own contexts + one action goal) one waits and four are refused.
    feedback: list = []
    long_goal = client.send_goal(make_request("action", num_inference_steps=500), feedback)
    wait_for(lambda: any(f.stage == "denoising" for f in feedback), 60, "the long goal to start", node)
    others = [GenerateClient(f"busy_client_{i}") for i in range(4)]
    try:
        for other in others:
            other.wait_ready(node=node)
        futures = [o.srv.call_async(make_request("srv", num_inference_steps=2)) for o in others]
        goal = client.send_goal(make_request("action", num_inference_steps=2))
        goal_future = goal.get_result_async()
        start = time.monotonic()
        while time.monotonic() - start < 20:
            refused = [f for f in futures if f.done()]
            if len(refused) + goal_future.done() >= 4:
                break
            time.sleep(0.01)
        assert time.monotonic() - start < 20, "refusals must not wait for the running request"
        time.sleep(0.5)  # nothing else completes while the long goal runs
        refused = [f for f in futures if f.done()]
        assert len(refused) + goal_future.done() == 4
        for f in refused:
            assert not f.result().success and f.result().message.startswith("busy:"), f.result().message
        if goal_future.done():
            assert goal_future.result().status == GoalStatus.STATUS_ABORTED
            assert goal_future.result().result.message.startswith("busy:")
        client.wait_future(long_goal.cancel_goal_async(), 10, "the cancel response")
        assert client.result(long_goal)[0] == GoalStatus.STATUS_CANCELED
        # The one that waited now runs and succeeds.
        waiting = [f for f in futures if f not in refused]
        if waiting:
            resp = client.wait_future(waiting[0], 120, "the queued service call")
            assert resp.success and Path(resp.video_path).is_file(), resp.message
        else:
            res = client.wait_future(goal_future, 120, "the queued goal")
            assert res.status == GoalStatus.STATUS_SUCCEEDED and res.result.success, res.result.message
    finally:
        for other in others:
            other.close()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"encoding": "rgb16"}, "invalid request: image.encoding: unsupported encoding 'rgb16'"),
        ({"step": 5}, "invalid request: image.step"),
        ({"truncate": True}, "invalid request: image.data"),
        ({"empty": True}, "invalid request: image: empty image"),
        ({"prompt": ""}, "invalid request: prompt: empty"),
        ({"prompt": "x" * 100_000}, "invalid request: prompt: 100000 characters exceeds"),
        ({"num_frames": 10_000}, "invalid request: num_frames: 10000 is outside"),
        ({"num_inference_steps": 10**6}, "invalid request: num_inference_steps: 1000000 is outside"),
        ({"guidance_scale": math.nan}, "invalid request: guidance_scale: must be a finite number"),
        ({"request_id": "../x"}, "invalid request: request_id:"),
    ],
)
def test_malformed_inputs_are_named_and_node_still_answers(served, fields, expected) -> None:
    client, node, _out = served
    fields = dict(fields)
    encoding = fields.pop("encoding", None)
    step = fields.pop("step", None)
    truncate = fields.pop("truncate", False)
    empty = fields.pop("empty", False)
    req = make_request("srv", **fields)
    if encoding:
        req.image.encoding = encoding
    if step:
        req.image.step = step
    if truncate:
        req.image.data = bytes(len(req.image.data) - 3)
    if empty:
        req.image.width = req.image.height = req.image.step = 0
        req.image.data = b""
    start = time.monotonic()
    resp = client.call(req, timeout=30)
    assert not resp.success and resp.message.startswith(expected), resp.message
    assert time.monotonic() - start < 5  # rejected before any compute
    node.assert_alive()


def test_output_folder_holds_complete_files_only(served) -> None:
    from hoi_ros.core.sequence import HOISequence

    client, _node, out = served
    resp = client.call(make_request("srv", num_inference_steps=1, request_id="last"), timeout=120)
    assert resp.success, resp.message
    dup = client.call(make_request("srv", num_inference_steps=1, request_id="last"), timeout=30)
    assert not dup.success and "request_id: 'last' already has an output folder" in dup.message
    entries = sorted(out.iterdir())
    assert entries and all(not p.name.startswith(".") for p in entries), entries
    for folder in entries:
        assert sorted(p.name for p in folder.iterdir()) == [f"{folder.name}.mp4", f"{folder.name}.npz"]
        seq = HOISequence.load(folder / f"{folder.name}.npz")
        assert seq.video is not None and seq.video.shape[0] == seq.num_frames


def test_demo_client_writes_contact_sheet(served, tmp_path) -> None:
    import os
    import subprocess
    import sys

    from PIL import Image as PILImage

    _client, node, _out = served
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run(
        [sys.executable, "-m", "hoi_ros.nodes.demo_client", "--steps", "2", "--size", "48x64",
         "--request-id", "demo", "--seed", "3", "--out", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr + node.log()
    assert "denoising" in proc.stderr  # the tqdm bar followed the feedback
    sheet = tmp_path / "demo_sheet.png"
    assert sheet.is_file() and (tmp_path / "demo_motion.mp4").is_file()
    with PILImage.open(sheet) as img:
        width, height = img.size
    # Two rows (generated video, rendered motion video) of the tiny model's 16 x 24 frames.
    assert height == 2 * 16 + 2 and width > 24


def test_request_id_with_a_dot_and_a_trailing_newline(served) -> None:
    client, _node, out = served
    resp = client.call(make_request("srv", num_inference_steps=1, request_id="v1.2"), timeout=120)
    assert resp.success, resp.message
    assert resp.video_path == str(out / "v1.2" / "v1.2.mp4") and Path(resp.video_path).is_file()
    assert resp.sequence_path == str(out / "v1.2" / "v1.2.npz") and Path(resp.sequence_path).is_file()
    bad = client.call(make_request("srv", num_inference_steps=1, request_id="abc\n"), timeout=30)
    assert not bad.success and bad.message.startswith("invalid request: request_id:"), bad.message
    assert not (out / "abc").exists() and not (out / "abc\n").exists()


def test_invalid_goals_are_rejected(served) -> None:
    client, node, _out = served
    for fields in ({"prompt": ""}, {"num_frames": 10_000}, {"request_id": "../x"}, {"guidance_scale": math.nan}):
        handle = client.send_goal(make_request("action", **fields), expect_accepted=False)
        assert not handle.accepted, fields
    assert "rejected goal: invalid request: prompt: empty" in node.log()
    node.assert_alive()


def test_a_queued_goal_cancels_at_once_and_frees_its_place(served) -> None:
    from action_msgs.msg import GoalStatus

    client, node, _out = served
    feedback: list = []
    running = client.send_goal(make_request("action", num_inference_steps=500), feedback)
    wait_for(lambda: any(f.stage == "denoising" for f in feedback), 60, "the running goal to start", node)
    queued = client.send_goal(make_request("action", num_inference_steps=1, request_id="queued-then-cancelled"))
    time.sleep(0.3)
    start = time.monotonic()
    client.wait_future(queued.cancel_goal_async(), 10, "the cancel response")
    status, result = client.result(queued, timeout=10)
    assert status == GoalStatus.STATUS_CANCELED and result.message == "cancelled while queued", result.message
    assert time.monotonic() - start < 3, "a queued goal must not wait for the running one"
    # Its place is free: the next request waits (it is not refused as busy) and runs after.
    waiting = client.srv.call_async(make_request("srv", num_inference_steps=1))
    time.sleep(1.0)
    assert not waiting.done(), waiting.result().message if waiting.done() else ""
    client.wait_future(running.cancel_goal_async(), 10, "the cancel response")
    assert client.result(running)[0] == GoalStatus.STATUS_CANCELED
    resp = client.wait_future(waiting, 120, "the queued call")
    assert resp.success, resp.message


def test_reusable_client_generates_cancels_and_reports_rejections(served, tmp_path) -> None:
    from action_msgs.msg import GoalStatus

    from hoi_ros.nodes.client import ClientError, HOIClient
    from hoi_ros.nodes.demo_client import write_outputs

    _client, node, out = served
    image = np.random.default_rng(1).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    with HOIClient("/hoi", "reusable_client_test") as client:
        client.wait_ready(["generate"], timeout=30)
        feedback: list = []
        result = client.generate(image, "grasp the ball", feedback=feedback.append, timeout=120,
                                 num_inference_steps=2, seed=4, request_id="via-client", return_video=True)
        assert result.success and result.seed == 4, result.message
        assert Path(result.sequence_path) == out / "via-client" / "via-client.npz"
        # return_video: the frames travel in the result, uncompressed; the saved mp4 of these 16 x 24
        # frames is x264 with 4:2:0 chroma, so the two agree closely but not exactly.
        from hoi_ros.core.sequence import HOISequence
        from hoi_ros.nodes.image_conversion import msg_to_rgb

        saved = HOISequence.load(result.sequence_path)
        assert len(result.video) == saved.num_frames and result.video[0].header.frame_id == "hoi_camera_optical_frame"
        frames = np.stack([msg_to_rgb(m) for m in result.video]).astype(float)
        assert frames.shape == saved.video.shape
        assert np.corrcoef(frames.ravel(), saved.video.astype(float).ravel())[0, 1] > 0.8  # 0.90 measured
        assert [(f.step, f.total_steps) for f in feedback if f.stage == "denoising"][-1] == (2, 2)
        running: list = []
        job = client.generate_async(image, "grasp the ball", feedback=running.append, num_inference_steps=500)
        wait_for(lambda: any(f.stage == "denoising" for f in running), 60, "the goal to run", node)
        assert job.cancel()
        status, cancelled = job.result(timeout=30)
        assert status == GoalStatus.STATUS_CANCELED and not cancelled.success
        with pytest.raises(ClientError, match="rejected"):
            client.generate_async(image, "")
    # A client on another machine: the sequence path is not readable there; the motion and the
    # video frames are in the result, and the sheet has both rows.
    from PIL import Image as PILImage

    sheet, motion = write_outputs("/nonexistent/elsewhere.npz", tmp_path, "remote", result.motion, result.video)
    assert sheet.is_file() and motion.is_file()
    with PILImage.open(sheet) as img:
        assert img.size[1] == 2 * saved.video.shape[1] + 2  # video row above motion row


def _sim_render() -> np.ndarray:
    from PIL import Image as PILImage

    with PILImage.open(SHIPPED / "demo_reference.png") as im:
        return np.asarray(im.convert("RGB"))


def test_warnings_name_input_the_model_does_not_cover(served) -> None:
    """An unknown verb and object (and, with the shared real video, a real photo) are reported in
    ``warnings``, the message and the saved sequence's metadata; a sim render with a training
    prompt gets none. The request is served either way."""
    from action_msgs.msg import GoalStatus

    from hoi_ros.core.sequence import HOISequence

    client, node, _out = served
    resp = client.call(make_request("srv", image=_sim_render(), prompt="juggle the green banana",
                                    num_inference_steps=1), timeout=120)
    assert resp.success, resp.message
    assert [w.split(" '")[0] for w in resp.warnings] == ["prompt: unknown verb", "prompt: unknown object"]
    assert "'juggle'" in resp.warnings[0] and "'banana'" in resp.warnings[1]
    assert "2 warning(s)" in resp.message and "juggle" in resp.message
    assert HOISequence.load(resp.sequence_path).metadata["warnings"] == list(resp.warnings)
    assert "unknown verb 'juggle'" in node.log()
    resp = client.call(make_request("srv", image=_sim_render(), prompt="grasp the orange mug and lift it up",
                                    num_inference_steps=1), timeout=120)
    assert resp.success and list(resp.warnings) == [] and "warning" not in resp.message, resp.message
    if REAL_HAND_VIDEO.is_file():
        from PIL import Image as PILImage

        from hoi_ros.svimo.coverage import video_frames

        photo = np.asarray(PILImage.fromarray(video_frames(REAL_HAND_VIDEO, limit=1)[0]).resize((160, 90)))
        status, result = client.result(client.send_goal(make_request(
            "action", image=photo, prompt="grasp the orange mug and lift it up", num_inference_steps=1)), timeout=120)
        assert status == GoalStatus.STATUS_SUCCEEDED, result.message
        assert [w.split(":")[0] for w in result.warnings] == ["image"], list(result.warnings)


def test_the_request_camera_is_the_output_camera_and_bad_ones_are_refused(served) -> None:
    from hoi_ros.core.camera import Camera, look_at
    from hoi_ros.nodes.conversions import camera_to_msg, motion_msg_to_sequence
    from hoi_ros.svimo.pipeline import camera_for_video

    client, node, _out = served
    camera = Camera.from_fov(32, 24, 70.0, look_at([0.4, 0.1, 0.35], [0.0, 0.0, 0.05]))
    req = make_request("srv", num_inference_steps=1)  # a 24 x 32 image
    camera_to_msg(camera, req.camera, req.camera_pose)
    resp = client.call(req, timeout=120)
    assert resp.success, resp.message
    # A view from the side: unlike the camera the shipped model (whose statistics the node uses) saw.
    assert any(w.startswith("camera: unlike the model's training camera") for w in resp.warnings), resp.warnings
    got = motion_msg_to_sequence(resp.motion).camera
    expected = camera_for_video(camera, (24, 32), got.height, got.width)
    np.testing.assert_allclose(got.intrinsics, expected.intrinsics, rtol=1e-12)
    np.testing.assert_allclose(got.extrinsics, expected.extrinsics, atol=1e-12)
    bad = make_request("srv", num_inference_steps=1)
    camera_to_msg(camera, bad.camera, bad.camera_pose)
    bad.camera.k[0] = math.nan
    resp = client.call(bad, timeout=30)
    assert not resp.success and resp.message.startswith("invalid request: camera: k contains NaN"), resp.message
    goal = make_request("action", num_inference_steps=1)
    camera_to_msg(camera, goal.camera, goal.camera_pose)
    goal.camera.width = goal.camera.height = 0
    assert not client.send_goal(goal, expect_accepted=False).accepted
    node.assert_alive()


def test_the_thread_policy_is_logged(served) -> None:
    _client, node, _out = served
    assert "OpenMP wait policy passive" in node.log()
