"""hoi_viz over DDS: markers, object cloud and video frames of a sequence, looped and on demand."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ros_support import BackgroundClient, NodeProcess, ros_available, wait_for

pytestmark = [pytest.mark.ros, pytest.mark.skipif(not ros_available(), reason="rclpy / interfaces not built")]


def _sequence(num_frames: int = 4):
    from hoi_ros.core.synthetic import reach_grasp_lift

    seq = reach_grasp_lift(num_frames=num_frames, fps=20.0, image_size=(40, 56), num_object_points=12)
    seq.object_point_labels = (np.arange(12) >= 8).astype(np.uint8)
    return seq


class Listener(BackgroundClient):
    """Subscribes to the viz topics in a private context and records what arrives."""

    def __init__(self) -> None:
        from hoi_ros.msg import HOIMotion
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image, PointCloud2
        from std_srvs.srv import Trigger
        from visualization_msgs.msg import MarkerArray

        super().__init__("viz_listener")
        from tf2_msgs.msg import TFMessage

        self.got: dict[str, list] = {"markers": [], "cloud": [], "video": [], "motion_video": [], "tf": [],
                                     "tf_static": [], "camera_info": []}
        self.node.create_subscription(TFMessage, "/tf", self.got["tf"].append, 100)
        self.node.create_subscription(TFMessage, "/tf_static", self.got["tf_static"].append,
                                      QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                                                 durability=DurabilityPolicy.TRANSIENT_LOCAL))
        from sensor_msgs.msg import CameraInfo

        self.node.create_subscription(CameraInfo, "/hoi/viz/camera_info", self.got["camera_info"].append, 50)
        for key, typ, topic in (("markers", MarkerArray, "/hoi/viz/markers"),
                                ("cloud", PointCloud2, "/hoi/viz/object_cloud"),
                                ("video", Image, "/hoi/viz/video"),
                                ("motion_video", Image, "/hoi/viz/motion_video")):
            self.node.create_subscription(typ, topic, lambda m, k=key: self.got[k].append(m), 50)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.motion_pub = self.node.create_publisher(HOIMotion, "/hoi/motion", latched)
        self.replay = self.node.create_client(Trigger, "/hoi/viz/replay")
        self.start()

    def clear(self) -> None:
        for v in self.got.values():
            v.clear()



def _cloud_xyz(msg) -> np.ndarray:
    dtype = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u4"), ("label", "u1")])
    assert msg.point_step == dtype.itemsize and [f.name for f in msg.fields] == list(dtype.names)
    rec = np.frombuffer(bytes(msg.data), dtype=dtype)
    return np.stack([rec["x"], rec["y"], rec["z"]], axis=1), rec["label"]


def test_viz_replays_saved_sequence_with_video(tmp_path) -> None:
    from std_srvs.srv import Trigger

    from hoi_ros.core.hand import FINGER_COLORS
    from hoi_ros.core.sequence import HOISequence
    from hoi_ros.nodes.image_conversion import msg_to_rgb

    seq = _sequence()
    seq = seq.with_video(seq.render_motion())
    path = seq.save(tmp_path / "demo")
    saved = HOISequence.load(path)  # the mp4 is lossy: compare with what the node reads
    listener = Listener()
    try:
        params = {"sequence_path": str(path), "frame_id": "table", "loop": True}
        with NodeProcess("hoi_ros.nodes.viz_node", "hoi_viz_test", params) as node:
            wait_for(lambda: len(listener.got["markers"]) >= 2 * seq.num_frames
                     and len(listener.got["video"]) >= seq.num_frames, 30, "two loops of markers", node)
            markers = listener.got["markers"][-1].markers
            assert [m.id for m in markers] == [0, 1, 2]
            joints, bones, obj = markers
            assert joints.header.frame_id == "table"
            assert len(joints.points) == 21 and len(bones.points) == 40 and len(obj.points) == 12
            # Thumb tip (joint 4) is drawn in the thumb colour.
            c = joints.colors[4]
            np.testing.assert_allclose([c.r, c.g, c.b], FINGER_COLORS[0] / 255.0, atol=1e-6)
            # Every published frame matches one of the sequence's frames (loop: all of them appear).
            seen = set()
            for ma in listener.got["markers"]:
                pts = np.array([[p.x, p.y, p.z] for p in ma.markers[0].points])
                dist = np.abs(seq.hand_joints - pts[None]).max(axis=(1, 2))
                assert dist.min() < 1e-6
                seen.add(int(dist.argmin()))
            assert seen == set(range(seq.num_frames))
            xyz, labels = _cloud_xyz(listener.got["cloud"][-1])
            assert listener.got["cloud"][-1].header.frame_id == "table"
            assert np.abs(seq.object_points - xyz[None]).max(axis=(1, 2)).min() < 1e-6
            np.testing.assert_array_equal(labels, seq.object_point_labels)
            frames = [msg_to_rgb(m) for m in listener.got["video"]]
            assert all(f.shape == (40, 56, 3) for f in frames)
            assert any(np.array_equal(frames[0], v) for v in saved.video)
            assert len(listener.got["motion_video"]) >= seq.num_frames

            # On demand: the replay service restarts playback.
            assert listener.replay.wait_for_service(timeout_sec=10)
            fut = listener.replay.call_async(Trigger.Request())
            wait_for(fut.done, 10, "the replay response", node)
            assert fut.result().success
    finally:
        listener.close()


def test_viz_plays_published_motion_once_on_demand(tmp_path) -> None:
    from std_srvs.srv import Trigger

    from hoi_ros.nodes.conversions import sequence_to_motion_msg

    seq = _sequence(num_frames=5)
    listener = Listener()
    try:
        with NodeProcess("hoi_ros.nodes.viz_node", "hoi_viz_once", {"loop": False}) as node:
            assert listener.replay.wait_for_service(timeout_sec=20)
            fut = listener.replay.call_async(Trigger.Request())
            wait_for(fut.done, 10, "the replay response", node)
            assert not fut.result().success and "no motion" in fut.result().message
            listener.motion_pub.publish(sequence_to_motion_msg(seq, "world"))
            wait_for(lambda: len(listener.got["markers"]) >= seq.num_frames, 20, "one pass of markers", node)
            time.sleep(1.0)  # 20 frames' worth at 20 fps: no loop, so nothing more arrives
            assert len(listener.got["markers"]) == seq.num_frames
            assert listener.got["video"] == []  # a bare motion has no video
            assert len(listener.got["motion_video"]) == seq.num_frames
            listener.clear()
            fut = listener.replay.call_async(Trigger.Request())
            wait_for(fut.done, 10, "the replay response", node)
            assert fut.result().success
            wait_for(lambda: len(listener.got["markers"]) >= seq.num_frames, 20, "the replayed pass", node)
            first = np.array([[p.x, p.y, p.z] for p in listener.got["markers"][0].markers[0].points])
            np.testing.assert_allclose(first, seq.hand_joints[0], atol=1e-6)
    finally:
        listener.close()


def test_speed_outside_its_range_is_refused_and_a_bad_motion_is_skipped(tmp_path) -> None:
    from hoi_ros.msg import HOIMotion

    from hoi_ros.nodes.conversions import sequence_to_motion_msg

    listener = Listener()
    try:
        with NodeProcess("hoi_ros.nodes.viz_node", "hoi_viz_params", {"loop": True}) as node:
            assert listener.replay.wait_for_service(timeout_sec=20)
            refused = listener.set_parameter("/hoi/hoi_viz_params", "speed", -5.0)
            assert not refused.successful and "range" in refused.reason, refused.reason
            assert listener.get_parameter("/hoi/hoi_viz_params", "speed") == 1.0
            read_only = listener.set_parameter("/hoi/hoi_viz_params", "frame_id", "elsewhere")
            assert not read_only.successful and "read-only" in read_only.reason, read_only.reason
            assert listener.set_parameter("/hoi/hoi_viz_params", "speed", 2.0).successful
            assert listener.get_parameter("/hoi/hoi_viz_params", "speed") == 2.0
            # A motion whose arrays disagree with its sizes is logged and skipped; playback goes on.
            bad = HOIMotion(num_frames=3, num_joints=21)
            listener.motion_pub.publish(bad)
            wait_for(lambda: "motion:" in node.log() or "malformed" in node.log(), 20, "the bad motion's log line",
                     node)
            listener.motion_pub.publish(sequence_to_motion_msg(_sequence(), "world"))
            wait_for(lambda: len(listener.got["markers"]) >= 8, 20, "markers after the bad motion", node)
            node.assert_alive()
    finally:
        listener.close()


def test_start_up_value_outside_the_range_names_the_parameter(tmp_path) -> None:
    with NodeProcess("hoi_ros.nodes.viz_node", "hoi_viz_bad", {"speed": -5.0}) as node:
        assert node.wait_exit(60) == 1
        log = node.log()
    assert "cannot start: speed: -5.0 is outside 0.01..100.0" in log and "Traceback" not in log, log


def test_viz_broadcasts_hand_object_and_camera_frames(tmp_path) -> None:
    from hoi_ros.nodes.conversions import sequence_to_motion_msg
    from hoi_ros.nodes.frames import camera_pose
    from hoi_ros.retarget.human import palm_frame

    seq = _sequence(num_frames=4)
    listener = Listener()
    try:
        with NodeProcess("hoi_ros.nodes.viz_node", "hoi_viz_tf", {"loop": False}) as node:
            assert listener.replay.wait_for_service(timeout_sec=20)
            listener.motion_pub.publish(sequence_to_motion_msg(seq, "world"))
            wait_for(lambda: len(listener.got["tf"]) >= seq.num_frames and listener.got["tf_static"]
                     and listener.got["camera_info"], 20, "TF and camera info", node)
            first = {t.child_frame_id: t for t in listener.got["tf"][0].transforms}
            assert set(first) == {"hoi_right_wrist", "hoi_object_0", "hoi_object_1"}
            wrist = first["hoi_right_wrist"]
            assert wrist.header.frame_id == "world"
            expected = palm_frame(seq.hand_joints[:, :21], "right")[0]
            tr = wrist.transform.translation
            np.testing.assert_allclose([tr.x, tr.y, tr.z], expected[:3, 3], atol=1e-6)
            obj = first["hoi_object_1"].transform.translation
            np.testing.assert_allclose([obj.x, obj.y, obj.z], seq.object_points[0, 8:].mean(axis=0), atol=1e-6)
            static = listener.got["tf_static"][-1].transforms
            assert [t.child_frame_id for t in static] == ["hoi_camera_optical_frame"]
            cam = static[0].transform.translation
            np.testing.assert_allclose([cam.x, cam.y, cam.z], camera_pose(seq.camera)[:3, 3], atol=1e-6)
            info = listener.got["camera_info"][0]
            assert info.header.frame_id == "hoi_camera_optical_frame" and info.width == seq.camera.width
            assert listener.got["motion_video"][0].header.frame_id == "hoi_camera_optical_frame"
    finally:
        listener.close()
