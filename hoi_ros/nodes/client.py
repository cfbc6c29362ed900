"""A reusable client of a hoi_ros stack: generate (action), retarget and rollout (services).

    from hoi_ros.nodes.client import HOIClient

    with HOIClient(namespace="/hoi") as client:          # its own rclpy context, spun in a thread
        client.wait_ready(["generate"], timeout=30)
        result = client.generate(image, "grasp the ball", num_inference_steps=4,
                                 feedback=lambda fb: print(fb.stage, fb.step, fb.total_steps))
        job = client.generate_async(image, "push the box")   # a GenerateJob: done(), result(), cancel()
        job.cancel()
        joints = client.retarget(result.motion, robot="allegro")
        episode = client.rollout(task="grasp_lift", object="red box", return_images=False)

Every call is also available without blocking (``*_async``). Names are relative to ``namespace``,
so one client talks to one stack (``/robot1/hoi`` and ``/robot2/hoi`` side by side). The client
lives with the nodes (it imports rclpy) and is what ``hoi_ros.nodes.demo_client`` uses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import rclpy
from rclpy.action import ActionClient
from rclpy.executors import SingleThreadedExecutor
from rclpy.task import Future

from hoi_ros.action import Generate as GenerateAction
from hoi_ros.nodes.image_conversion import image_to_msg
from hoi_ros.srv import Retarget, SimRollout

GENERATE_FIELDS = ("num_frames", "num_inference_steps", "seed", "guidance_scale", "request_id", "return_video")


class ClientError(RuntimeError):
    """No server, no answer in time, or a rejected goal; the message says which."""


def wait_future(future: Future, timeout: float | None, what: str) -> Any:
    """``future``'s result, waiting at most ``timeout`` seconds (None = forever)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not future.done():
        if deadline is not None and time.monotonic() > deadline:
            raise ClientError(f"no {what} after {timeout:.0f} s")
        time.sleep(0.01)
    return future.result()


class GenerateJob:
    """One accepted ``generate`` goal: wait for its result, cancel it, or ask whether it is done."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self._result = handle.get_result_async()

    @property
    def goal_id(self) -> bytes:
        return bytes(self.handle.goal_id.uuid)

    def done(self) -> bool:
        return self._result.done()

    def result(self, timeout: float | None = None) -> tuple[int, GenerateAction.Result]:
        """(``action_msgs/GoalStatus`` status, result) once the goal has ended."""
        wrapped = wait_future(self._result, timeout, "generate result")
        return int(wrapped.status), wrapped.result

    def cancel(self, timeout: float = 10.0) -> bool:
        """Ask the server to cancel; True when it accepted (the result then follows)."""
        response = wait_future(self.handle.cancel_goal_async(), timeout, "cancel response")
        return bool(response.goals_canceling)


class HOIClient:
    """Generate / retarget / rollout client of the stack in ``namespace`` (see the module docstring)."""

    def __init__(self, namespace: str = "/hoi", node_name: str = "hoi_client") -> None:
        self.namespace = "/" + namespace.strip("/") if namespace.strip("/") else ""
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(node_name, context=self.context)
        self._generate = ActionClient(self.node, GenerateAction, self.name("generate"))
        self._retarget = self.node.create_client(Retarget, self.name("retarget"))
        self._rollout = self.node.create_client(SimRollout, self.name("sim/rollout"))
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name="hoi-client", daemon=True)
        self._thread.start()

    def name(self, relative: str) -> str:
        """The full name of ``relative`` in this client's namespace."""
        return f"{self.namespace}/{relative}"

    def _spin(self) -> None:
        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except Exception:  # the context was shut down under the spinning thread
            pass

    # ----------------------------------------------------------------- readiness
    def ready(self, interfaces: Iterable[str] = ("generate", "retarget", "sim/rollout")) -> bool:
        checks = {"generate": self._generate.server_is_ready, "retarget": self._retarget.service_is_ready,
                  "sim/rollout": self._rollout.service_is_ready}
        return all(checks[name]() for name in interfaces)

    def wait_ready(self, interfaces: Iterable[str] = ("generate",), timeout: float = 30.0) -> None:
        """Wait until the servers of ``interfaces`` are discovered, else :class:`ClientError`."""
        interfaces = list(interfaces)
        deadline = time.monotonic() + timeout
        while not self.ready(interfaces):
            if time.monotonic() > deadline:
                missing = [n for n in interfaces if not self.ready([n])]
                raise ClientError(f"no server for {', '.join(self.name(n) for n in missing)} after {timeout:.0f} s "
                                  "(start the stack: ros2 launch hoi_ros generate.launch.py)")
            time.sleep(0.05)

    # ----------------------------------------------------------------- generate
    @staticmethod
    def goal(image: np.ndarray, prompt: str, **fields: Any) -> GenerateAction.Goal:
        """A ``Generate`` goal of an RGB ``[H, W, 3] uint8`` image, a prompt and optional fields
        (``num_frames``, ``num_inference_steps``, ``seed`` (negative = the node picks one),
        ``guidance_scale``, ``request_id``; 0 / empty = the model's default; ``return_video=True``
        puts the generated frames into the result, for a client on another machine)."""
        unknown = set(fields) - set(GENERATE_FIELDS)
        if unknown:
            raise TypeError(f"unknown Generate fields {sorted(unknown)}; known: {', '.join(GENERATE_FIELDS)}")
        goal = GenerateAction.Goal(prompt=str(prompt), seed=int(fields.pop("seed", -1)), **fields)
        goal.image = image_to_msg(np.asarray(image), "rgb8", frame_id="hoi_camera")
        return goal

    def generate_async(self, image: np.ndarray, prompt: str, feedback: Callable[[Any], None] | None = None,
                       timeout: float = 30.0, **fields: Any) -> GenerateJob:
        """Send a goal; returns its :class:`GenerateJob` once accepted (:class:`ClientError` when the
        server rejects it: an invalid request, see the server's log). ``feedback`` gets each
        ``Generate.Feedback`` (stage, step, total_steps, progress)."""
        callback = (lambda msg: feedback(msg.feedback)) if feedback is not None else None
        handle = wait_future(self._generate.send_goal_async(self.goal(image, prompt, **fields),
                                                            feedback_callback=callback),
                             timeout, "goal response")
        if handle is None or not handle.accepted:
            raise ClientError("the goal was rejected (an invalid request: the server's log names the field)")
        return GenerateJob(handle)

    def generate(self, image: np.ndarray, prompt: str, feedback: Callable[[Any], None] | None = None,
                 timeout: float | None = None, **fields: Any) -> GenerateAction.Result:
        """Generate and wait: the result (``success``, ``message``, ``motion``, paths, ``seed``)."""
        return self.generate_async(image, prompt, feedback, **fields).result(timeout)[1]

    # ----------------------------------------------------------------- services
    def retarget_async(self, motion: Any, robot: str = "") -> Future:
        """``retarget`` a ``HOIMotion`` to ``robot`` (a name; "" = the node's robot)."""
        return self._retarget.call_async(Retarget.Request(motion=motion, robot=str(robot)))

    def retarget(self, motion: Any, robot: str = "", timeout: float | None = 60.0) -> Retarget.Response:
        return wait_future(self.retarget_async(motion, robot), timeout, "retarget response")

    def rollout_async(self, **fields: Any) -> Future:
        """``sim/rollout`` with the ``SimRollout`` request fields given (task, object, poses, seed...)."""
        request = SimRollout.Request()
        for key, value in fields.items():
            if not hasattr(request, key):
                raise TypeError(f"unknown SimRollout field {key!r}")
            setattr(request, key, value)
        return self._rollout.call_async(request)

    def rollout(self, timeout: float | None = 300.0, **fields: Any) -> SimRollout.Response:
        return wait_future(self.rollout_async(**fields), timeout, "rollout response")

    # ----------------------------------------------------------------- lifetime
    def close(self) -> None:
        self._generate.destroy()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5)

    def __enter__(self) -> HOIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
