"""The MJCF hand (PAM Stage I substitute for GraspXL's MANO hand): it compiles for both sides,
has 20 limited finger joints and a mocap-driven 6-DoF wrist, and its 21 keypoint sites (core
joint order) move exactly with the joints upstream of them."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from shared_data import REAL_HAND

from hoi_ros.core.hand import BONES, HAND_JOINT_NAMES
from hoi_ros.sim.hand import FINGER_JOINTS, NUM_FINGER_JOINTS, finger_limits, keypoint_site_names
from hoi_ros.sim.objects import make_object
from hoi_ros.sim.scene import SimScene
from hoi_ros.sim.tasks import closed_hand_pose

# Medians over the 621 frames of REAL_HAND (MediaPipe world landmarks), metres, computed with
# np.median(np.linalg.norm(kp[:, a] - kp[:, b], axis=-1)) per bone; the test below re-derives
# them whenever the file is present.
REAL_METACARPALS = {"thumb_cmc": 0.0409, "index_mcp": 0.0992, "middle_mcp": 0.0966, "ring_mcp": 0.0933,
                    "little_mcp": 0.0844}
REAL_FINGER_LENGTHS = {"thumb": 0.0988, "index": 0.0794, "middle": 0.0930, "ring": 0.0816, "little": 0.0647}


def _scene(side: str) -> SimScene:
    box = make_object("box")
    return SimScene([box], [(np.array([0.3, 0.2, box.rest_height]), np.array([1.0, 0, 0, 0]))], side=side,
                    max_size=(64, 64))


def _keypoints_at(scene: SimScene, fingers: np.ndarray, wrist: tuple[float, ...] = (0.0, 0.0, 0.0)) -> np.ndarray:
    d = scene.data
    d.qpos[scene.hand_qpos_adr: scene.hand_qpos_adr + 7] = [*wrist, 1.0, 0.0, 0.0, 0.0]
    d.qpos[scene.finger_qpos_adr] = fingers
    mujoco.mj_kinematics(scene.model, d)
    return scene.keypoints()


@pytest.mark.parametrize("side", ["right", "left"])
def test_hand_compiles_with_limited_finger_joints_and_a_mocap_wrist(side: str) -> None:
    scene = _scene(side)
    m = scene.model
    lo, hi = finger_limits()
    for k, spec in enumerate(FINGER_JOINTS):
        j = m.joint(f"{side}_{spec.name}")
        assert j.type[0] == mujoco.mjtJoint.mjJNT_HINGE and m.jnt_limited[j.id]
        np.testing.assert_allclose(m.jnt_range[j.id], [lo[k], hi[k]])
    assert NUM_FINGER_JOINTS == 20 and m.nu == 20
    assert m.joint(f"{side}_wrist").type[0] == mujoco.mjtJoint.mjJNT_FREE  # 6-DoF wrist
    # ... driven through a weld to a mocap body, the only equality constraint in the scene.
    assert m.neq == 1 and m.eq_type[0] == mujoco.mjtEq.mjEQ_WELD
    assert {m.body(int(m.eq_obj1id[0])).name, m.body(int(m.eq_obj2id[0])).name} == {f"{side}_wrist_target",
                                                                                     f"{side}_hand"}
    names = keypoint_site_names(side)
    assert [n.removeprefix(f"{side}_kp_") for n in names] == list(HAND_JOINT_NAMES)
    assert all(m.site(n).id >= 0 for n in names)


def _downstream(joint: str) -> set[str]:
    """Keypoints that a finger joint moves: every keypoint of its finger beyond the joint."""
    finger = joint.split("_")[0]
    order = ["cmc", "mcp", "ip", "tip"] if finger == "thumb" else ["mcp", "pip", "dip", "tip"]
    name = joint.split("_")[1]
    return {f"{finger}_{k}" for k in order[order.index(name) + 1:]}


@pytest.mark.parametrize("side", ["right", "left"])
def test_keypoints_move_with_their_joints(side: str) -> None:
    scene = _scene(side)
    lo, hi = finger_limits()
    base_q = np.clip(np.zeros(NUM_FINGER_JOINTS), lo, hi)
    base = _keypoints_at(scene, base_q)
    for k, spec in enumerate(FINGER_JOINTS):
        q = base_q.copy()
        q[k] = lo[k] + 0.8 * (hi[k] - lo[k])
        moved = np.linalg.norm(_keypoints_at(scene, q) - base, axis=1) > 1e-3
        got = {HAND_JOINT_NAMES[i] for i in np.flatnonzero(moved)}
        assert got == _downstream(spec.name), spec.name
    # The wrist (free joint) carries all 21 rigidly.
    shifted = _keypoints_at(scene, base_q, wrist=np.array([0.05, -0.02, 0.1]))
    np.testing.assert_allclose(shifted - base, np.tile([0.05, -0.02, 0.1], (21, 1)), atol=1e-9)


def test_left_hand_is_the_mirror_image_of_the_right() -> None:
    q = closed_hand_pose(0.6)
    right = _keypoints_at(_scene("right"), q)
    left = _keypoints_at(_scene("left"), q)
    np.testing.assert_allclose(left, right * np.array([-1.0, 1.0, 1.0]), atol=1e-9)


def test_fingers_close_towards_the_palm() -> None:
    scene = _scene("right")
    open_kp = _keypoints_at(scene, np.zeros(NUM_FINGER_JOINTS))
    closed = _keypoints_at(scene, closed_hand_pose())
    tips = [HAND_JOINT_NAMES.index(f"{f}_tip") for f in ("index", "middle", "ring", "little")]
    # Hand frame = world frame here: fingers point along +y, the palm faces -z.
    assert np.all(open_kp[tips, 2] == 0.0) and np.all(closed[tips, 2] < -0.01)  # curled under the palm
    assert np.all(np.linalg.norm(closed[tips], axis=1) < np.linalg.norm(open_kp[tips], axis=1) - 0.08)
    thumb_tip = HAND_JOINT_NAMES.index("thumb_tip")
    assert closed[thumb_tip, 2] < -0.02  # the thumb opposes under the palm


def _bone_lengths(kp: np.ndarray) -> dict[tuple[str, str], float]:
    b = np.asarray(BONES)
    lengths = np.linalg.norm(kp[..., b[:, 0], :] - kp[..., b[:, 1], :], axis=-1)
    if lengths.ndim == 2:
        lengths = np.median(lengths, axis=0)
    return {(HAND_JOINT_NAMES[i], HAND_JOINT_NAMES[j]): float(v) for (i, j), v in zip(b, lengths)}


def _finger_lengths(bones: dict[tuple[str, str], float]) -> dict[str, float]:
    """Length of each finger beyond its first joint (thumb: from CMC; others: from MCP)."""
    return {f: sum(v for (a, _b), v in bones.items() if a.startswith(f)) for f in REAL_FINGER_LENGTHS}


def test_link_lengths_match_the_real_human_hand() -> None:
    if REAL_HAND.exists():
        real = _bone_lengths(np.load(REAL_HAND)["keypoints"])
        assert {k: round(v, 4) for k, v in _finger_lengths(real).items()} == REAL_FINGER_LENGTHS
        assert {b: round(real[("wrist", b)], 4) for b in REAL_METACARPALS} == REAL_METACARPALS
    sim = _bone_lengths(_keypoints_at(_scene("right"), np.zeros(NUM_FINGER_JOINTS)))
    for b, length in REAL_METACARPALS.items():
        assert sim[("wrist", b)] == pytest.approx(length, rel=0.05), b
    for f, length in _finger_lengths(sim).items():
        assert length == pytest.approx(REAL_FINGER_LENGTHS[f], rel=0.10), f
