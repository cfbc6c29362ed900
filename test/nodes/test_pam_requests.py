"""/hoi/pam/generate goals → the seam's ConditionRequest (no node): sim fields, pose files from the
configured roots only, defaults, errors named by field; hoi_sim's rollout request as a goal."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from ros_support import ros_available

pytestmark = [pytest.mark.ros, pytest.mark.skipif(not ros_available(), reason="rclpy / interfaces not built")]

T = 9


def _limits():
    from hoi_ros.core.generation import GeneratorLimits

    return GeneratorLimits(min_frames=T, max_frames=T, default_frames=T, default_steps=4)


def _goal(**fields):
    from hoi_ros.action import PAMGenerate

    goal = PAMGenerate.Goal(task="grasp_lift", object="mug", seed=1, sim_seed=2)
    for key, value in fields.items():
        setattr(goal, key, value)
    return goal


def _pose(x: float, y: float, z: float, w: float = 1.0, qz: float = 0.0):
    from geometry_msgs.msg import Pose

    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = x, y, z
    pose.orientation.w, pose.orientation.z = w, qz
    return pose


def _pose_file(path: Path, prompt: str = "lift the cup") -> Path:
    from hoi_ros.core.camera import Camera
    from hoi_ros.core.sequence import HOISequence

    rng = np.random.default_rng(0)
    seq = HOISequence(hand_joints=rng.normal(size=(12, 21, 3)).astype(np.float32),
                      object_points=rng.normal(size=(12, 8, 3)).astype(np.float32),
                      camera=Camera.from_fov(48, 32, 50.0), fps=8.0, prompt=prompt)
    return seq.save(path)


def _validate(goal, roots=()):
    from hoi_ros.nodes.pam_requests import validate_goal

    return validate_goal(goal, _limits(), [Path(r).resolve() for r in roots])


def test_sim_goal_becomes_the_pipelines_source_with_defaults_resolved() -> None:
    from hoi_ros.core.generation import ConditionRequest
    from hoi_ros.pam.pipeline import task_request_from_source

    valid = _validate(_goal(object_pose=_pose(0.05, -0.02, 0.046, 0.7071, 0.7071), use_object_pose=True,
                            initial_wrist=_pose(0.0, -0.2, 0.2), initial_fingers=[0.1] * 20, use_initial_hand=True,
                            target_wrist=_pose(9.0, 9.0, 9.0), request_id="r-1"))
    req = valid.request
    assert isinstance(req, ConditionRequest) and valid.request_id == "r-1"
    assert req.num_frames == T and req.num_inference_steps == 4 and req.seed == 1 and req.conditions == "all"
    assert req.prompt == "grasp the white mug and lift it up"  # the sim's own prompt
    src = req.source
    assert src["object_pose"] == ((0.05, -0.02, 0.046), (0.7071, 0.0, 0.0, 0.7071))
    assert src["initial_wrist"][0] == (0.0, -0.2, 0.2) and src["initial_fingers"] == [0.1] * 20
    assert "target_wrist" not in src and "target_object_pose" not in src  # goto only; unset = the sim's default
    assert src["sim_seed"] == 2 and src["side"] == "right"
    task, sim_seed = task_request_from_source(src)
    assert task.task == "grasp_lift" and sim_seed == 2
    np.testing.assert_allclose(task.object_poses[0][0], [0.05, -0.02, 0.046])
    np.testing.assert_allclose(task.initial_hand.fingers, 0.1)


def test_negative_seeds_are_picked_and_steps_default() -> None:
    req = _validate(_goal(seed=-1, sim_seed=-1, num_inference_steps=0, prompt="my words",
                          conditions="depth+seg")).request
    assert 0 <= req.seed <= 2**31 - 1 and 0 <= req.source["sim_seed"] <= 2**31 - 1
    assert req.prompt == "my words" and req.conditions == "depth+seg"


def test_rollout_request_becomes_a_goal() -> None:
    from hoi_ros.srv import SimRollout

    from hoi_ros.nodes.pam_requests import rollout_to_goal

    rollout = SimRollout.Request(task="place", object="red mug", target_object="bowl", seed=7,
                                 object_pose=_pose(0.0, 0.0, 0.0), use_object_pose=False,
                                 initial_wrist=_pose(0.0, -0.2, 0.25), initial_fingers=[0.2] * 20,
                                 use_initial_hand=True, return_images=True)
    goal = rollout_to_goal(rollout, prompt="put it in the bowl", num_inference_steps=3, request_id="from-sim",
                           return_video=True)
    assert (goal.task, goal.object, goal.target_object, goal.sim_seed) == ("place", "red mug", "bowl", 7)
    assert goal.use_initial_hand and list(goal.initial_fingers) == [0.2] * 20
    assert goal.initial_wrist.position.z == 0.25 and not goal.use_object_pose
    assert (goal.prompt, goal.num_inference_steps, goal.request_id, goal.return_video) == (
        "put it in the bowl", 3, "from-sim", True)
    req = _validate(goal).request
    assert req.source["target_object"] == "bowl" and req.source["sim_seed"] == 7
    with pytest.raises(TypeError, match="task"):
        rollout_to_goal(rollout, task="push")  # a sim field comes from the rollout request only


def test_pose_files_come_from_the_roots_only(tmp_path: Path) -> None:
    from hoi_ros.core.generation import RequestError

    root, elsewhere = tmp_path / "poses", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    inside = _pose_file(root / "lift")
    outside = _pose_file(elsewhere / "lift")
    (root / "escape.npz").symlink_to(outside)
    (root / "notes.txt").write_text("not a sequence")
    (root / "broken.npz").write_bytes(b"not an npz")

    req = _validate(_goal(pose_file=str(inside), prompt=""), [root]).request
    assert req.source == str(inside.resolve()) and req.conditions == "hand" and req.prompt == "lift the cup"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _validate(_goal(pose_file="lift.npz"), [empty, root]).request.source == str(inside.resolve())

    def refused(pose_file: str, roots=(root,), **fields) -> str:
        with pytest.raises(RequestError) as err:
            _validate(_goal(pose_file=pose_file, **fields), roots)
        return str(err.value)

    assert refused(str(outside)).startswith("pose_file:") and "outside" in refused(str(outside))
    assert refused(str(root / "escape.npz")).startswith("pose_file:")  # a link out of the roots
    assert refused("../elsewhere/lift.npz").startswith("pose_file:")
    assert refused(str(root / "notes.txt")).startswith("pose_file: ")
    assert refused(str(root / "missing.npz")).startswith("pose_file:")
    assert refused(str(root / "broken.npz")).startswith("pose_file:")
    assert refused(str(inside), roots=()).startswith("pose_file:")
    assert refused(str(inside), conditions="all").startswith("conditions:")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"object": "unicorn"}, "source.object:"),
        ({"object_pose": "nan", "use_object_pose": True}, "source.object_pose.position:"),
        ({"object_pose": "under", "use_object_pose": True}, "source.object_pose.position:"),
        ({"task": "juggle"}, "source.task:"),
        ({"task": "goto"}, "source.target_wrist.position:"),  # the default pose (origin) is below the table
        ({"object": ""}, "source:"),
        ({"conditions": "rgb"}, "conditions:"),
        ({"seed": 2**40}, "seed:"),
        ({"sim_seed": 2**40}, "sim_seed:"),
        ({"num_inference_steps": 5000}, "num_inference_steps:"),
        ({"prompt": "x" * 5000}, "prompt:"),
        ({"request_id": "../x"}, "request_id:"),
    ],
)
def test_bad_goals_are_refused_by_field(fields: dict, field: str) -> None:
    from hoi_ros.core.generation import RequestError

    fields = dict(fields)
    if fields.get("object_pose") == "nan":
        fields["object_pose"] = _pose(math.nan, 0.0, 0.05)
    elif fields.get("object_pose") == "under":
        fields["object_pose"] = _pose(0.0, 0.0, -0.2)
    with pytest.raises(RequestError) as err:
        _validate(_goal(**fields))
    assert str(err.value).startswith(field), str(err.value)
