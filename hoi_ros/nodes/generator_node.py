"""``hoi_generator``: serves ``/hoi/generate`` as a service and as an action, publishes ``/hoi/motion``.

Each generated motion is published (latched) on ``/hoi/motion`` (``hoi_ros/HOIMotion``) and the
path of its saved sequence on ``/hoi/sequence_path`` (``std_msgs/String``) for ``hoi_viz``.

At start-up the node loads the generator named by the ``generator_config`` parameter (a model
YAML such as ``config/models/svimo/tiny_for_tests.yaml``) once. With ``generator_config: ""`` it still serves
``/hoi/generate`` and answers every call with ``success=false`` and "no generator configured".

Requests are validated (:mod:`hoi_ros.nodes.validation`) before any compute, then handed to a
:class:`~hoi_ros.core.queue.GenerationQueue`: one model worker thread, at most
``queue_size`` requests waiting, anything beyond refused at once as "busy". A
``MultiThreadedExecutor`` with ``queue_size + 4`` threads runs the callbacks (reentrant group):
a waiting call holds one thread, and at most ``queue_size + 1`` calls wait, so the executor
always has threads free to accept, refuse, cancel and publish feedback.
"""

from __future__ import annotations

import importlib
import threading
import time
from pathlib import Path
from typing import Any

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from hoi_ros.action import Generate as GenerateAction
from hoi_ros.core.generation import HOIGenerator
from hoi_ros.core.queue import DuplicateRequest, GenerationQueue, Job, JobOutcome, QueueFull
from hoi_ros.msg import HOIMotion
from hoi_ros.nodes.conversions import sequence_to_motion_msg
from hoi_ros.nodes.runtime import resolve_path, spin_node
from hoi_ros.nodes.validation import RequestError, validate_request
from hoi_ros.srv import Generate as GenerateSrv

NO_GENERATOR = (
    "no generator configured: set the hoi_generator parameter 'generator_config' to a model YAML "
    "(e.g. config/models/svimo/tiny_for_tests.yaml) and restart the node"
)
# Overall progress (feedback.progress) spanned by each stage of hoi_ros.core.generation.STAGES that SViMo
# reports; other stages keep the last value.
STAGE_SPANS: dict[str, tuple[float, float]] = {
    "queued": (0.0, 0.0),
    "encoding": (0.0, 0.05),
    "denoising": (0.05, 0.9),
    "decoding": (0.9, 0.97),
    "writing": (0.97, 1.0),
}


def resolve_config_path(path: str) -> Path:
    """The model YAML: as given, else relative to the source tree or the installed share/hoi_ros."""
    return resolve_path(path, "generator_config")


def load_generator(config: str, factory: str, overrides: dict[str, Any]) -> HOIGenerator:
    """Build the generator: ``factory`` is ``module:callable`` taking the config path (+ overrides)."""
    path = resolve_config_path(config)
    module_name, _, attr = factory.partition(":")
    if not module_name or not attr:
        raise ValueError(f"generator_factory: expected 'module:callable', got {factory!r}")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    generator = target(path, **overrides) if overrides else target(path)
    if not isinstance(generator, HOIGenerator):
        raise TypeError(f"generator_factory: {factory} returned {type(generator).__name__}, not an HOIGenerator")
    return generator


class GeneratorNode(Node):
    """The ``/hoi/generate`` service + action server (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("hoi_generator", **kwargs)
        p = self.declare_parameter
        self.generator_config = str(p("generator_config", "").value)
        self.generator_factory = str(
            p("generator_factory", "hoi_ros.svimo.pipeline:SViMoGenerator.from_config").value
        )
        # Overrides of the model YAML (empty / negative = keep the YAML's value).
        overrides = {
            "checkpoint": str(p("checkpoint", "").value),
            "device": str(p("device", "").value),
            "dtype": str(p("dtype", "").value),
        }
        overrides = {k: v for k, v in overrides.items() if v}
        for name in ("model_cpu_offload", "vae_slicing", "vae_tiling"):
            value = str(p(name, "").value)  # "" = the YAML's, else "true"/"false"
            if value:
                if value.lower() not in ("true", "false"):
                    raise ValueError(f"{name}: expected 'true', 'false' or '' (the YAML's), got {value!r}")
                overrides[name] = value.lower() == "true"
        self.output_root = str(p("output_root", "~/.ros/hoi_ros/generations").value)
        self.queue_size = int(p("queue_size", 2).value)
        self.frame_id = str(p("frame_id", "world").value)
        self.max_image_pixels = int(p("max_image_pixels", 0).value)
        video_quality = int(p("video_quality", 18).value)

        self.generator: HOIGenerator | None = None
        self.queue: GenerationQueue | None = None
        if self.generator_config:
            start = time.monotonic()
            self.generator = load_generator(self.generator_config, self.generator_factory, overrides)
            self.queue = GenerationQueue(self.generator, self.output_root, self.queue_size, video_quality).start()
            self.get_logger().info(
                f"loaded {type(self.generator).__name__} from {self.generator_config} in "
                f"{time.monotonic() - start:.1f} s; writing to {self.queue.output_root}"
            )
        else:
            self.get_logger().warning(NO_GENERATOR)

        group = ReentrantCallbackGroup()
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.motion_pub = self.create_publisher(HOIMotion, "/hoi/motion", latched)
        self.path_pub = self.create_publisher(String, "/hoi/sequence_path", latched)
        self.service = self.create_service(GenerateSrv, "/hoi/generate", self._on_service, callback_group=group)
        self._goal_jobs: dict[bytes, Job] = {}
        self._goal_lock = threading.Lock()
        self.action_server = ActionServer(
            self, GenerateAction, "/hoi/generate", execute_callback=self._on_execute,
            goal_callback=lambda _goal: GoalResponse.ACCEPT, cancel_callback=self._on_cancel,
            callback_group=group,
        )
        self.get_logger().info("serving /hoi/generate (service and action)")

    @property
    def executor_threads(self) -> int:
        return self.queue_size + 4

    # ----------------------------------------------------------------- shared path
    def _generate(self, request: Any, job_setup: Any = None) -> JobOutcome:
        """Validate, queue and wait for one request (blocks this executor thread, see module doc)."""
        if self.queue is None:
            return JobOutcome(False, NO_GENERATOR, str(request.request_id), int(request.seed))
        try:
            valid = validate_request(request, self.generator.limits, self.max_image_pixels)
        except RequestError as exc:
            return JobOutcome(False, f"invalid request: {exc}", str(request.request_id), int(request.seed))
        job = Job(valid.request_id, valid.generation)
        if job_setup is not None:
            job_setup(job)
        try:
            self.queue.submit(job)
        except (QueueFull, DuplicateRequest) as exc:
            return JobOutcome(False, str(exc), valid.request_id, valid.generation.seed)
        outcome = job.wait()
        if outcome.success and outcome.sequence is not None:
            self.motion_pub.publish(self._motion(outcome))
            self.path_pub.publish(String(data=outcome.sequence_path))
        self.get_logger().info(f"request {outcome.request_id}: {outcome.message}")
        return outcome

    def _motion(self, outcome: JobOutcome) -> HOIMotion:
        return sequence_to_motion_msg(outcome.sequence, self.frame_id, self.get_clock().now().to_msg())

    def _fill(self, out: Any, outcome: JobOutcome) -> Any:
        out.success = outcome.success
        out.message = outcome.message
        out.request_id = outcome.request_id
        out.seed = int(outcome.seed)
        out.video_path = outcome.video_path
        out.sequence_path = outcome.sequence_path
        if outcome.sequence is not None:
            out.motion = self._motion(outcome)
        return out

    # ----------------------------------------------------------------- service
    def _on_service(self, request: GenerateSrv.Request, response: GenerateSrv.Response) -> GenerateSrv.Response:
        return self._fill(response, self._generate(request))

    # ----------------------------------------------------------------- action
    def _on_cancel(self, goal_handle: Any) -> CancelResponse:
        with self._goal_lock:
            job = self._goal_jobs.get(bytes(goal_handle.goal_id.uuid))
        if job is not None:
            job.cancel.set()
        return CancelResponse.ACCEPT

    def _on_execute(self, goal_handle: Any) -> GenerateAction.Result:
        key = bytes(goal_handle.goal_id.uuid)
        state = {"stage": "queued", "progress": 0.0}

        def progress(stage: str, step: int, total: int) -> None:
            lo, hi = STAGE_SPANS.get(stage, (state["progress"], state["progress"]))
            frac = lo + (hi - lo) * (step / total if total > 0 else 1.0)
            state["progress"] = max(state["progress"], frac) if stage != "queued" else 0.0
            fb = GenerateAction.Feedback(stage=stage, step=max(int(step), 0), total_steps=max(int(total), 0),
                                         progress=float(state["progress"]))
            goal_handle.publish_feedback(fb)

        def setup(job: Job) -> None:
            job.progress = progress
            with self._goal_lock:
                self._goal_jobs[key] = job
            if goal_handle.is_cancel_requested:
                job.cancel.set()

        try:
            outcome = self._generate(goal_handle.request, setup)
        finally:
            with self._goal_lock:
                self._goal_jobs.pop(key, None)
        result = self._fill(GenerateAction.Result(), outcome)
        if outcome.cancelled and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif outcome.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

    def destroy_node(self) -> None:
        if self.queue is not None:
            self.queue.stop()
        self.action_server.destroy()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return spin_node(GeneratorNode, lambda node: node.executor_threads, args)


if __name__ == "__main__":
    raise SystemExit(main())
