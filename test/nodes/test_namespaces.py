"""Two generator stacks side by side: every name is relative, so a namespace moves them all."""

from __future__ import annotations

from pathlib import Path

import pytest
from generate_client import GenerateClient, make_request
from ros_support import NodeProcess, ros_available

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "config" / "models" / "svimo" / "tiny_for_tests.yaml"

pytestmark = [pytest.mark.ros, pytest.mark.skipif(not ros_available(), reason="rclpy / interfaces not built")]


def test_two_namespaced_generators_answer_their_own_callers(tmp_path) -> None:
    from hoi_ros.msg import HOIMotion
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    stacks = ("/robot1/hoi", "/robot2/hoi")
    clients = [GenerateClient(f"ns_client_{i}", namespace=ns) for i, ns in enumerate(stacks)]
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    motions: list[list] = [[], []]
    for client, got, ns in zip(clients, motions, stacks, strict=True):
        client.node.create_subscription(HOIMotion, f"{ns}/motion", got.append, latched)
    try:
        # The same node name in two namespaces: two different nodes, both start.
        with NodeProcess("hoi_ros.nodes.generator_node", "hoi_generator",
                         {"generator_config": str(TINY), "output_root": str(tmp_path / "one")},
                         namespace=stacks[0]) as one, \
                NodeProcess("hoi_ros.nodes.generator_node", "hoi_generator",
                            {"generator_config": str(TINY), "output_root": str(tmp_path / "two")},
                            namespace=stacks[1]) as two:
            for client, node in zip(clients, (one, two), strict=True):
                client.wait_ready(timeout=180, node=node)
            for i, client in enumerate(clients):
                resp = client.call(make_request("srv", num_inference_steps=1, request_id=f"from-{i}"), timeout=120)
                assert resp.success, resp.message
            # Each request went to its own stack's node and output folder, and each motion topic
            # carried its own stack's motion only.
            assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["from-0"]
            assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["from-1"]
            assert "request from-0" in one.log() and "request from-0" not in two.log()
            assert "request from-1" in two.log() and "request from-1" not in one.log()
            for client, got in zip(clients, motions, strict=True):
                client.wait_future(_Done(got), 10, "the stack's motion")
            # Nothing is left at the default /hoi names.
            names = dict(clients[0].node.get_service_names_and_types())
            assert "/robot1/hoi/generate" in names and "/robot2/hoi/generate" in names
            assert "/hoi/generate" not in names
    finally:
        for client in clients:
            client.close()


class _Done:
    """A future-like view of "this list is not empty"."""

    def __init__(self, items: list) -> None:
        self.items = items

    def done(self) -> bool:
        return bool(self.items)

    def result(self) -> object:
        return self.items[-1]
