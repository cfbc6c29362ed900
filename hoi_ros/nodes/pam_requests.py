"""``/hoi/pam/generate`` goals: validation into the seam's request, and ``hoi_sim`` rollouts as goals.

PAM (*PAM: A Pose-Appearance-Motion Engine for Sim-to-Real HOI Video Generation*, CVPR 2026;
``shared/papers/pam-pose-appearance-motion-engine.md``) starts from a hand–object trajectory (its
Stage I, "Pose Generation"). A ``hoi_ros/action/PAMGenerate`` goal names that trajectory either as a
``pose_file`` (an ``HOISequence`` ``.npz`` under the node's ``input_roots``) or as a sim request, the
fields of ``hoi_ros/srv/SimRollout`` (here simulated by the MuJoCo sim, the Stage I substitute).

:func:`validate_goal` turns a goal into a :class:`~hoi_ros.core.generation.ConditionRequest` whose
``source`` is the mapping :func:`hoi_ros.pam.pipeline.task_request_from_source` reads (poses as
``((x, y, z), (w, x, y, z))``), with every count and seed resolved, or raises
:class:`~hoi_ros.core.generation.RequestError` naming the field (``source.object``,
``source.object_pose.position``, ``pose_file``, ``conditions``, ``seed``...) before any compute.

:func:`rollout_to_goal` makes a goal of a ``SimRollout`` request, so what ``hoi_sim`` simulates can
be sent to ``hoi_pam`` as it is.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hoi_ros.core.generation import (
    CONDITION_SUBSETS,
    MAX_SEED,
    ConditionRequest,
    GeneratorLimits,
    RequestError,
)
from hoi_ros.nodes.validation import check_request_id

# SimRollout's fields that a PAMGenerate goal carries under the same name (the sim's ``seed`` is
# the goal's ``sim_seed``; ``return_images`` has no counterpart).
ROLLOUT_FIELDS = ("task", "object", "target_object", "object_pose", "use_object_pose", "target_object_pose",
                  "use_target_object_pose", "initial_wrist", "initial_fingers", "use_initial_hand",
                  "target_wrist", "target_fingers")
POSE_FILE_SUBSET = "hand"  # a pose file gives the hand-keypoint condition only (docs/pam.md)
DEFAULT_PROMPT = ConditionRequest.__dataclass_fields__["prompt"].default


@dataclass(frozen=True)
class ValidatedGoal:
    """A goal ready for the PAM pipeline, plus the name of its output folder."""

    request_id: str
    request: ConditionRequest


def pose_tuple(pose: Any) -> tuple[tuple[float, float, float], tuple[float, float, float, float]]:
    """``((x, y, z), (w, x, y, z))`` of a ``geometry_msgs/Pose`` (the sim request's pose format)."""
    p, q = pose.position, pose.orientation
    return (float(p.x), float(p.y), float(p.z)), (float(q.w), float(q.x), float(q.y), float(q.z))


def resolve_seed(value: int, field: str) -> int:
    """A seed in ``0..MAX_SEED``: negative = pick one; beyond the range is refused naming ``field``."""
    value = int(value)
    if value < 0:
        return secrets.randbelow(MAX_SEED + 1)
    if value > MAX_SEED:
        raise RequestError(field, f"{value} exceeds {MAX_SEED} (negative = pick one)")
    return value


def goal_source(goal: Any, sim_seed: int, side: str = "right") -> dict[str, Any]:
    """The sim request of a goal as :func:`hoi_ros.pam.pipeline.task_request_from_source` reads it:
    unset poses are left out (the sim's defaults), the target hand only for task ``goto`` (as
    ``hoi_sim`` does)."""
    source: dict[str, Any] = {"task": str(goal.task), "object": str(goal.object),
                              "target_object": str(goal.target_object), "side": side, "sim_seed": int(sim_seed)}
    if goal.use_object_pose:
        source["object_pose"] = pose_tuple(goal.object_pose)
    if goal.use_target_object_pose:
        source["target_object_pose"] = pose_tuple(goal.target_object_pose)
    if goal.use_initial_hand:
        source["initial_wrist"] = pose_tuple(goal.initial_wrist)
        source["initial_fingers"] = [float(v) for v in goal.initial_fingers]
    if str(goal.task) == "goto":
        source["target_wrist"] = pose_tuple(goal.target_wrist)
        source["target_fingers"] = [float(v) for v in goal.target_fingers]
    return source


def resolve_roots(roots: Sequence[str]) -> list[Path]:
    """The ``input_roots`` parameter as absolute folders (``~`` expanded, links resolved)."""
    return [Path(root).expanduser().resolve() for root in roots if str(root).strip()]


def check_pose_file(path: str, roots: Sequence[Path]) -> Path:
    """The pose file a goal names, resolved, when it is an ``.npz`` file inside one of ``roots``;
    else :class:`RequestError` on ``pose_file``. A relative path is looked up in each root in turn;
    links are resolved first, so none leads out of the roots."""
    if not roots:
        raise RequestError("pose_file", "this node reads no pose files (its input_roots parameter is empty)")
    given = Path(path).expanduser()
    candidates = [given] if given.is_absolute() else [root / given for root in roots]
    for candidate in candidates:
        resolved = candidate.resolve()
        if not any(resolved.is_relative_to(root) for root in roots):
            continue
        if resolved.suffix != ".npz":
            raise RequestError("pose_file", f"{path!r} is not an HOISequence .npz file")
        if not resolved.is_file():
            if given.is_absolute():
                raise RequestError("pose_file", f"{path!r} does not exist")
            continue
        return resolved
    if given.is_absolute():
        raise RequestError("pose_file", f"{path!r} is outside the node's input_roots "
                           f"{[str(r) for r in roots]}; only files under them are read")
    raise RequestError("pose_file", f"{path!r} is in none of the node's input_roots {[str(r) for r in roots]}")


def pose_file_prompt(path: Path) -> str:
    """The prompt stored in a pose file (an ``HOISequence``), or :data:`DEFAULT_PROMPT`; an unreadable
    file is refused naming ``pose_file``."""
    from hoi_ros.core.sequence import HOISequence

    try:
        seq = HOISequence.load(path, load_video=False)
    except (OSError, ValueError, KeyError) as exc:
        raise RequestError("pose_file", f"{str(path)!r} is not a readable HOISequence ({exc})") from None
    return seq.prompt.strip() or DEFAULT_PROMPT


def sim_prompt(source: dict[str, Any]) -> str:
    """The sim's own prompt for a sim request ("grasp the white mug and lift it up"); refuses a bad
    request naming the field (``source.object``...)."""
    from hoi_ros.pam.pipeline import task_request_from_source
    from hoi_ros.sim.tasks import request_prompt

    task_request, _ = task_request_from_source(source)
    return request_prompt(task_request)


def validate_goal(goal: Any, limits: GeneratorLimits, input_roots: Sequence[Path], side: str = "right",
                  default_steps: int = 0) -> ValidatedGoal:
    """A ``PAMGenerate`` goal as a :class:`ConditionRequest` (see the module docstring), resolved:
    ``num_inference_steps`` 0 = ``default_steps`` (0 = the model's), negative seeds picked, empty
    ``conditions`` = ``all`` (``hand`` for a pose file, the only subset it gives), empty prompt = the
    sim's prompt for the task and object (or the pose file's). Raises :class:`RequestError`."""
    request_id = check_request_id(str(goal.request_id))
    seed = resolve_seed(goal.seed, "seed")
    steps = int(goal.num_inference_steps) or int(default_steps)
    steps = limits.resolve_count(steps, "num_inference_steps")
    pose_file = str(goal.pose_file).strip()
    conditions = str(goal.conditions).strip() or (POSE_FILE_SUBSET if pose_file else "all")
    if conditions not in CONDITION_SUBSETS:
        raise RequestError("conditions", f"one of {list(CONDITION_SUBSETS)}, got {conditions!r}")
    prompt = str(goal.prompt)
    source: dict[str, Any] | str
    if pose_file:
        if conditions != POSE_FILE_SUBSET:
            raise RequestError("conditions", f"a pose file gives only the hand-keypoint condition (depth and "
                               f"segmentation need the sim's render); use '{POSE_FILE_SUBSET}' or a sim request")
        file = check_pose_file(pose_file, input_roots)
        file_prompt = pose_file_prompt(file)
        source, prompt = os.fspath(file), prompt or file_prompt
    else:
        if not str(goal.task) or not str(goal.object):
            raise RequestError("source", "a sim request needs 'task' and 'object' (or set pose_file)")
        source = goal_source(goal, resolve_seed(goal.sim_seed, "sim_seed"), side)
        default_prompt = sim_prompt(source)  # validates the sim request, naming the field
        prompt = prompt or default_prompt
    request = ConditionRequest(source=source, num_frames=limits.resolve_count(0, "num_frames"),
                               num_inference_steps=steps, seed=seed, prompt=prompt, conditions=conditions)
    limits.check(request)  # prompt length, counts, seed
    return ValidatedGoal(request_id=request_id, request=request)


def rollout_to_goal(request: Any, **fields: Any) -> Any:
    """A ``PAMGenerate.Goal`` with the sim request of a ``SimRollout.Request`` (its ``seed`` becomes
    ``sim_seed``); ``fields`` set the goal's own fields (``prompt``, ``num_inference_steps``, ``seed``,
    ``conditions``, ``request_id``, ``return_video``)."""
    from hoi_ros.action import PAMGenerate

    goal = PAMGenerate.Goal()
    for name in ROLLOUT_FIELDS:
        setattr(goal, name, getattr(request, name))
    goal.sim_seed = int(request.seed)
    for name, value in fields.items():
        if name in ROLLOUT_FIELDS or name in ("sim_seed", "pose_file") or not hasattr(goal, name):
            raise TypeError(f"rollout_to_goal: {name!r} is not one of the goal's own fields")
        setattr(goal, name, value)
    return goal
