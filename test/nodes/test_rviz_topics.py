"""config/ros/hoi.rviz against a running graph (no rviz2 here): every display's topic is published
by one of the stack's nodes with the message type the display reads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ros_support import BackgroundClient, NodeProcess, ros_available, wait_for

REPO = Path(__file__).resolve().parents[2]
RETARGET = {"solver_config": str(REPO / "config" / "retarget" / "default.yaml"), "robot": "allegro"}
SIM = {"width": 64, "height": 48, "fps": 5.0, "num_object_points": 20}
PAM = {"model": str(REPO / "config" / "models" / "pam" / "tiny_for_tests.yaml"), "name_check_s": 0.0}

pytestmark = [pytest.mark.ros, pytest.mark.skipif(not ros_available(), reason="rclpy / interfaces not built")]

# What each RViz display class subscribes to (rviz_default_plugins).
DISPLAY_TYPES = {
    "MarkerArray": "visualization_msgs/msg/MarkerArray",
    "PointCloud2": "sensor_msgs/msg/PointCloud2",
    "Image": "sensor_msgs/msg/Image",
    "Pose": "geometry_msgs/msg/PoseStamped",
    "PoseArray": "geometry_msgs/msg/PoseArray",
    "RobotModel": "std_msgs/msg/String",
}


def _displays() -> list[tuple[str, str]]:
    """(display class, topic) of every display of hoi.rviz that reads a topic."""
    rviz = yaml.safe_load((REPO / "config" / "ros" / "hoi.rviz").read_text())
    found = []
    for display in rviz["Visualization Manager"]["Displays"]:
        topic = display.get("Topic") or display.get("Description Topic")
        if topic:
            found.append((display["Class"].split("/")[-1], topic["Value"]))
    return found


def test_every_rviz_display_topic_is_published_with_its_type(tmp_path) -> None:
    displays = _displays()
    assert {cls for cls, _ in displays} == set(DISPLAY_TYPES)
    client = BackgroundClient("rviz_topics_probe")
    client.start()
    try:
        with NodeProcess("hoi_ros.nodes.viz_node", "hoi_viz", {}) as viz, \
                NodeProcess("hoi_ros.nodes.sim_node", "hoi_sim", SIM) as sim, \
                NodeProcess("hoi_ros.nodes.retarget_node", "hoi_retarget", RETARGET) as retarget, \
                NodeProcess("hoi_ros.nodes.pam_node", "hoi_pam", {**PAM, "output_root": str(tmp_path)}) as pam, \
                NodeProcess("hoi_ros.nodes.articulate_node", "hoi_articulate",
                            {"output_root": str(tmp_path / "articulate")}) as articulate:
            ours = {"hoi_viz", "hoi_sim", "hoi_retarget", "hoi_pam", "hoi_articulate"}

            def publishers(topic: str) -> list:
                return [i for i in client.node.get_publishers_info_by_topic(topic) if i.node_name in ours]

            for node in (viz, sim, retarget, pam, articulate):
                node.assert_alive()
            wait_for(lambda: all(publishers(topic) for _, topic in displays), 90, "every display's publisher", viz)
            for cls, topic in displays:
                types = {i.topic_type for i in publishers(topic)}
                assert types == {DISPLAY_TYPES[cls]}, (cls, topic, types)
            # The TF display reads /tf and /tf_static: hands, objects, cameras and the robot's root.
            for tf in ("/tf", "/tf_static"):
                assert {i.topic_type for i in publishers(tf)} == {"tf2_msgs/msg/TFMessage"}, tf
            # The images' camera is published beside them.
            for info in ("/hoi/viz/camera_info", "/hoi/sim/image/camera_info", "/hoi/pam/camera_info"):
                assert {i.topic_type for i in publishers(info)} == {"sensor_msgs/msg/CameraInfo"}, info
    finally:
        client.close()
