"""hoi_generator as a lifecycle node: configure loads the model, activate serves, deactivate
refuses, cleanup frees the model, and the cycle repeats."""

from __future__ import annotations

from pathlib import Path

import pytest
from generate_client import GenerateClient, make_request
from ros_support import NodeProcess, read_bag, ros_available, wait_for

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "config" / "models" / "svimo" / "tiny_for_tests.yaml"
NODE = "/hoi/hoi_generator_lifecycle"

pytestmark = [pytest.mark.ros, pytest.mark.skipif(not ros_available(), reason="rclpy / interfaces not built")]


def _transition(client: GenerateClient, label: str) -> bool:
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    ids = {"configure": Transition.TRANSITION_CONFIGURE, "activate": Transition.TRANSITION_ACTIVATE,
           "deactivate": Transition.TRANSITION_DEACTIVATE, "cleanup": Transition.TRANSITION_CLEANUP}
    cli = client.node.create_client(ChangeState, f"{NODE}/change_state")
    request = ChangeState.Request(transition=Transition(id=ids[label]))
    return bool(client.wait_call(cli, request, timeout=120).success)


def _state(client: GenerateClient) -> str:
    from lifecycle_msgs.srv import GetState

    cli = client.node.create_client(GetState, f"{NODE}/get_state")
    return str(client.wait_call(cli, GetState.Request()).current_state.label)


def test_configure_activate_deactivate_cleanup_and_again(tmp_path) -> None:
    params = {"generator_config": str(TINY), "output_root": str(tmp_path), "queue_size": 1, "autostart": False,
              "record_mcap": True}
    client = GenerateClient("lifecycle_client")
    try:
        with NodeProcess("hoi_ros.nodes.generator_node", "hoi_generator_lifecycle", params) as node:
            client.wait_ready(timeout=60, node=node)
            assert _state(client) == "unconfigured" and "loaded" not in node.log()
            resp = client.call(make_request("srv", num_inference_steps=1))
            assert not resp.success and resp.message.startswith("not active (lifecycle state 'unconfigured')")
            assert not client.send_goal(make_request("action"), expect_accepted=False).accepted
            assert _transition(client, "configure") and _state(client) == "inactive"
            assert "loaded SViMoGenerator" in node.log()
            assert not client.call(make_request("srv", num_inference_steps=1)).success  # configured, not active
            assert _transition(client, "activate") and _state(client) == "active"
            resp = client.call(make_request("srv", num_inference_steps=1, request_id="first"), timeout=120)
            assert resp.success, resp.message
            # record_mcap: the bag lies beside the video and the sequence, in the same complete folder.
            assert sorted(p.name for p in (tmp_path / "first").iterdir()) == ["first.mcap", "first.mp4", "first.npz"]
            bag = read_bag(tmp_path / "first" / "first.mcap")
            assert bag["/hoi/motion"][0][1].num_frames == resp.motion.num_frames
            assert len(bag["/hoi/generate/video"]) == resp.motion.num_frames
            assert _transition(client, "deactivate") and _state(client) == "inactive"
            resp = client.call(make_request("srv", num_inference_steps=1))
            assert not resp.success and "not active (lifecycle state 'inactive')" in resp.message
            assert _transition(client, "cleanup") and _state(client) == "unconfigured"
            wait_for(lambda: "model unloaded" in node.log(), 10, "the model to be freed", node)
            assert _transition(client, "configure") and _transition(client, "activate")
            resp = client.call(make_request("srv", num_inference_steps=1, request_id="second"), timeout=120)
            assert resp.success, resp.message
            assert node.log().count("loaded SViMoGenerator") == 2
            node.assert_alive()
    finally:
        client.close()
