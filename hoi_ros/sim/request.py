"""Rollout requests from plain values (what ``hoi_ros/srv/SimRollout`` carries), validated.

PAM §Stage I's inputs are the initial hand pose ``h_0``, the object ``m`` and its pose ``o_0``,
and the target hand pose ``h_T``; here a task may replace ``h_T``. :func:`build_request` turns
names and poses into a :class:`~hoi_ros.sim.tasks.TaskRequest` and raises ``ValueError`` whose
message starts with the request field at fault (``object:``, ``object_pose.position:``,
``target_wrist:``...), so a service can answer with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hoi_ros.core.geometry import quat_to_matrix
from hoi_ros.sim.hand import NUM_FINGER_JOINTS, open_hand_pose
from hoi_ros.sim.objects import ROLE_TARGET, ObjectSpec, parse_object, sample_surface_points
from hoi_ros.sim.tasks import TASKS, WORKSPACE_HIGH, WORKSPACE_LOW, HandPose, TaskRequest, yaw_quat

Pose = tuple[Sequence[float], Sequence[float]]  # position (x, y, z), quaternion (w, x, y, z)
DEFAULT_TARGET_OFFSET = np.array([0.25, 0.05])  # where a target goes when no pose is given
DEFAULT_TARGETS = {"place": "bowl", "tool_use": "plate"}
MAX_TABLE_PENETRATION = 0.005  # metres an object may start inside the table (it is pushed out)


def _vector(values: Sequence[float], n: int, field: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.shape != (n,):
        raise ValueError(f"{field}: expected {n} values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{field}: contains NaN or Inf")
    return arr


def _pose(pose: Pose, field: str) -> tuple[np.ndarray, np.ndarray]:
    pos = _vector(pose[0], 3, f"{field}.position")
    quat = _vector(pose[1], 4, f"{field}.orientation")
    if np.linalg.norm(quat) < 1e-6:
        raise ValueError(f"{field}.orientation: zero quaternion")
    return pos, quat / np.linalg.norm(quat)


def _object(text: str, field: str) -> ObjectSpec:
    try:
        return parse_object(text)
    except ValueError as exc:
        raise ValueError(f"{field}: {str(exc).split(': ', 1)[-1]}") from None


def _check_on_table(obj: ObjectSpec, pos: np.ndarray, quat: np.ndarray, field: str) -> None:
    pts = sample_surface_points(obj, 2000, np.random.default_rng(0)) @ quat_to_matrix(quat).T + pos
    low = float(pts[:, 2].min())
    if low < -MAX_TABLE_PENETRATION:
        raise ValueError(
            f"{field}.position: the {obj.display_name} would start {100 * -low:.1f} cm inside the table "
            f"(table top z = 0; upright at rest its origin is at z = {obj.rest_height:.4f})"
        )


def _hand(pose: Pose, fingers: Sequence[float], field: str, fingers_field: str) -> HandPose:
    pos, quat = _pose(pose, field)
    if np.any(pos < WORKSPACE_LOW) or np.any(pos > WORKSPACE_HIGH):
        raise ValueError(f"{field}.position: {np.round(pos, 3).tolist()} is unreachable (the wrist's workspace is "
                         f"{WORKSPACE_LOW.tolist()}..{WORKSPACE_HIGH.tolist()})")
    q = open_hand_pose() if len(fingers) == 0 else _vector(fingers, NUM_FINGER_JOINTS, fingers_field)
    try:
        return HandPose(pos, quat, q)
    except ValueError as exc:
        raise ValueError(f"{fingers_field}: {str(exc).split(': ', 1)[-1]}") from None


def build_request(task: str, object_name: str, object_pose: Pose | None = None, target_object: str = "",
                  target_object_pose: Pose | None = None, initial_hand: tuple[Pose, Sequence[float]] | None = None,
                  target_hand: tuple[Pose, Sequence[float]] | None = None, side: str = "right") -> TaskRequest:
    """A validated :class:`TaskRequest`; ``None`` poses take defaults (object at the table centre,
    a target 25 cm to its +x side, the hand above and behind the object)."""
    if task not in TASKS:
        raise ValueError(f"task: unknown task {task!r}; known: {', '.join(TASKS)}")
    obj = _object(object_name, "object")
    if object_pose is None:
        pos, quat = np.array([0.0, 0.0, obj.rest_height]), yaw_quat(0.0)
    else:
        pos, quat = _pose(object_pose, "object_pose")
        _check_on_table(obj, pos, quat, "object_pose")
    objects, poses = [obj], [(pos, quat)]
    if task in DEFAULT_TARGETS:
        target = _object(target_object or DEFAULT_TARGETS[task], "target_object")
        if target.role != ROLE_TARGET:
            raise ValueError(f"target_object: {task} needs a bowl or a plate, got {target.display_name}")
        if target_object_pose is None:
            tpos, tquat = np.array([*(pos[:2] + DEFAULT_TARGET_OFFSET), target.rest_height]), yaw_quat(0.0)
        else:
            tpos, tquat = _pose(target_object_pose, "target_object_pose")
            _check_on_table(target, tpos, tquat, "target_object_pose")
        objects.append(target)
        poses.append((tpos, tquat))
    elif target_object:
        raise ValueError(f"target_object: task {task} uses one object, got a second ({target_object!r})")
    start = None if initial_hand is None else _hand(initial_hand[0], initial_hand[1], "initial_wrist",
                                                    "initial_fingers")
    goal = None if target_hand is None else _hand(target_hand[0], target_hand[1], "target_wrist", "target_fingers")
    if task == "goto" and goal is None:
        raise ValueError("target_wrist: the goto task needs a target hand pose")
    req = TaskRequest(task=task, objects=objects, object_poses=poses, initial_hand=start, target_hand=goal, side=side)
    return req
