"""Pose generation (PAM §Stage I interface): every task type succeeds on a seeded episode and the
object's simulated displacement agrees with the task; objects move only through contact and
friction; bad requests raise a ValueError that names the field."""

from __future__ import annotations

from functools import cache

import mujoco
import numpy as np
import pytest

from hoi_ros.sim.objects import make_object
from hoi_ros.sim.scene import LABEL_FIRST_OBJECT, LABEL_HAND, SimScene
from hoi_ros.sim.tasks import (
    HandPose,
    TaskRequest,
    Trajectory,
    closed_hand_pose,
    direction_phrase,
    prompt_for,
    quat_yaw,
    simulate,
    yaw_quat,
)


def _pose(obj, x: float = 0.0, y: float = 0.0, yaw: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    return np.array([x, y, obj.rest_height]), yaw_quat(yaw)


def _request(task: str, side: str = "right") -> TaskRequest:
    if task == "grasp_lift":
        box = make_object("box", "red")
        return TaskRequest(task, [box], [_pose(box, 0.01, -0.01, 0.2)], side=side)
    if task == "push":
        block = make_object("block", "yellow")
        return TaskRequest(task, [block], [_pose(block, yaw=0.1)], push_angle=0.2, side=side)
    if task == "rotate":
        box = make_object("box", "green")
        return TaskRequest(task, [box], [_pose(box)], rotate_angle=-0.9, side=side)
    if task == "place":
        mug, bowl = make_object("mug", "red"), make_object("bowl", "blue")
        return TaskRequest(task, [mug, bowl], [_pose(mug), _pose(bowl, 0.25, 0.05)], side=side)
    if task == "tool_use":
        pin, plate = make_object("roller"), make_object("plate")
        return TaskRequest(task, [pin, plate], [_pose(pin), _pose(plate, 0.25, 0.05)], side=side)
    ball = make_object("ball")
    target = HandPose(np.array([0.12, -0.06, 0.2]), yaw_quat(0.5), closed_hand_pose(0.5))
    return TaskRequest("goto", [ball], [_pose(ball)], target_hand=target, side=side)


@cache
def _run(task: str, side: str = "right") -> tuple[Trajectory, TaskRequest]:
    req = _request(task, side)
    traj, _scene = simulate(req, fps=20.0)
    return traj, req


def _displacement(traj: Trajectory, i: int = 0) -> np.ndarray:
    return traj.object_poses[-1, i, :3] - traj.object_poses[0, i, :3]


@pytest.mark.parametrize("task", ["grasp_lift", "push", "rotate", "place", "tool_use", "goto"])
def test_each_task_succeeds_and_moves_the_object_as_it_says(task: str) -> None:
    traj, req = _run(task)
    assert traj.success, traj.info
    poses = traj.object_poses
    moved = _displacement(traj)
    if task == "grasp_lift":
        assert moved[2] >= 0.05 and traj.info["lift"] >= 0.05
        assert "red box" in traj.prompt and "lift" in traj.prompt
    elif task == "push":
        direction = np.array([-np.sin(req.push_angle), np.cos(req.push_angle), 0.0])
        assert moved @ direction >= 0.05 and abs(moved[2]) < 0.01
        assert np.linalg.norm(moved - (moved @ direction) * direction) < 0.5 * (moved @ direction)
        # push_angle 0.2 rad: "to the left" is -x seen from behind the hand (+y forward, +z up); the
        # knuckles push the block mostly ahead, a little to the left.
        assert "forward and to the left" in traj.prompt and moved[0] < -0.003
    elif task == "rotate":
        turned = quat_yaw(poses[-1, 0, 3:]) - quat_yaw(poses[0, 0, 3:])
        assert turned <= -0.45 and np.linalg.norm(moved[:2]) < 0.05 and abs(moved[2]) < 0.01
        # A negative turn about +z is clockwise seen from above, and the prompt says so.
        assert traj.prompt.endswith("turn it clockwise")
    elif task == "place":
        mug_end, bowl_end = poses[-1, 0, :3], poses[-1, 1, :3]
        assert np.linalg.norm(mug_end[:2] - bowl_end[:2]) < 0.05  # inside the bowl (radius 7 cm)
        assert mug_end[2] > poses[0, 0, 2] + 0.005  # resting on the bowl's base, not the table
        assert np.linalg.norm(_displacement(traj, 1)) < 0.02  # the bowl stayed put
        assert "red mug" in traj.prompt and "blue bowl" in traj.prompt
    elif task == "tool_use":
        assert traj.info["tool_target_contact"] and traj.info["tool_lift"] > 0.05
        assert np.linalg.norm(_displacement(traj, 1)) < 0.03  # touched, not thrown
    else:
        assert traj.info["wrist_error"] < 0.02 and np.linalg.norm(moved) < 0.01


def test_prompts_name_the_push_and_turn_direction() -> None:
    box = make_object("box", "red")
    assert prompt_for("rotate", [box], rotate_angle=0.8) == "grasp the red box and turn it counterclockwise"
    assert prompt_for("rotate", [box], rotate_angle=-0.8) == "grasp the red box and turn it clockwise"
    assert prompt_for("push", [box], push_angle=0.05) == "push the red box straight forward across the table"
    assert prompt_for("push", [box], push_angle=-0.2) == "push the red box forward and to the right across the table"
    assert prompt_for("grasp_lift", [box, make_object("bowl")]) == "grasp the red box and lift it up"
    with pytest.raises(ValueError, match=r"^task"):
        direction_phrase("place", 1.0)


def test_an_unnamed_scene_object_stays_put_and_out_of_the_prompt() -> None:
    """A one-object task with a second object beside it: the task succeeds, the other object does
    not move, and the prompt does not name it (the image alone shows it)."""
    box, bowl = make_object("box", "red"), make_object("bowl", "blue")
    req = TaskRequest("rotate", [box, bowl], [_pose(box), _pose(bowl, 0.25, 0.05)], rotate_angle=1.0)
    traj, _scene = simulate(req, fps=10.0)
    assert traj.success, traj.info
    assert traj.object_poses.shape[1] == 2 and np.linalg.norm(_displacement(traj, 1)) < 0.005
    assert traj.prompt == "grasp the red box and turn it counterclockwise"
    assert traj.info["objects"] == ["red box", "blue bowl"]


def test_left_hand_grasps_too() -> None:
    traj, _req = _run("grasp_lift", "left")
    assert traj.success and _displacement(traj)[2] >= 0.05


def _hand_object_force(scene: SimScene, obj: int = 0) -> float:
    """Sum of the normal forces of all hand-object contacts (N)."""
    total, force = 0.0, np.zeros(6)
    for i, c in enumerate(scene.data.contact[: scene.data.ncon]):
        labels = {int(scene.geom_label[c.geom1]), int(scene.geom_label[c.geom2])}
        if labels == {LABEL_HAND, LABEL_FIRST_OBJECT + obj}:
            mujoco.mj_contactForce(scene.model, scene.data, i, force)
            total += force[0]
    return total


def test_the_grasp_is_contact_and_friction_not_a_weld() -> None:
    req = _request("grasp_lift")
    _traj, scene = simulate(req, fps=20.0)
    m = scene.model
    body = int(scene.object_bodies[0])
    # The object is a free body and no equality constraint involves it.
    assert m.jnt_type[m.body_jntadr[body]] == mujoco.mjtJoint.mjJNT_FREE
    assert body not in set(m.eq_obj1id[: m.neq]) | set(m.eq_obj2id[: m.neq])
    # At the end it hangs in the hand, held by real contact forces at least its weight.
    assert scene.object_pose(0)[0][2] > 0.07
    weight = req.objects[0].mass * 9.81
    assert _hand_object_force(scene) > weight
    # Make hand and object slippery (MuJoCo takes the larger friction of the two geoms): the same
    # motion no longer lifts it.
    slippery = SimScene(req.objects, req.object_poses, max_size=(64, 64))
    hand_or_object = slippery.geom_label > 0
    slippery.model.geom_friction[hand_or_object, 0] = 0.05
    lost, _ = simulate(req, fps=20.0, scene=slippery)
    assert not lost.success and lost.info["lift"] < 0.02, lost.info


def test_episodes_are_deterministic() -> None:
    a, _ = simulate(_request("push"), fps=20.0)
    b, _ = simulate(_request("push"), fps=20.0)
    np.testing.assert_array_equal(a.qpos, b.qpos)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)


def test_trajectory_shapes_and_keypoints_follow_the_wrist() -> None:
    traj, _req = _run("grasp_lift")
    t = len(traj.qpos)
    assert traj.keypoints.shape == (t, 21, 3) and traj.object_poses.shape == (t, 1, 7)
    assert traj.fps == pytest.approx(20.0) and t == len(traj.info["phases"])
    # Keypoint 0 is the wrist site, at the hand body's origin, which follows the mocap target.
    np.testing.assert_allclose(traj.keypoints[-1, 0], traj.mocap[-1, :3], atol=0.01)


def _bad(**changes) -> TaskRequest:
    req = _request("grasp_lift")
    for k, v in changes.items():
        setattr(req, k, v)
    return req


NAN3 = np.array([0.0, np.nan, 0.03])


@pytest.mark.parametrize("make, field", [
    (lambda: _bad(task="juggle"), "task"),
    (lambda: _bad(object_poses=[(NAN3, np.array([1.0, 0, 0, 0]))]), r"object_poses\[0\].position"),
    (lambda: _bad(object_poses=[(np.zeros(3), np.zeros(4))]), r"object_poses\[0\].orientation"),
    (lambda: _bad(object_poses=[(np.array([2.0, 0.0, 0.03]), np.array([1.0, 0, 0, 0]))]),
     r"object_poses\[0\].position"),
    (lambda: _bad(objects=[make_object("bowl")]), "objects"),
    (lambda: _bad(task="place"), "objects"),
    (lambda: _bad(objects=[make_object("box"), make_object("bowl"), make_object("plate")]), "objects"),
    (lambda: _bad(objects=[make_object("box"), make_object("bowl")]), "object_poses"),  # one pose, two objects
    (lambda: _bad(lift_height=float("inf")), "lift_height"),
    (lambda: _bad(rotate_angle=7.0), "rotate_angle"),
    (lambda: _bad(initial_hand=HandPose(np.array([0.0, -0.2, 0.9]))), "initial_hand"),
    (lambda: _bad(task="goto"), "target_hand"),
    (lambda: _bad(task="goto", target_hand=HandPose(np.array([0.0, 0.9, 0.2]))), "target_hand"),  # unreachable
    (lambda: _bad(lift_height=0.6), r"task grasp_lift \(lift\)"),  # lifting beyond reach
    (lambda: HandPose(NAN3), r"hand_pose.wrist_pos"),
    (lambda: HandPose(np.zeros(3), fingers=np.full(20, 3.0)), r"hand_pose.fingers"),
    (lambda: HandPose(np.zeros(3), fingers=np.zeros(5)), r"hand_pose.fingers"),
])
def test_bad_requests_raise_a_value_error_naming_the_field(make, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}"):
        req = make()
        simulate(req)
