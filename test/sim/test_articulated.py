"""Articulated objects built with MjSpec, contact-driven open/close tasks and their ground truth."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from hoi_ros.core.sequence import HOISequence
from hoi_ros.sim.articulated import (
    LABEL_FIRST_PART,
    ArticulatedScene,
    ArticulatedTask,
    run_articulated_episode,
)
from hoi_ros.sim.articulated_objects import ARTICULATED_NAMES, PART_MOVING, make_articulated
from hoi_ros.sim.hand import NUM_FINGER_JOINTS


@pytest.mark.parametrize("name", ARTICULATED_NAMES)
def test_object_compiles_with_its_joint_and_poses_match_the_core_convention(name: str) -> None:
    obj = make_articulated(name)
    scene = ArticulatedScene(obj)
    m = scene.model
    assert scene.xml is None and isinstance(scene.spec, mujoco.MjSpec)
    expected = mujoco.mjtJoint.mjJNT_HINGE if obj.joint_type == "revolute" else mujoco.mjtJoint.mjJNT_SLIDE
    assert m.jnt_type[scene.joint_id] == expected
    assert m.nu == NUM_FINGER_JOINTS  # nothing actuates the object's joint
    labels = set(scene.geom_label[m.geom_bodyid == scene.object_bodies[1]].tolist())
    assert labels == {LABEL_FIRST_PART + PART_MOVING}
    base = scene.part_poses()[0]
    for q in (0.0, 0.5 * obj.open_state, obj.open_state):
        scene.set_joint_state(q)
        mujoco.mj_kinematics(m, scene.data)
        np.testing.assert_allclose(scene.part_poses()[1], base @ obj.joint().transform(q), atol=1e-9)


@pytest.mark.parametrize(("name", "action"), [("cabinet", "open"), ("drawer", "close")])
def test_hand_moves_the_part_through_contact(name: str, action: str) -> None:
    task = ArticulatedTask(object=name, action=action, fps=8.0, width=96, height=72, num_object_points=200)
    ep = run_articulated_episode(task)
    assert ep.info["drive"] == "contact" and ep.success, ep.info["fraction_reached"]
    seq = ep.sequence
    art = seq.articulation(name)
    assert art is not None and art.joints[0].type == make_articulated(name).joint_type
    np.testing.assert_allclose(art.joint_state(0), ep.joint_states)
    assert art.kinematic_residual().max() < 1e-9 and ep.info["max_kinematic_residual"] < 1e-6
    # Monocular channels: both parts and the hand are visible, depth is metric where they are.
    t = seq.num_frames // 2
    assert {0, 1, 2, 3} <= set(np.unique(ep.segmentation[t]).tolist())
    assert seq.video.shape == (seq.num_frames, 72, 96, 3)
    # The ground-truth points of the moving part project onto pixels labelled as that part.
    pts = seq.object_points[-1][art.point_parts == PART_MOVING]
    uv, depth = seq.camera.project(pts)
    px = np.round(uv).astype(int)
    ok = (px[:, 0] >= 0) & (px[:, 0] < 96) & (px[:, 1] >= 0) & (px[:, 1] < 72)
    seg = ep.segmentation[-1][px[ok, 1], px[ok, 0]]
    close = np.abs(ep.depth[-1][px[ok, 1], px[ok, 0]] - depth[ok]) < 0.01
    assert np.mean(seg[close] == LABEL_FIRST_PART + PART_MOVING) > 0.9 and close.sum() >= 10


def test_kinematic_drive_is_named_and_reaches_the_goal() -> None:
    ep = run_articulated_episode(ArticulatedTask(object="lid", drive="kinematic", fps=6.0, width=64, height=48))
    assert ep.info["drive"] == "kinematic"
    assert ep.joint_states[-1] == pytest.approx(make_articulated("lid").open_state, abs=1e-6)


def test_sequence_with_articulation_round_trips(tmp_path) -> None:
    ep = run_articulated_episode(ArticulatedTask(object="door", drive="kinematic", fps=4.0, width=64, height=48,
                                                 num_object_points=64))
    path = ep.sequence.save(tmp_path / "door")
    back = HOISequence.load(path)
    np.testing.assert_allclose(back.articulation("door").part_poses, ep.sequence.articulation("door").part_poses)


@pytest.mark.parametrize(("field", "value"), [("object", "piano"), ("action", "slam"), ("drive", "magic"),
                                              ("goal_fraction", 2.0)])
def test_bad_task_fields_are_named(field: str, value) -> None:
    with pytest.raises(ValueError, match=field):
        ArticulatedTask(**{field: value})
