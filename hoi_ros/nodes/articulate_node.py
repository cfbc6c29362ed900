"""``hoi_articulate``: ArtHOI on a monocular video as the ROS action ``articulate`` (``hoi_ros/action/Articulate``).

Names are relative to the node's namespace (default ``/hoi``, so ``/hoi/articulate``; a launch
``namespace`` or ``-r __ns:=/robot1/hoi`` moves them all). The node converts messages only; the
method lives in :mod:`hoi_ros.arthoi` (ArtHOI, ``shared/papers/arthoi-articulated-hoi-dynamics-
distillation.md``): flow-based part segmentation (§3.1), Stage I's part transforms and joint, and
Stage II's hand (§3.2, reduced; docs/arthoi.md).

A goal names one source:

* ``sim_object`` (+ ``sim_action``): the articulated sim object is operated by the sim's hand and
  rendered (:mod:`hoi_ros.sim.articulated`), ArtHOI recovers its joint from the video, and the
  result carries the errors against the sim's truth (App. C's rotation errors, axis, angle or slide)
  in ``metrics_json``;
* ``sequence_path``: a scene file (:mod:`hoi_ros.arthoi.scene_io`; ``python -m hoi_ros.arthoi --sim
  door --save-scene FILE`` writes one) under one of the ``input_roots``;
* ``frames`` + ``masks`` (mono8: 0 background, 1 hand, >= 2 the object) + ``camera`` +
  ``camera_pose`` + ``geometry_path`` (the object's surface points at frame 0, ``.npy [N, 3]``,
  App. A's known geometry, under the ``input_roots``; more than ``render.num_gaussians`` points are
  subsampled). No hand estimate comes with this source, so Stage II does not run.

``config`` picks a config by name under ``config/models/arthoi`` (``default``, ``fast``); empty =
the node's ``config`` parameter (a path).

Every goal is answered. A bad input ends the goal aborted with ``success: false`` and a message
naming the field (``invalid request: <field>: <reason>``); an unexpected error the same way with
its type; a cancel request stops ArtHOI within one flow frame pair or optimiser iteration and ends
the goal canceled. One goal runs at a time; up to ``queue_size`` wait (and may be cancelled while
they wait), more are answered "busy".

Feedback: ``stage`` ``rendering`` (the sim), ``optimizing`` with ``detail`` ``segmentation``,
``stage1`` (per frame) or ``stage2`` (per ~5 % of its iterations), then ``writing``; ``progress``
is the overall fraction.

Outputs: ``<output_root>/<request_id>/<request_id>.npz`` (+ ``.mp4``: the recovered
:class:`~hoi_ros.core.sequence.HOISequence` with its articulation, points moved by Eq. 4) and
``<request_id>.json`` (joint, metrics, timings, config), written into a hidden ``.partial`` folder
that is renamed into place; the motion is published (latched) on ``articulate/motion``
(``hoi_ros/HOIMotion``) and its markers on ``articulate/markers`` (``visualization_msgs/MarkerArray``:
points coloured moving / static, the joint axis, the slide of a prismatic joint). Parameters:
``config/ros/articulate.yaml``.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from visualization_msgs.msg import MarkerArray

from hoi_ros.action import Articulate
from hoi_ros.arthoi.config import ArtHOIConfig
from hoi_ros.arthoi.pipeline import ArtHOIResult, SceneInput, recovered_sequence, run_arthoi, scene_from_episode
from hoi_ros.arthoi.scene_io import check_scene, load_scene
from hoi_ros.core.camera import Camera
from hoi_ros.core.generation import GenerationCancelled, RequestError
from hoi_ros.core.geometry import pose_matrix
from hoi_ros.core.queue import remove_partial_folders, request_folder
from hoi_ros.core.sequence import HOISequence
from hoi_ros.msg import HOIMotion
from hoi_ros.nodes.conversions import sequence_to_motion_msg
from hoi_ros.nodes.image_conversion import ImageConversionError, msg_to_rgb
from hoi_ros.nodes.parameters import declare, declare_strings
from hoi_ros.nodes.runtime import StartupError, resolve_path, spin_node
from hoi_ros.nodes.validation import check_request_id
from hoi_ros.nodes.viz_markers import articulation_markers

CONFIG_DIR = "config/models/arthoi"
CONFIG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# Overall progress (feedback.progress) spanned by each part of a goal.
SPANS: dict[str, tuple[float, float]] = {
    "rendering": (0.0, 0.05),
    "segmentation": (0.05, 0.1),
    "stage1": (0.1, 0.85),
    "stage2": (0.85, 0.97),
    "writing": (0.97, 1.0),
}
MASK_HAND, MASK_FIRST_OBJECT = 1, 2  # labels of the goal's masks


@dataclass
class Prepared:
    """A goal's scene, ready for ArtHOI, and what the result reports about its source."""

    scene: SceneInput
    source: str  # sim | sequence_path | frames
    prompt: str = ""
    info: dict[str, Any] = field(default_factory=dict)


def writable_root(path: str, parameter: str) -> Path:
    """``path`` created if needed and writable, else :class:`StartupError` naming ``parameter``."""
    root = Path(path).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(parameter, f"cannot create {str(root)!r}: {exc.strerror or exc}") from None
    if not root.is_dir() or not os.access(root, os.W_OK | os.X_OK):
        raise StartupError(parameter, f"{str(root)!r} is not a writable folder")
    return root.resolve()


def image_error(exc: ImageConversionError) -> RequestError:
    """A :class:`RequestError` of an image error whose text starts with the field (``frames[3].encoding: ...``)."""
    head, _, tail = str(exc).partition(": ")
    return RequestError(head, tail or str(exc))


def mask_labels(msg: Any, index: int) -> np.ndarray:
    """``[H, W] uint8`` labels of ``masks[index]`` (mono8 only)."""
    name = f"masks[{index}]"
    if str(msg.encoding) != "mono8":
        raise RequestError(f"{name}.encoding", f"expected mono8 (0 background, 1 hand, >= 2 the object), "
                           f"got {msg.encoding!r}")
    try:
        return msg_to_rgb(msg, field=name)[..., 0]
    except ImageConversionError as exc:
        raise image_error(exc) from None


def camera_from_goal(info: Any, pose: Any, width: int, height: int) -> Camera:
    """The :class:`Camera` of a goal's ``camera`` (intrinsics ``k``) and ``camera_pose`` (camera in the world)."""
    k = np.asarray(info.k, dtype=np.float64).reshape(3, 3).copy()
    if not np.all(np.isfinite(k)):
        raise RequestError("camera", "k contains NaN or Inf")
    if k[0, 0] <= 0 or k[1, 1] <= 0:
        raise RequestError("camera", f"zero or negative focal length (k[0] = {k[0, 0]}, k[4] = {k[1, 1]}); "
                           "fill k with the frames' intrinsics")
    if not k[2].any():
        k[2] = (0.0, 0.0, 1.0)  # an unset last row
    if not np.allclose(k[2], (0.0, 0.0, 1.0)):
        raise RequestError("camera", f"k's last row must be [0, 0, 1], got {k[2].tolist()}")
    if (int(info.width), int(info.height)) not in ((0, 0), (width, height)):
        raise RequestError("camera", f"size {info.width}x{info.height} differs from the frames' {width}x{height}")
    p, o = pose.position, pose.orientation
    quat = np.array([o.w, o.x, o.y, o.z], dtype=np.float64)
    position = np.array([p.x, p.y, p.z], dtype=np.float64)
    if not (np.all(np.isfinite(quat)) and np.all(np.isfinite(position))) or np.linalg.norm(quat) < 1e-9:
        raise RequestError("camera_pose", "not a pose (NaN, Inf or a zero quaternion)")
    cam_to_world = pose_matrix(position, quat)
    return Camera(width, height, k, np.linalg.inv(cam_to_world))


def failed(message: str, request_id: str) -> Articulate.Result:
    """The result of a goal that did not succeed: ``success`` false, the reason, no metrics."""
    return Articulate.Result(success=False, message=message, request_id=request_id, metrics_json="{}")


class ArticulateNode(Node):
    """The ``articulate`` action server (see the module docstring)."""

    node_name = "hoi_articulate"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("namespace", "hoi")
        super().__init__("hoi_articulate", **kwargs)
        config = str(declare(self, "config", f"{CONFIG_DIR}/default.yaml",
                             "ArtHOI YAML for goals with an empty config (a path)"))
        self.input_roots = [Path(r).expanduser().resolve() for r in declare_strings(
            self, "input_roots", ["~/.ros/hoi_ros/scenes"],
            "folders that sequence_path and geometry_path must lie under ([] = paths refused)")]
        output_root = str(declare(self, "output_root", "~/.ros/hoi_ros/articulations",
                                  "<output_root>/<request_id>/<request_id>.{npz,mp4,json}"))
        self.threads = int(declare(self, "threads", 1, "torch threads (1 is fastest on a shared CPU)",
                                   low=1, high=256))
        self.frame_id = str(declare(self, "frame_id", "world", "frame of the motion and the markers"))
        self.queue_size = int(declare(self, "queue_size", 1, "goals that may wait behind the running one",
                                      low=0, high=16))
        self.max_frames = int(declare(self, "max_frames", 300, "most frames a goal's video may have",
                                      low=2, high=100_000))
        self.sim_fps = float(declare(self, "sim_fps", 12.0, "frames per second of sim_object goals",
                                     low=1.0, high=60.0))
        self.sim_width = int(declare(self, "sim_width", 160, "image width of sim_object goals", low=16, high=4096))
        self.sim_height = int(declare(self, "sim_height", 120, "image height of sim_object goals",
                                      low=16, high=4096))
        try:
            self.config_path = resolve_path(config, "config")
            self.default_config = ArtHOIConfig.from_yaml(self.config_path)
        except Exception as exc:
            text = str(exc)
            raise StartupError("config", text.removeprefix("config: ")) from None
        try:
            self.config_dir = resolve_path(CONFIG_DIR, "config")
        except FileNotFoundError:
            self.config_dir = self.config_path.parent
        self.output_root = writable_root(output_root, "output_root")
        for stale in remove_partial_folders(self.output_root):
            self.get_logger().warning(f"removed {stale} (left by an interrupted goal)")
        import torch

        torch.set_num_threads(self.threads)

        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.motion_pub = self.create_publisher(HOIMotion, "articulate/motion", latched)
        self.markers_pub = self.create_publisher(MarkerArray, "articulate/markers", latched)
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._waiting = 0
        self._cancels: dict[bytes, threading.Event] = {}
        self.action_server = ActionServer(
            self, Articulate, "articulate", execute_callback=self._on_execute,
            goal_callback=lambda goal: GoalResponse.ACCEPT, cancel_callback=self._on_cancel,
            callback_group=ReentrantCallbackGroup())
        self.get_logger().info(f"serving {self.resolve_topic_name('articulate')} (config {self.config_path}, "
                               f"writing to {self.output_root})")

    @property
    def executor_threads(self) -> int:
        return self.queue_size + 4

    # ----------------------------------------------------------------- action plumbing
    def _on_cancel(self, goal_handle: Any) -> CancelResponse:
        with self._lock:
            event = self._cancels.get(bytes(goal_handle.goal_id.uuid))
        if event is not None:
            event.set()  # the running goal stops within one frame pair or iteration
        return CancelResponse.ACCEPT

    def _on_execute(self, goal_handle: Any) -> Articulate.Result:
        key = bytes(goal_handle.goal_id.uuid)
        cancel = threading.Event()
        with self._lock:
            self._cancels[key] = cancel
        try:
            if goal_handle.is_cancel_requested:
                cancel.set()
            return self._execute(goal_handle, cancel)
        except Exception as exc:  # answer the goal, keep serving
            self.get_logger().error(f"goal failed: {type(exc).__name__}: {exc}")
            goal_handle.abort()
            return failed(f"articulation failed: {type(exc).__name__}: {exc}", str(goal_handle.request.request_id))
        finally:
            with self._lock:
                self._cancels.pop(key, None)

    def _end(self, goal_handle: Any, result: Articulate.Result, cancelled: bool = False) -> Articulate.Result:
        text = f"request {result.request_id or '-'}: {result.message}"
        if result.success or cancelled:
            self.get_logger().info(text)
        else:
            self.get_logger().warning(text)
        if cancelled and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif result.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

    def _execute(self, goal_handle: Any, cancel: threading.Event) -> Articulate.Result:
        goal = goal_handle.request
        try:
            request_id = check_request_id(str(goal.request_id))
            if (self.output_root / request_id).exists():
                raise RequestError("request_id", f"{request_id!r} already has an output folder in {self.output_root}")
        except RequestError as exc:
            return self._end(goal_handle, failed(f"invalid request: {exc}", str(goal.request_id)))
        with self._lock:
            busy = self._waiting >= self.queue_size and self._run_lock.locked()
            if not busy:
                self._waiting += 1
        if busy:
            return self._end(goal_handle, failed(
                f"busy: one goal runs and {self.queue_size} wait (queue_size); try again later", request_id))
        try:
            while not self._run_lock.acquire(timeout=0.05):
                if cancel.is_set():
                    return self._end(goal_handle, failed("cancelled while waiting", request_id), cancelled=True)
        finally:
            with self._lock:
                self._waiting -= 1
        try:
            return self._run(goal_handle, goal, request_id, cancel)
        except RequestError as exc:
            return self._end(goal_handle, failed(f"invalid request: {exc}", request_id))
        except GenerationCancelled as exc:
            return self._end(goal_handle, failed(f"cancelled: {exc}".rstrip(": "), request_id), cancelled=True)
        finally:
            self._run_lock.release()

    # ----------------------------------------------------------------- one goal
    def _run(self, goal_handle: Any, goal: Any, request_id: str, cancel: threading.Event) -> Articulate.Result:
        start = time.monotonic()
        state = {"progress": 0.0}

        def feedback(stage: str, detail: str, step: int, total: int, span: str) -> None:
            lo, hi = SPANS[span]
            frac = lo + (hi - lo) * (min(step, total) / total if total > 0 else 1.0)
            state["progress"] = max(state["progress"], frac)
            goal_handle.publish_feedback(Articulate.Feedback(
                stage=stage, detail=detail, step=max(int(step), 0), total_steps=max(int(total), 0),
                progress=float(state["progress"])))

        cfg, config_name = self._config(str(goal.config))
        prepared = self._prepare(goal, cfg, feedback)
        if cancel.is_set():
            raise GenerationCancelled("before ArtHOI started")

        def progress(stage: str, step: int, steps: int, info: dict[str, float]) -> None:
            feedback("optimizing", stage, step, steps, stage)

        result = run_arthoi(prepared.scene, cfg, progress, cancel)
        if cancel.is_set():
            raise GenerationCancelled("after ArtHOI finished, before writing")
        feedback("writing", "", 0, 1, "writing")
        summary = self._summary(prepared, result, request_id, config_name, time.monotonic() - start)
        seq = recovered_sequence(prepared.scene, result, prepared.prompt,
                                 {"source": "hoi_ros.nodes.articulate_node", "request_id": request_id,
                                  "input": prepared.source, **prepared.info, "joint_type": result.joint.type,
                                  "metrics": summary["metrics"]})
        npz = self._write(request_id, seq, summary)
        feedback("writing", "", 1, 1, "writing")
        stamp = self.get_clock().now().to_msg()
        motion = sequence_to_motion_msg(seq, self.frame_id, stamp)
        self.motion_pub.publish(motion)
        self.markers_pub.publish(self._markers(seq, result, stamp))
        joint = result.joint
        out = Articulate.Result(success=True, request_id=request_id, sequence_path=str(npz), motion=motion,
                                joint_type=joint.type, joint_states=[float(v) for v in joint.states],
                                metrics_json=json.dumps(summary["metrics"]) if result.metrics else "{}")
        out.axis_origin.x, out.axis_origin.y, out.axis_origin.z = (float(v) for v in joint.origin)
        out.axis_direction.x, out.axis_direction.y, out.axis_direction.z = (float(v) for v in joint.axis)
        out.message = self._message(prepared, result, time.monotonic() - start)
        return self._end(goal_handle, out)

    def _config(self, name: str) -> tuple[ArtHOIConfig, str]:
        """The goal's config: a name under ``config/models/arthoi``, or the node's when empty."""
        if not name:
            return self.default_config, str(self.config_path)
        known = sorted(p.stem for p in self.config_dir.glob("*.yaml"))
        if not CONFIG_NAME.fullmatch(name) or name not in known:
            raise RequestError("config", f"unknown ArtHOI config {name!r}; known: {', '.join(known)} "
                               f"(names under {CONFIG_DIR}; empty = the node's)")
        try:
            return ArtHOIConfig.from_yaml(self.config_dir / f"{name}.yaml"), name
        except Exception as exc:
            raise RequestError("config", f"{name}: {exc}") from None

    def _prepare(self, goal: Any, cfg: ArtHOIConfig, feedback: Any) -> Prepared:
        """The goal's scene from its one source (see the module docstring); :class:`RequestError` naming the field."""
        if goal.sim_object:
            prepared = self._from_sim(goal, cfg, feedback)
        elif goal.sequence_path:
            path = self._input_path(str(goal.sequence_path), "sequence_path")
            try:
                scene = load_scene(path)
            except (OSError, ValueError) as exc:
                raise RequestError("sequence_path", f"{path}: {exc}") from None
            prepared = Prepared(scene, "sequence_path", info={"sequence_path": str(path)})
        elif len(goal.frames) or len(goal.masks):
            prepared = self._from_frames(goal, cfg)
        else:
            raise RequestError("sim_object", "no source: give sim_object, sequence_path, or frames + masks + "
                               "camera + camera_pose + geometry_path")
        frames = len(prepared.scene.video)
        if frames > self.max_frames:
            field_name = {"sim": "sim_object", "sequence_path": "sequence_path"}.get(prepared.source, "frames")
            raise RequestError(field_name, f"{frames} frames exceed max_frames = {self.max_frames}")
        return prepared

    def _from_sim(self, goal: Any, cfg: ArtHOIConfig, feedback: Any) -> Prepared:
        from hoi_ros.sim.articulated import ACTIONS, ArticulatedTask, run_articulated_episode
        from hoi_ros.sim.articulated_objects import ARTICULATED_NAMES

        name, action = str(goal.sim_object), str(goal.sim_action) or "open"
        if name not in ARTICULATED_NAMES:
            raise RequestError("sim_object", f"unknown articulated object {name!r}; "
                               f"known: {', '.join(ARTICULATED_NAMES)}")
        if action not in ACTIONS:
            raise RequestError("sim_action", f"expected one of {', '.join(ACTIONS)} (empty = open), got {action!r}")
        feedback("rendering", "", 0, 1, "rendering")
        episode = run_articulated_episode(ArticulatedTask(object=name, action=action, fps=self.sim_fps,
                                                          width=self.sim_width, height=self.sim_height))
        feedback("rendering", "", 1, 1, "rendering")
        scene = scene_from_episode(episode, cfg.render.num_gaussians, cfg.seed)
        return Prepared(scene, "sim", episode.sequence.prompt,
                        {"sim_object": name, "sim_action": action, "sim_success": bool(episode.success),
                         "sim_fraction_reached": float(episode.info.get("fraction_reached", float("nan")))})

    def _from_frames(self, goal: Any, cfg: ArtHOIConfig) -> Prepared:
        n, m = len(goal.frames), len(goal.masks)
        if n < 2:
            raise RequestError("frames", f"at least 2 frames are needed (optical flow), got {n}")
        if n > self.max_frames:
            raise RequestError("frames", f"{n} frames exceed max_frames = {self.max_frames}")
        if m != n:
            raise RequestError("masks", f"{m} masks for {n} frames (one mask per frame)")
        try:
            video = [msg_to_rgb(f, field=f"frames[{i}]") for i, f in enumerate(goal.frames)]
        except ImageConversionError as exc:
            raise image_error(exc) from None
        h, w = video[0].shape[:2]
        for i, frame in enumerate(video):
            if frame.shape[:2] != (h, w):
                raise RequestError(f"frames[{i}]",
                                   f"{frame.shape[1]}x{frame.shape[0]} differs from frames[0]'s {w}x{h}")
        labels = [mask_labels(msg, i) for i, msg in enumerate(goal.masks)]
        for i, lab in enumerate(labels):
            if lab.shape != (h, w):
                raise RequestError(f"masks[{i}]", f"{lab.shape[1]}x{lab.shape[0]} differs from the frames' {w}x{h}")
        labels_arr = np.stack(labels)
        if not (labels_arr[0] >= MASK_FIRST_OBJECT).any():
            raise RequestError("masks", "masks[0] has no object pixel (value >= 2)")
        camera = camera_from_goal(goal.camera, goal.camera_pose, w, h)
        if not goal.geometry_path:
            raise RequestError("geometry_path", "missing: frames + masks need the object's surface points at "
                               "frame 0 (.npy [N, 3], world metres) under the input roots")
        path = self._input_path(str(goal.geometry_path), "geometry_path")
        try:
            points = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise RequestError("geometry_path", f"{path}: not a .npy array ({exc})") from None
        if (not isinstance(points, np.ndarray) or points.ndim != 2 or points.shape[1] != 3 or len(points) < 4
                or not np.issubdtype(points.dtype, np.number) or not np.all(np.isfinite(points))):
            raise RequestError("geometry_path", f"{path}: expected finite [N, 3] points with N >= 4, got "
                               f"{getattr(points, 'shape', '?')}")
        points = points.astype(np.float64)
        if len(points) > cfg.render.num_gaussians:  # the canonical Gaussians (render.num_gaussians)
            keep = np.random.default_rng(cfg.seed).choice(len(points), cfg.render.num_gaussians, replace=False)
            points = points[np.sort(keep)]
        scene = SceneInput(np.stack(video), labels_arr >= MASK_FIRST_OBJECT, labels_arr == MASK_HAND, camera, points,
                           name="object")
        try:
            check_scene(scene)
        except ValueError as exc:
            raise RequestError("frames", str(exc)) from None
        return Prepared(scene, "frames", info={"geometry_path": str(path)})

    def _input_path(self, text: str, field_name: str) -> Path:
        """``text`` as a file under one of the input roots, else :class:`RequestError` naming ``field_name``."""
        roots = ", ".join(map(str, self.input_roots)) or "none"
        path = Path(text).expanduser()
        if not path.is_absolute():
            raise RequestError(field_name, f"{text!r} is not an absolute path (input roots: {roots})")
        real = path.resolve()
        if not any(real.is_relative_to(root) for root in self.input_roots):
            raise RequestError(field_name, f"{text!r} is outside the input roots ({roots})")
        if not real.is_file():
            raise RequestError(field_name, f"{text!r}: no such file")
        return real

    # ----------------------------------------------------------------- outputs
    @staticmethod
    def _summary(prepared: Prepared, result: ArtHOIResult, request_id: str, config: str,
                 seconds: float) -> dict[str, Any]:
        joint = result.joint
        return {"request_id": request_id, "input": prepared.source, **prepared.info, "config": config,
                "joint": {"type": joint.type, "axis": joint.axis.tolist(), "origin": joint.origin.tolist(),
                          "states": joint.states.tolist()},
                "metrics": {k: float(v) for k, v in result.metrics.items()},
                "timings": {**{k: float(v) for k, v in result.timings.items()}, "total_s": float(seconds)},
                "iterations_per_frame_mean": float(np.mean(result.stage1.iterations[1:]))}

    def _write(self, request_id: str, seq: HOISequence, summary: dict[str, Any]) -> Path:
        """``<output_root>/<request_id>/`` with the sequence and the summary, complete or not at all."""
        with request_folder(self.output_root, request_id) as partial:
            seq.save(partial / f"{request_id}.npz")
            (partial / f"{request_id}.json").write_text(json.dumps(summary, indent=2))
        return self.output_root / request_id / f"{request_id}.npz"

    def _markers(self, seq: HOISequence, result: ArtHOIResult, stamp: Any) -> MarkerArray:
        joint = result.joint
        moving = seq.articulations[0].point_parts == 1
        slide = None
        final = float(joint.states[-1])
        if joint.type == "prismatic":
            start = seq.object_points[0][moving].mean(0) if moving.any() else joint.origin
            slide = np.stack([start, start + final * joint.axis])
            label = f"prismatic {100 * final:.1f} cm"
        else:
            label = f"revolute {np.rad2deg(final):.1f} deg"
        return articulation_markers(seq.object_points[-1], moving, joint.type, joint.axis, joint.origin,
                                    self.frame_id, stamp, slide=slide, label=label)

    @staticmethod
    def _message(prepared: Prepared, result: ArtHOIResult, seconds: float) -> str:
        joint, m = result.joint, result.metrics
        final = (f"{np.rad2deg(joint.states[-1]):.1f} deg" if joint.type == "revolute"
                 else f"{100 * joint.states[-1]:.1f} cm")
        text = (f"{prepared.scene.name}: {joint.type} joint, axis ({', '.join(f'{v:.3f}' for v in joint.axis)}) "
                f"through ({', '.join(f'{v:.3f}' for v in joint.origin)}), final state {final}, "
                f"{len(joint.states)} frames, {seconds:.1f} s")
        if m:
            text += (f"; against the truth: rotation error mean {m['rot_mean_deg']:.2f} deg, axis error "
                     f"{m['axis_error_deg']:.2f} deg, joint type {'right' if m['joint_type_correct'] else 'wrong'}")
        return text

    def destroy_node(self) -> None:
        if getattr(self, "action_server", None) is not None:
            self.action_server.destroy()
            self.action_server = None
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return spin_node(ArticulateNode, lambda node: node.executor_threads, args)


if __name__ == "__main__":
    raise SystemExit(main())
