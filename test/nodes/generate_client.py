"""Test-side DDS client of /hoi/generate (service and action), with its own rclpy context.

Spins a client node in a background thread, so tests can wait on futures with plain timeouts.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from ros_support import BackgroundClient


def make_request(kind: str, image: np.ndarray | None = None, **fields: Any) -> Any:
    """A Generate service request (``kind="srv"``) or action goal (``"action"``) with defaults."""
    from hoi_ros.action import Generate as GenerateAction
    from hoi_ros.srv import Generate as GenerateSrv

    from hoi_ros.nodes.image_conversion import image_to_msg

    if image is None:
        image = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    msg = GenerateSrv.Request() if kind == "srv" else GenerateAction.Goal()
    msg.image = image_to_msg(image, encoding=fields.pop("encoding", "rgb8"))
    msg.prompt = "grasp the ball"
    msg.seed = 0
    for key, value in fields.items():
        setattr(msg, key, value)
    return msg


class GenerateClient(BackgroundClient):
    """Service client + action client of ``/hoi/generate`` in a private context."""

    def __init__(self, name: str = "hoi_test_client", namespace: str = "/hoi") -> None:
        from hoi_ros.action import Generate as GenerateAction
        from hoi_ros.srv import Generate as GenerateSrv
        from rclpy.action import ActionClient

        super().__init__(name)
        self.srv = self.node.create_client(GenerateSrv, f"{namespace}/generate")
        self.action = ActionClient(self.node, GenerateAction, f"{namespace}/generate")
        self.start()

    def wait_ready(self, timeout: float = 30.0, node: Any = None) -> None:
        from ros_support import wait_for

        wait_for(lambda: self.srv.service_is_ready() and self.action.server_is_ready(), timeout,
                 "/hoi/generate service and action server", node)

    @staticmethod
    def wait_future(future: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(0.01)
        return future.result()

    def call(self, request: Any, timeout: float = 60.0) -> Any:
        return self.wait_future(self.srv.call_async(request), timeout, "the service response")

    def send_goal(self, goal: Any, feedback: list | None = None, timeout: float = 30.0,
                  expect_accepted: bool = True) -> Any:
        """Send ``goal``; returns the goal handle (feedback messages are appended to ``feedback``)."""
        cb = (lambda msg: feedback.append(msg.feedback)) if feedback is not None else None
        handle = self.wait_future(self.action.send_goal_async(goal, feedback_callback=cb), timeout,
                                  "the goal response")
        if expect_accepted:
            assert handle.accepted, "goal rejected"
        return handle

    def result(self, handle: Any, timeout: float = 60.0) -> Any:
        """(status, result) of an accepted goal."""
        res = self.wait_future(handle.get_result_async(), timeout, "the action result")
        return res.status, res.result

    def close(self) -> None:
        self.action.destroy()
        super().close()
