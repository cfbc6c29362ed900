"""``hoi_generator``: serves ``generate`` as a service and as an action, publishes ``motion``.

Names are relative to the node's namespace (default ``/hoi``, so ``/hoi/generate``; a launch
``namespace`` or ``-r __ns:=/robot1/hoi`` moves them all). Each generated motion is published
(latched) on ``motion`` (``hoi_ros/HOIMotion``) and the path of its saved sequence on
``sequence_path`` (``std_msgs/String``) for ``hoi_viz``.

At start-up the node loads the generator named by the ``generator_config`` parameter (a model
YAML such as ``config/models/svimo/tiny_for_tests.yaml``) once. With ``generator_config: ""`` it still serves
``/hoi/generate`` and answers every call with ``success=false`` and "no generator configured".

Requests are validated (:mod:`hoi_ros.nodes.validation`) before any compute, then handed to a
:class:`~hoi_ros.core.queue.GenerationQueue`: one model worker thread, at most
``queue_size`` requests waiting, anything beyond refused at once as "busy". A
``MultiThreadedExecutor`` with ``queue_size + 4`` threads runs the callbacks (reentrant group):
a waiting call holds one thread, and at most ``queue_size + 1`` calls wait, so the executor
always has threads free to accept, refuse, cancel and publish feedback.

An action goal that fails validation is REJECTED in the goal callback (the reason is logged); a
goal cancelled while it waits in the queue ends CANCELED at once and frees its place. Every
handler answers: an unexpected error becomes ``success: false`` with the reason.

Start-up refuses, naming the parameter and before the model loads: an ``output_root`` that cannot
be written, a parameter outside its range, and a second node of the same name on the graph.

A lifecycle node (``lifecycle_msgs`` services under ``<node>/``): ``configure`` loads the model,
``activate`` serves, ``deactivate`` refuses requests (goals are REJECTED, calls answered "not
active"), ``cleanup`` stops the worker and frees the model (``torch.cuda.empty_cache()`` when
torch is loaded), so a robot can unload a large model between uses. With ``autostart: true``
(default) the node configures and activates itself at start-up.

CPU threads: before the model (and with it torch) loads, the node sets the OpenMP wait policy
(``omp_wait_policy``, default ``passive``: idle threads sleep instead of spinning, so another busy
process slows generation in proportion instead of many times over) and the thread count
(``num_threads``, 0 = the cores this process may use); :mod:`hoi_ros.core.threads`.

The request's ``camera``/``camera_pose`` become the generator's request camera (validation). Input
the model does not cover is reported, not refused: the response's ``warnings`` (also appended to
``message``) are the sequence's ``metadata["warnings"]``.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from hoi_ros.action import Generate as GenerateAction
from hoi_ros.core.generation import HOIGenerator
from hoi_ros.core.queue import DuplicateRequest, GenerationQueue, Job, JobOutcome, QueueFull
from hoi_ros.core.threads import WAIT_POLICIES, apply_thread_policy
from hoi_ros.msg import HOIMotion
from hoi_ros.nodes.conversions import sequence_to_motion_msg
from hoi_ros.nodes.frames import optical_frame
from hoi_ros.nodes.graph import refuse_duplicate_name
from hoi_ros.nodes.image_conversion import image_to_msg
from hoi_ros.nodes.parameters import declare
from hoi_ros.nodes.queued_goals import QueuedGoals
from hoi_ros.nodes.runtime import StartupError, guarded_service, resolve_path, spin_node
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


def check_output_root(path: str) -> Path:
    """``output_root`` created if needed and writable, else :class:`StartupError` (before the model loads)."""
    root = Path(path).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError("output_root", f"cannot create {str(root)!r}: {exc.strerror or exc}") from None
    if not root.is_dir() or not os.access(root, os.W_OK | os.X_OK):
        raise StartupError("output_root", f"{str(root)!r} is not a writable folder")
    return root.resolve()


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


class GeneratorNode(LifecycleNode):
    """The ``generate`` service + action server (see the module docstring), a lifecycle node."""

    node_name = "hoi_generator"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("namespace", "hoi")
        super().__init__("hoi_generator", **kwargs)
        self.queue: GenerationQueue | None = None
        self.action_server: ActionServer | None = None
        self.generator: HOIGenerator | None = None
        self._active = False
        self._configure_error: StartupError | None = None
        self.generator_config = str(declare(self, "generator_config", "",
                                            "model YAML loaded on configure; '' = no model"))
        self.generator_factory = str(declare(self, "generator_factory",
                                             "hoi_ros.svimo.pipeline:SViMoGenerator.from_config",
                                             "module:callable building the generator from the model YAML"))
        # Overrides of the model YAML (empty = keep the YAML's value).
        overrides: dict[str, Any] = {
            "checkpoint": str(declare(self, "checkpoint", "",
                                      "trained weights: model folder or safetensors file; '' = the YAML's")),
            "device": str(declare(self, "device", "", "cpu, cuda, cuda:1; '' = the YAML's")),
            "dtype": str(declare(self, "dtype", "", "float32, bfloat16, float16; '' = the YAML's")),
        }
        overrides = {k: v for k, v in overrides.items() if v}
        coverage = str(declare(self, "input_coverage", "",
                               "statistics of the model's training input (warnings for input unlike it): "
                               "a JSON file, 'none' = no checks, '' = the model folder's"))
        if coverage:  # a path as given, else relative to the source tree or share/hoi_ros
            try:
                overrides["input_coverage"] = (coverage if coverage.lower() == "none"
                                               else str(resolve_path(coverage, "input_coverage")))
            except FileNotFoundError as exc:
                raise StartupError("input_coverage", str(exc).split(": ", 1)[1]) from None
        for name in ("model_cpu_offload", "vae_slicing", "vae_tiling", "object_follows_hand"):
            value = str(declare(self, name, "", "'true', 'false' or '' (the YAML's)"))
            if value:
                if value.lower() not in ("true", "false"):
                    raise StartupError(name, f"expected 'true', 'false' or '' (the YAML's), got {value!r}")
                overrides[name] = value.lower() == "true"
        self.overrides = overrides
        self.num_threads = int(declare(self, "num_threads", 0, "CPU threads of the model (0 = the cores this "
                                       "process may use)", low=0, high=1024))
        self.omp_wait_policy = str(declare(self, "omp_wait_policy", "passive",
                                           "OpenMP idle threads: 'passive' (sleep; a busy machine slows "
                                           "generation proportionally), 'active' (spin) or '' (the environment's)"))
        if self.omp_wait_policy.strip().lower() not in WAIT_POLICIES:
            raise StartupError("omp_wait_policy", f"expected 'passive', 'active' or '', got {self.omp_wait_policy!r}")
        self.output_root = str(declare(self, "output_root", "~/.ros/hoi_ros/generations",
                                       "<output_root>/<request_id>/<request_id>.{mp4,npz}"))
        self.queue_size = int(declare(self, "queue_size", 2, "requests that may wait behind the running one",
                                      low=0, high=64))
        self.frame_id = str(declare(self, "frame_id", "world", "frame of the published motion"))
        self.camera_frame_id = optical_frame(str(declare(
            self, "camera_frame_id", "hoi_camera", "camera of returned video frames; they are in <it>_optical_frame")))
        self.max_image_pixels = int(declare(self, "max_image_pixels", 0,
                                            "cap on the reference image (0 = the model's limit)",
                                            low=0, high=2**31 - 1))
        self.video_quality = int(declare(self, "video_quality", 18, "x264 CRF of the written video",
                                         low=0, high=51))
        name_check = float(declare(self, "name_check_s", 3.0,
                                   "seconds to look for another node of this name before loading the model",
                                   low=0.0, high=30.0))
        self.record_mcap = bool(declare(self, "record_mcap", False,
                                        "also write <request_id>.mcap (motion, video, camera info, TF)"))
        autostart = bool(declare(self, "autostart", True,
                                 "configure (load the model) and activate at start-up; false = wait for "
                                 "lifecycle transitions"))
        refuse_duplicate_name(self, name_check)
        # Autostart loads the model before the interfaces appear: a client that sees the service
        # finds it ready.
        if autostart and self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            raise self._configure_error or StartupError("generator_config", "configure failed")
        refuse_duplicate_name(self, 0.0)  # once more: discovery has had the model's loading time

        group = ReentrantCallbackGroup()
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.motion_pub = self.create_publisher(HOIMotion, "motion", latched)
        self.path_pub = self.create_publisher(String, "sequence_path", latched)
        self.service = self.create_service(GenerateSrv, "generate", guarded_service(self, self._on_service),
                                           callback_group=group)
        self.goals = QueuedGoals(STAGE_SPANS, GenerateAction.Result, GenerateAction.Feedback, self.get_logger())
        self.action_server = ActionServer(
            self, GenerateAction, "generate", execute_callback=self._on_execute,
            goal_callback=self._on_goal, cancel_callback=self._on_cancel, callback_group=group,
        )
        if autostart:
            self.trigger_activate()
        else:
            self.get_logger().info("unconfigured: waiting for the lifecycle transitions configure and activate")

    # ----------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Check ``output_root``, then load the model and start its worker."""
        self._configure_error = None
        try:
            self._load()
        except StartupError as exc:
            self._configure_error = exc
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = True
        self.get_logger().info(f"active: serving {self.resolve_service_name('generate')} (service and action)")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        self.get_logger().info("inactive: requests are refused until activate")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unload()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        self._unload()
        return TransitionCallbackReturn.SUCCESS

    def _load(self) -> None:
        if not self.generator_config:
            self.get_logger().warning(NO_GENERATOR)
            return
        root = check_output_root(self.output_root)  # before the model loads
        start = time.monotonic()
        apply_thread_policy(self.num_threads, self.omp_wait_policy)  # before torch loads (with the model)
        try:
            generator = load_generator(self.generator_config, self.generator_factory, self.overrides)
        except Exception as exc:
            text = str(exc)
            if text.startswith(("generator_config:", "generator_factory:", "input_coverage:")):
                raise StartupError(*text.split(": ", 1)) from None
            raise StartupError("generator_config", f"{type(exc).__name__}: {text}") from None
        threads = apply_thread_policy(self.num_threads, self.omp_wait_policy)  # torch is loaded now
        self.get_logger().info(threads.describe())
        self.generator = generator
        self.queue = GenerationQueue(generator, root, self.queue_size, self.video_quality,
                                     self._record if self.record_mcap else None).start()
        self.get_logger().info(
            f"loaded {type(generator).__name__} from {self.generator_config} in "
            f"{time.monotonic() - start:.1f} s; writing to {self.queue.output_root}"
        )

    def _record(self, folder: Path, request_id: str, seq: Any) -> None:
        """The request's MCAP bag, written beside its video and sequence (same complete-or-nothing folder)."""
        from hoi_ros.nodes.recording import record_sequence

        record_sequence(folder / f"{request_id}.mcap", seq, self.get_namespace(), self.frame_id,
                        self.camera_frame_id, start_ns=self.get_clock().now().nanoseconds)

    def _unload(self) -> None:
        """Stop the worker (cancelling what runs and waits) and free the model, accelerator memory included."""
        queue, self.queue = self.queue, None
        if queue is not None:
            queue.stop()
        if self.generator is None:
            return
        self.generator = None
        del queue
        gc.collect()
        torch = sys.modules.get("torch")  # loaded by the model; never imported here
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.get_logger().info("model unloaded")

    def _state_label(self) -> str:
        return str(self._state_machine.current_state[1])

    @property
    def executor_threads(self) -> int:
        return self.queue_size + 4

    # ----------------------------------------------------------------- shared path
    def _generate(self, request: Any, job_setup: Any = None) -> JobOutcome:
        """Validate, queue and wait for one request (blocks this executor thread, see module doc)."""
        if not self._active:
            return JobOutcome(False, f"not active (lifecycle state {self._state_label()!r}): configure and "
                              "activate hoi_generator", str(request.request_id), int(request.seed))
        queue = self.queue
        if queue is None:
            return JobOutcome(False, NO_GENERATOR, str(request.request_id), int(request.seed))
        try:
            valid = validate_request(request, self.generator.limits, self.max_image_pixels)
        except RequestError as exc:
            return JobOutcome(False, f"invalid request: {exc}", str(request.request_id), int(request.seed))
        job = Job(valid.request_id, valid.generation)
        if job_setup is not None:
            job_setup(job)
        try:
            queue.submit(job)
        except (QueueFull, DuplicateRequest) as exc:
            return JobOutcome(False, str(exc), valid.request_id, valid.generation.seed)
        if job.cancel.is_set():  # cancelled between set-up and submit: end it now
            queue.cancel(job)
        outcome = job.wait()
        if outcome.success and outcome.sequence is not None:
            self.motion_pub.publish(self._motion(outcome))
            self.path_pub.publish(String(data=outcome.sequence_path))
        self.get_logger().info(f"request {outcome.request_id}: {outcome.message}")
        if outcome.sequence is not None:
            for warning in outcome.sequence.metadata.get("warnings", []) or []:
                self.get_logger().warning(f"request {outcome.request_id}: {warning}")
        return outcome

    def _motion(self, outcome: JobOutcome) -> HOIMotion:
        return sequence_to_motion_msg(outcome.sequence, self.frame_id, self.get_clock().now().to_msg())

    def _fill(self, out: Any, outcome: JobOutcome, return_video: bool = False) -> Any:
        warnings = []
        if outcome.sequence is not None:
            warnings = [str(w) for w in outcome.sequence.metadata.get("warnings", []) or []]
        out.success = outcome.success
        out.message = outcome.message
        if warnings:
            out.message += f"; {len(warnings)} warning(s): " + " | ".join(warnings)
        out.warnings = warnings
        out.request_id = outcome.request_id
        out.seed = int(outcome.seed)
        out.video_path = outcome.video_path
        out.sequence_path = outcome.sequence_path
        if outcome.sequence is not None:
            out.motion = self._motion(outcome)
            if return_video and outcome.sequence.video is not None:
                stamp = out.motion.header.stamp
                out.video = [image_to_msg(frame, frame_id=self.camera_frame_id, stamp=stamp)
                             for frame in outcome.sequence.video]
        return out

    # ----------------------------------------------------------------- service
    def _on_service(self, request: GenerateSrv.Request, response: GenerateSrv.Response) -> GenerateSrv.Response:
        return self._fill(response, self._generate(request), bool(request.return_video))

    # ----------------------------------------------------------------- action
    def _on_goal(self, goal: GenerateAction.Goal) -> GoalResponse:
        """REJECT a goal that fails validation (as action clients expect); accept the rest."""
        if not self._active:
            self.get_logger().warning(f"rejected goal: not active (lifecycle state {self._state_label()!r})")
            return GoalResponse.REJECT
        if self.generator is None:
            return GoalResponse.ACCEPT  # aborted with NO_GENERATOR, which says what to do
        try:
            validate_request(goal, self.generator.limits, self.max_image_pixels)
        except RequestError as exc:
            self.get_logger().warning(f"rejected goal: invalid request: {exc}")
            return GoalResponse.REJECT
        except Exception as exc:
            self.get_logger().error(f"rejected goal: {type(exc).__name__}: {exc}")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _on_cancel(self, goal_handle: Any) -> CancelResponse:
        return self.goals.cancel(goal_handle, self.queue)

    def _on_execute(self, goal_handle: Any) -> GenerateAction.Result:
        return self.goals.execute(goal_handle, self._generate, self._fill)

    def destroy_node(self) -> None:
        """Stop the worker and the action server (also after a failed start-up)."""
        if getattr(self, "queue", None) is not None:
            self._unload()
        if getattr(self, "action_server", None) is not None:
            self.action_server.destroy()
            self.action_server = None
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return spin_node(GeneratorNode, lambda node: node.executor_threads, args)


if __name__ == "__main__":
    raise SystemExit(main())
