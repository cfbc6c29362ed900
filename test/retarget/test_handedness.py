"""Handedness of keypoints, left robot hands (mirror images), and left-hand retargeting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shared_data import REAL_HAND

from hoi_ros.core.synthetic import reach_grasp_lift
from hoi_ros.retarget import Kinematics, RetargetConfig, SequenceRetargeter, get_robot
from hoi_ros.retarget.handedness import detect_side, mirror_keypoints
from hoi_ros.retarget.human import palm_frame

CONFIG = Path(__file__).resolve().parents[2] / "config" / "retarget" / "default.yaml"
M = np.diag([1.0, -1.0, 1.0])


@pytest.fixture(scope="module")
def real_hand() -> np.ndarray:
    return np.load(REAL_HAND)["keypoints"][:90].astype(np.float64)


def _rotated(kp: np.ndarray, seed: int) -> np.ndarray:
    """``kp`` under a random rotation and translation (handedness must not depend on the view)."""
    from scipy.spatial.transform import Rotation

    rot = Rotation.random(random_state=seed).as_matrix()
    return kp @ rot.T + np.array([0.3, -0.2, 0.5])


def test_detects_right_and_mirrored_hands_in_any_orientation(real_hand: np.ndarray) -> None:
    syn = reach_grasp_lift(num_frames=30, fps=30.0).hand_joints[:, :21]
    for kp in (real_hand, syn):
        for seed in range(3):
            right = _rotated(kp, seed)
            assert detect_side(right).side == "right"
            left = detect_side(mirror_keypoints(right))
            assert left.side == "left" and left.frames_agreeing > 0.95
            # A mirror through any other plane is a left hand as well.
            assert detect_side(right * np.array([1.0, 1.0, -1.0])).side == "left"
    # Single frames decide too (the streaming retargeter checks its first frame).
    assert all(detect_side(f).side == "right" for f in real_hand[::10])


def test_a_flat_hand_is_undecided() -> None:
    flat = reach_grasp_lift(num_frames=2, fps=30.0).hand_joints[:1, :21].copy()
    pose = palm_frame(flat)[0]
    local = (flat[0] - pose[:3, 3]) @ pose[:3, :3]
    local[:, 2] = 0.0  # every joint in the palm plane: no flexion to tell the palm side
    det = detect_side(local)
    assert det.side is None and "undecided" in det.describe()


@pytest.mark.parametrize("robot", ["allegro", "inspire"])
def test_left_robot_fk_mirrors_the_right_one(robot: str) -> None:
    right, left = Kinematics(get_robot(robot)), Kinematics(get_robot(f"{robot}_left"))
    assert get_robot(f"{robot}_left").side == "left" and left.joint_names == right.joint_names
    np.testing.assert_array_equal(left.lower, right.lower)
    q = np.random.default_rng(0).uniform(right.lower, right.upper, size=(20, right.num_joints))
    fr, fl = right.forward(q), left.forward(q)
    np.testing.assert_allclose(fl.pos, fr.pos @ M, atol=1e-12)
    np.testing.assert_allclose(fl.rot, M @ fr.rot @ M, atol=1e-12)
    # Mirroring twice gives the right hand back.
    again = get_robot(f"{robot}_left").mirrored()
    assert again.name == robot and again.side == "right"
    np.testing.assert_allclose(Kinematics(again).forward(q).pos, fr.pos, atol=1e-12)


@pytest.mark.parametrize("robot", ["allegro", "inspire"])
def test_a_left_hand_drives_the_left_robot_like_its_mirror_image(robot: str, real_hand: np.ndarray) -> None:
    cfg = RetargetConfig.from_yaml(CONFIG)
    right = SequenceRetargeter(robot, cfg).retarget(real_hand, 30.0)
    left_kp = mirror_keypoints(_rotated(real_hand, 1))
    cfg_left = RetargetConfig.from_yaml(CONFIG)
    cfg_left.hand = "left"
    left = SequenceRetargeter(f"{robot}_left", cfg_left).retarget(left_kp, 30.0)
    np.testing.assert_allclose(left.qpos, right.qpos, atol=1e-6)
    np.testing.assert_allclose(left.fingertip_error, right.fingertip_error, atol=1e-7)
    assert not left.collision.any()
    # The wrist pose maps the left palm frame to the input: origin at the wrist, a proper rotation.
    np.testing.assert_allclose(left.wrist_pose[:, :3, 3], left_kp[:, 0], atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(left.wrist_pose[:, :3, :3]), 1.0, atol=1e-9)


def test_left_hand_on_a_right_robot_is_refused_or_mirrored(real_hand: np.ndarray) -> None:
    left_kp = mirror_keypoints(real_hand)
    with pytest.raises(ValueError, match=r"the keypoints are a left hand .* but hand: right; set hand: left "
                                         r"\(with a left robot hand, e.g. allegro_left\)"):
        SequenceRetargeter("allegro").retarget(left_kp, 30.0)
    with pytest.raises(ValueError, match=r"robot: allegro is a right hand and the human hand is left; "
                                         r"use robot allegro_left"):
        SequenceRetargeter("allegro", RetargetConfig(hand="left")).retarget(left_kp, 30.0)
    cfg = RetargetConfig.from_yaml(CONFIG)
    cfg.handedness = "mirror"
    mirrored = SequenceRetargeter("allegro", cfg).retarget(left_kp, 30.0)
    assert any("mirrored" in w for w in mirrored.warnings)
    plain = SequenceRetargeter("allegro", RetargetConfig.from_yaml(CONFIG)).retarget(real_hand, 30.0)
    np.testing.assert_allclose(mirrored.qpos, plain.qpos, atol=1e-9)
    # handedness: off trusts the declared side (the old behaviour: a left hand fitted as a right one).
    cfg_off = RetargetConfig.from_yaml(CONFIG)
    cfg_off.handedness = "off"
    off = SequenceRetargeter("allegro", cfg_off).retarget(left_kp, 30.0)
    assert off.fingertip_error.mean() > 3 * plain.fingertip_error.mean()


def test_handedness_setting_is_validated() -> None:
    with pytest.raises(ValueError, match="handedness: must be 'check', 'mirror' or 'off'"):
        RetargetConfig(handedness="maybe")


def test_a_simulated_left_hand_is_detected_and_drives_the_left_robot() -> None:
    """The MuJoCo hand simulated as a left hand (not a mirrored recording): detected as left, refused by
    the right robot, retargeted to the left one without collisions."""
    import dataclasses

    from hoi_ros.sim.dataset import episode_rng, sample_request
    from hoi_ros.sim.tasks import simulate

    req = dataclasses.replace(sample_request(episode_rng(0, 1)), side="left")
    traj, _ = simulate(req, fps=30.0)
    kp = np.asarray(traj.keypoints)[:, :21]
    det = detect_side(kp)
    assert det.side == "left" and det.frames_agreeing > 0.95, det
    with pytest.raises(ValueError, match="the keypoints are a left hand"):
        SequenceRetargeter("allegro").retarget(kp, 30.0)
    cfg = RetargetConfig.from_yaml(CONFIG)
    cfg.hand = "left"
    res = SequenceRetargeter("allegro_left", cfg).retarget(kp, 30.0)
    assert res.fingertip_error.mean() < 0.01 and not res.collision.any()
