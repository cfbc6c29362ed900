"""A real rclpy node serves /hoi/generate (service and action) over DDS; with
no model configured every call fails with "no generator configured"."""

from __future__ import annotations

import pytest
from action_msgs.msg import GoalStatus
from generate_client import GenerateClient, make_request
from ros_support import NodeProcess, ros_available

pytestmark = [pytest.mark.ros, pytest.mark.skipif(not ros_available(), reason="rclpy / interfaces not built")]


def test_no_generator_configured_over_dds(tmp_path) -> None:
    params = {"generator_config": "", "output_root": str(tmp_path / "out")}
    client = GenerateClient()
    try:
        with NodeProcess("hoi_ros.nodes.generator_node", "hoi_generator_nomodel", params) as node:
            client.wait_ready(node=node)
            # Service: a valid request and a malformed one both get the same clear failure.
            for req in (make_request("srv"), make_request("srv", prompt="")):
                resp = client.call(req)
                assert resp.success is False
                assert "no generator configured" in resp.message
                assert resp.video_path == "" and resp.sequence_path == ""
            # Action: the goal is accepted and aborted with the same message.
            status, result = client.result(client.send_goal(make_request("action")))
            assert status == GoalStatus.STATUS_ABORTED
            assert result.success is False
            assert "no generator configured" in result.message
            node.assert_alive()
            assert "no generator configured" in node.log()
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    finally:
        client.close()
