"""``hoi_pam``: PAM's sim-to-real video generation as the action ``pam/generate`` (``/hoi/pam/generate``).

PAM (*PAM: A Pose-Appearance-Motion Engine for Sim-to-Real HOI Video Generation*, CVPR 2026;
``shared/papers/pam-pose-appearance-motion-engine.md``; ``docs/pam.md``) turns a hand–object
trajectory into per-frame depth, segmentation and hand-keypoint conditions (Stage I, here the
MuJoCo sim), a first frame (Stage II) and the video (Stage III). This node only converts messages;
the model is :class:`hoi_ros.pam.pipeline.PAMPipeline`, behind the generator seam.

Names are relative to the node's namespace (default ``/hoi``; shown here with it):

* action ``/hoi/pam/generate`` (``hoi_ros/action/PAMGenerate``): a sim request (``hoi_sim``'s
  ``SimRollout`` fields, see :func:`hoi_ros.nodes.pam_requests.rollout_to_goal`) or a ``pose_file``
  under ``input_roots`` → video + trajectory. Feedback per stage (``queued``, ``rendering``,
  ``encoding``, ``denoising`` once per step of both stages, ``decoding``, ``writing``).
  Every goal is accepted and answered: an invalid one ends ABORTED with ``success: false`` and
  ``invalid request: <field>: <reason>`` (``source.object``, ``source.object_pose.position``,
  ``pose_file``, ``conditions``...), before any compute; a cancelled one CANCELED within one
  denoising step; an unexpected error ABORTED with the reason, and the node keeps serving.
* ``/hoi/pam/motion`` (``hoi_ros/HOIMotion``, latched): each generated trajectory.
* ``/hoi/pam/video`` (``sensor_msgs/Image``, rgb8) and ``/hoi/pam/camera_info``: each generated
  video, played once at its fps (for RViz).

Outputs: ``<output_root>/<request_id>/<request_id>.{mp4,npz}`` (complete files only, see
:mod:`hoi_ros.core.queue`). Requests run one at a time on one model worker, at most ``queue_size``
waiting (more are answered "busy"). Parameters: ``config/ros/pam.yaml``. Start-up refuses, naming
the parameter: a ``model`` that is neither a model folder nor a config YAML, an ``output_root``
that cannot be written, a value outside its range, a second node of the same name.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from hoi_ros.action import PAMGenerate
from hoi_ros.core.generation import RequestError
from hoi_ros.core.queue import DuplicateRequest, GenerationQueue, Job, JobOutcome, QueueFull
from hoi_ros.core.sequence import HOISequence
from hoi_ros.msg import HOIMotion
from hoi_ros.nodes.conversions import sequence_to_motion_msg
from hoi_ros.nodes.frames import optical_frame
from hoi_ros.nodes.generator_node import check_output_root
from hoi_ros.nodes.graph import refuse_duplicate_name
from hoi_ros.nodes.image_conversion import camera_info_msg, image_to_msg
from hoi_ros.nodes.pam_requests import resolve_roots, validate_goal
from hoi_ros.nodes.parameters import declare, declare_strings
from hoi_ros.nodes.queued_goals import QueuedGoals
from hoi_ros.nodes.runtime import StartupError, guarded_callback, resolve_path, spin_node

NO_MODEL = ("no PAM model configured: set the hoi_pam parameter 'model' to a model folder or a config YAML "
            "(e.g. config/models/pam/tiny_for_tests.yaml) and restart the node")
# Overall progress (feedback.progress) spanned by each stage PAM reports (docs/pam.md); other stages
# keep the last value. A pose file skips "rendering".
STAGE_SPANS: dict[str, tuple[float, float]] = {
    "queued": (0.0, 0.0),
    "rendering": (0.0, 0.1),
    "encoding": (0.1, 0.15),
    "denoising": (0.15, 0.9),
    "decoding": (0.9, 0.97),
    "writing": (0.97, 1.0),
}


def load_pipeline(model: str, device: str, default_steps: int) -> Any:
    """:meth:`PAMPipeline.from_pretrained` of the ``model`` parameter (a shipped model folder or a
    config YAML, relative to the source tree or share/hoi_ros); errors name ``model``."""
    hint = ("set a PAM model folder (pam.yaml + weights, docs/pam.md) or a config YAML such as "
            "config/models/pam/tiny_for_tests.yaml (untrained)")
    try:
        path = resolve_path(model, "model")
    except FileNotFoundError as exc:
        raise StartupError("model", f"{str(exc).split(': ', 1)[1]}; {hint}") from None
    if not path.exists():  # an absolute path is returned unchecked
        raise StartupError("model", f"{str(path)!r} not found; {hint}")
    from hoi_ros.pam.pipeline import PAMPipeline  # torch and diffusers load here, after the checks

    try:
        return PAMPipeline.from_pretrained(path, device=device or None, default_steps=default_steps or None)
    except Exception as exc:
        raise StartupError("model", f"{path}: {type(exc).__name__}: {exc}") from None


class PAMNode(Node):
    """The ``pam/generate`` action server and the video / motion publishers (module docstring)."""

    node_name = "hoi_pam"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("namespace", "hoi")
        super().__init__("hoi_pam", **kwargs)
        self.queue: GenerationQueue | None = None
        self.pipeline: Any = None
        self.action_server: ActionServer | None = None
        self.model = str(declare(self, "model", "models/pam_small",
                                 "PAM model folder (pam.yaml + weights) or config YAML; '' = no model"))
        self.device = str(declare(self, "device", "", "cpu, cuda, cuda:1; '' = the model's default (CPU)"))
        self.default_steps = int(declare(self, "default_steps", 0,
                                         "denoising steps per stage of a goal that asks for 0; 0 = the model's",
                                         low=0, high=1000))
        self.output_root = str(declare(self, "output_root", "~/.ros/hoi_ros/pam",
                                       "<output_root>/<request_id>/<request_id>.{mp4,npz}"))
        self.input_roots = resolve_roots(declare_strings(
            self, "input_roots", ["~/.ros/hoi_ros/poses"], "folders a goal's pose_file may come from"))
        self.queue_size = int(declare(self, "queue_size", 2, "goals that may wait behind the running one",
                                      low=0, high=64))
        self.video_quality = int(declare(self, "video_quality", 18, "x264 CRF of the written video", low=0, high=51))
        self.frame_id = str(declare(self, "frame_id", "world", "frame of the published motion"))
        self.camera_frame_id = optical_frame(str(declare(
            self, "camera_frame_id", "hoi_pam_camera", "camera of the video; its images are in <it>_optical_frame")))
        self.hand_side = str(declare(self, "hand_side", "right", "hand of sim requests: right or left"))
        self.mano_model_path = str(declare(self, "mano_model_path", "",
                                           "the user's MANO .npz for GraspXL pose files (docs/bodies.md); '' = none"))
        if self.hand_side not in ("right", "left"):
            raise StartupError("hand_side", f"expected 'right' or 'left', got {self.hand_side!r}")
        self.publish_video = bool(declare(self, "publish_video", True,
                                          "play each generated video once on pam/video at its fps"))
        self.publish_motion = bool(declare(self, "publish_motion", True, "publish each trajectory on pam/motion"))
        name_check = float(declare(self, "name_check_s", 3.0,
                                   "seconds to look for another node of this name before loading the model",
                                   low=0.0, high=30.0))
        refuse_duplicate_name(self, name_check)
        for root in self.input_roots:
            if not root.is_dir():
                self.get_logger().warning(f"input_roots: {root} is not a folder (yet)")
        self._load()
        refuse_duplicate_name(self, 0.0)  # once more: discovery has had the model's loading time

        group = ReentrantCallbackGroup()
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.motion_pub = self.create_publisher(HOIMotion, "pam/motion", latched)
        self.video_pub = self.create_publisher(Image, "pam/video", 10)
        self.camera_info_pub = self.create_publisher(CameraInfo, "pam/camera_info", 10)
        self._play_lock = threading.Lock()
        self._playing: tuple[HOISequence, int] | None = None
        self._timer = None
        self._timer_group = MutuallyExclusiveCallbackGroup()
        self.goals = QueuedGoals(STAGE_SPANS, PAMGenerate.Result, PAMGenerate.Feedback, self.get_logger())
        self.action_server = ActionServer(
            self, PAMGenerate, "pam/generate", execute_callback=self._on_execute,
            goal_callback=lambda goal: GoalResponse.ACCEPT, cancel_callback=self._on_cancel, callback_group=group,
        )
        self.get_logger().info(f"serving {self.resolve_topic_name('pam/generate')} (action)")

    def _load(self) -> None:
        if not self.model:
            self.get_logger().warning(NO_MODEL)
            return
        root = check_output_root(self.output_root)  # before the model loads
        start = time.monotonic()
        self.pipeline = load_pipeline(self.model, self.device, self.default_steps)
        self.pipeline.mano_model_path = str(Path(self.mano_model_path).expanduser()) if self.mano_model_path else None
        self.queue = GenerationQueue(self.pipeline, root, self.queue_size, self.video_quality).start()
        trained = "" if self.pipeline.weights_trained else " (untrained weights: the video is noise-like)"
        self.get_logger().info(f"loaded PAM {self.pipeline.cfg.name} from {self.model} in "
                               f"{time.monotonic() - start:.1f} s{trained}; writing to {self.queue.output_root}")

    @property
    def executor_threads(self) -> int:
        """A waiting goal holds a thread: ``queue_size + 1`` may wait, the rest accept, cancel and publish."""
        return self.queue_size + 4

    # ----------------------------------------------------------------- action
    def _on_cancel(self, goal_handle: Any) -> CancelResponse:
        return self.goals.cancel(goal_handle, self.queue)

    def _on_execute(self, goal_handle: Any) -> PAMGenerate.Result:
        return self.goals.execute(goal_handle, self._generate, self._fill)

    def _generate(self, goal: Any, setup: Any) -> JobOutcome:
        """Validate, queue and wait for one goal (blocks this executor thread, see module doc)."""
        request_id, seed = str(goal.request_id), int(goal.seed)
        queue = self.queue
        if queue is None:
            return JobOutcome(False, NO_MODEL, request_id, seed)
        try:
            valid = validate_goal(goal, self.pipeline.limits, self.input_roots, self.hand_side)
        except RequestError as exc:
            self.get_logger().warning(f"invalid request: {exc}")
            return JobOutcome(False, f"invalid request: {exc}", request_id, seed)
        job = Job(valid.request_id, valid.request)
        setup(job)
        try:
            queue.submit(job)
        except QueueFull as exc:
            return JobOutcome(False, str(exc), valid.request_id, valid.request.seed)
        except DuplicateRequest as exc:
            return JobOutcome(False, f"invalid request: {exc}", valid.request_id, valid.request.seed)
        source = "pose file" if isinstance(valid.request.source, str) else f"sim {valid.request.source['task']}"
        self.get_logger().info(f"request {valid.request_id}: {source}, {valid.request.num_inference_steps} steps, "
                               f"seed {valid.request.seed}, conditions {valid.request.conditions}")
        outcome = job.wait()
        assert outcome is not None
        if outcome.success:
            self.get_logger().info(f"request {outcome.request_id}: {outcome.message}")
            self._publish(outcome.sequence)
        else:
            self.get_logger().warning(f"request {outcome.request_id}: {outcome.message}")
        return outcome

    def _fill(self, out: PAMGenerate.Result, outcome: JobOutcome, return_video: bool) -> PAMGenerate.Result:
        out.success = outcome.success
        out.message = outcome.message
        out.request_id = outcome.request_id
        out.seed = int(outcome.seed)
        out.video_path = outcome.video_path
        out.sequence_path = outcome.sequence_path
        seq = outcome.sequence
        if seq is not None:
            out.motion = sequence_to_motion_msg(seq, self.frame_id, self.get_clock().now().to_msg())
            if return_video and seq.video is not None:
                out.video = [image_to_msg(frame, frame_id=self.camera_frame_id, stamp=out.motion.header.stamp)
                             for frame in seq.video]
        return out

    # ----------------------------------------------------------------- publishing
    def _publish(self, seq: HOISequence | None) -> None:
        """The trajectory on ``pam/motion``; the video played once on ``pam/video`` at its fps."""
        if seq is None:
            return
        if self.publish_motion:
            self.motion_pub.publish(sequence_to_motion_msg(seq, self.frame_id, self.get_clock().now().to_msg()))
        if not self.publish_video or seq.video is None:
            return
        with self._play_lock:
            self._playing = (seq, 0)
            if self._timer is not None:
                self.destroy_timer(self._timer)
            self._timer = self.create_timer(1.0 / max(float(seq.fps), 1e-3),
                                            guarded_callback(self, self._tick, "video playback"),
                                            callback_group=self._timer_group)

    def _tick(self) -> None:
        with self._play_lock:
            if self._playing is None:
                return
            seq, t = self._playing
            if t >= seq.num_frames:  # played once: the timer rests until the next video
                self._playing = None
                if self._timer is not None:
                    self._timer.cancel()
                return
            self._playing = (seq, t + 1)
        stamp = self.get_clock().now().to_msg()
        frame = np.ascontiguousarray(seq.video[t])
        self.video_pub.publish(image_to_msg(frame, frame_id=self.camera_frame_id, stamp=stamp))
        self.camera_info_pub.publish(camera_info_msg(seq.camera, self.camera_frame_id, stamp))

    def destroy_node(self) -> None:
        """Stop the worker (cancelling what runs and waits) and the action server."""
        queue, self.queue = getattr(self, "queue", None), None
        if queue is not None:
            queue.stop()
        if getattr(self, "action_server", None) is not None:
            self.action_server.destroy()
            self.action_server = None
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return spin_node(PAMNode, lambda node: node.executor_threads, args)


if __name__ == "__main__":
    raise SystemExit(main())

