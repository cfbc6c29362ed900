"""Whole-sequence retargeting: recovery of the robot's own motion, limits, degenerate input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shared_data import REAL_HAND

from hoi_ros.core.synthetic import reach_grasp_lift
from hoi_ros.retarget import Kinematics, RetargetConfig, SequenceRetargeter, get_robot, retarget_sequence
from hoi_ros.retarget.human import to_palm_frame

CONFIG = Path(__file__).resolve().parents[2] / "config" / "retarget" / "default.yaml"


def _robot_keypoints(desc, kin: Kinematics, q: np.ndarray) -> np.ndarray:
    """``[T, 21, 3]`` human-layout keypoints taken from the robot's own links (unmapped ones zero)."""
    fk = kin.forward(q)
    out = np.zeros((len(q), 21, 3))
    for link, h in desc.keypoints.items():
        out[:, h] = fk.pos[:, kin.link_index[link]]
    return out


def _free_configs(rt: SequenceRetargeter, count: int, seed: int) -> np.ndarray:
    """Random joint configurations without finger contact (a contact would be pushed apart)."""
    kin, obj = rt.kin, rt.objective
    q = np.random.default_rng(seed).uniform(kin.lower, kin.upper, size=(40 * count, kin.num_joints))
    dist = obj.all_pairs.distances(kin.forward(q))[0].min(axis=1)
    q = q[dist > 0.004]
    assert len(q) >= count
    return q[:count]


@pytest.mark.parametrize("robot", ["allegro", "inspire"])
def test_random_configurations_are_recovered(robot: str) -> None:
    """Independent random poses: every fingertip within 2 mm of the robot's own.

    Unrelated frames: no smoothness, no coarse-to-fine levels (every frame gets the seeds), and 12 seed
    iterations (the sequence default of 6 left 1 of 60 allegro poses in another local minimum)."""
    rt = SequenceRetargeter(robot, RetargetConfig(scale=1.0, acc_weight=0.0, vel_weight=0.0, levels=[],
                                                  seed_iters=12))
    q = _free_configs(rt, 60, seed=0)
    res = rt.retarget(_robot_keypoints(rt.desc, rt.kin, q), fps=30.0, in_palm_frame=True)
    assert res.fingertip_error.max() < 2e-3, res.fingertip_error.max(axis=1)


def _free_path(rt: SequenceRetargeter, keys: int, frames_per_key: int, seed: int) -> np.ndarray:
    """Random key poses joined by smootherstep easing, each segment free of finger contact."""
    candidates = _free_configs(rt, 200, seed)
    u = np.linspace(0, 1, frames_per_key + 1)[1:]
    u = u**3 * (10 - 15 * u + 6 * u * u)  # zero velocity and acceleration at the keys
    path = [candidates[0][None]]
    for cand in candidates[1:]:
        seg = path[-1][-1] + u[:, None] * (cand - path[-1][-1])
        if rt.objective.all_pairs.distances(rt.kin.forward(seg))[0].min() > 0.004:
            path.append(seg)
        if len(path) == keys:
            break
    assert len(path) == keys
    return np.concatenate(path)


@pytest.mark.parametrize("robot", ["allegro", "inspire"])
def test_smooth_random_trajectory_is_recovered_with_the_default_config(robot: str) -> None:
    """Random key poses 1 s apart, eased in between, at 30 fps: the shipped config tracks them."""
    config = RetargetConfig.from_yaml(CONFIG)
    config.scale = 1.0
    rt = SequenceRetargeter(robot, config)
    q = _free_path(rt, keys=5, frames_per_key=30, seed=1)
    res = rt.retarget(_robot_keypoints(rt.desc, rt.kin, q), fps=30.0, in_palm_frame=True)
    assert res.fingertip_error.max() < 2e-3, res.fingertip_error.max(axis=1)


@pytest.fixture(scope="module")
def real_hand() -> np.ndarray:
    return np.load(REAL_HAND)["keypoints"][:150]


@pytest.mark.parametrize("robot", ["allegro", "inspire"])
def test_limits_hold_and_outputs_are_consistent_on_real_motion(robot: str, real_hand: np.ndarray) -> None:
    rt = SequenceRetargeter(robot, RetargetConfig.from_yaml(CONFIG))
    res = rt.retarget(real_hand, fps=30.0)
    kin = rt.kin
    assert res.qpos.shape == (150, kin.num_joints) and np.all(np.isfinite(res.qpos))
    assert np.all(res.qpos >= kin.lower) and np.all(res.qpos <= kin.upper)
    lo = np.array([j.lower for j in rt.desc.revolute_joints])
    hi = np.array([j.upper for j in rt.desc.revolute_joints])
    assert np.all(res.full_qpos >= lo - 1e-12) and np.all(res.full_qpos <= hi + 1e-12)
    np.testing.assert_allclose(res.full_qpos, kin.full(res.qpos))
    assert res.fingertip_error.shape == (150, len(rt.desc.fingertips))
    assert not res.collision.any(), res.min_distance.min()
    assert res.scale > 0 and res.wrist_pose.shape == (150, 4, 4)
    np.testing.assert_allclose(res.timestamps[:3], [0, 1 / 30, 2 / 30])
    # The wrist pose maps the palm frame back to the input: the wrist keypoint is its origin.
    np.testing.assert_allclose(res.wrist_pose[:, :3, 3], real_hand[:, 0], atol=1e-6)


def test_limits_hold_for_random_keypoints() -> None:
    rng = np.random.default_rng(5)
    kp = rng.normal(scale=0.08, size=(30, 21, 3))
    res = retarget_sequence(kp, "inspire", fps=10.0)
    kin = Kinematics(get_robot("inspire"))
    assert np.all(np.isfinite(res.qpos))
    assert np.all(res.qpos >= kin.lower) and np.all(res.qpos <= kin.upper)


def test_more_smoothing_means_less_jitter(real_hand: np.ndarray) -> None:
    def jitter(acc: float) -> float:
        res = SequenceRetargeter("inspire", RetargetConfig(acc_weight=acc)).retarget(real_hand, 30.0)
        return float(np.abs(np.diff(res.qpos, 2, axis=0)).mean())

    assert jitter(0.1) < 0.5 * jitter(5e-4)


def test_deterministic(real_hand: np.ndarray) -> None:
    rt = SequenceRetargeter("allegro")
    a, b = rt.retarget(real_hand[:40], 30.0), rt.retarget(real_hand[:40], 30.0)
    np.testing.assert_array_equal(a.qpos, b.qpos)


@pytest.mark.parametrize("frames", [1, 2, 5])
def test_degenerate_input_gives_finite_output(frames: int) -> None:
    same = np.full((frames, 21, 3), 0.3)  # every keypoint at one point
    res = retarget_sequence(same, "allegro", fps=30.0)
    assert np.all(np.isfinite(res.qpos)) and np.all(np.isfinite(res.fingertip_error))
    assert np.all(np.isfinite(res.wrist_pose))
    assert any("zero size" in w for w in res.warnings)


def test_nan_frames_are_rejected_naming_them(real_hand: np.ndarray) -> None:
    kp = real_hand[:20].copy()
    kp[3, 5, 1] = np.nan
    kp[11, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"hand_joints: 2 frame\(s\) contain NaN or Inf \(frames 3, 11\)"):
        retarget_sequence(kp, "allegro")


@pytest.mark.parametrize(("kp", "kwargs", "message"), [
    (np.zeros((4, 20, 3)), {}, "hand_joints: expected"),
    (np.zeros((0, 21, 3)), {}, "at least one frame"),
    (np.zeros((4, 21, 3)), {"fps": 0.0}, "fps: must be a positive"),
    (np.zeros((4, 21, 3)), {"fps": float("nan")}, "fps: must be a positive"),
])
def test_bad_input_names_the_field(kp: np.ndarray, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        retarget_sequence(kp, "allegro", **kwargs)


def test_two_hand_input_uses_the_right_hand() -> None:
    seq = reach_grasp_lift(num_frames=12, fps=8.0)
    right = seq.hand_joints[:, :21]
    both = np.concatenate([right, right + 1.0], axis=1)
    a, b = retarget_sequence(right, "inspire", 8.0), retarget_sequence(both, "inspire", 8.0)
    np.testing.assert_array_equal(a.qpos, b.qpos)
    # The second hand here is a right hand too: declared left, it is refused with the reason.
    with pytest.raises(ValueError, match=r"the keypoints are a right hand .* but hand: left"):
        SequenceRetargeter("inspire", RetargetConfig(hand="left")).retarget(both, 8.0)


def test_warm_start_from_a_previous_result(real_hand: np.ndarray) -> None:
    rt = SequenceRetargeter("inspire")
    first = rt.retarget(real_hand[:60], 30.0)
    again = rt.retarget(real_hand[:60], 30.0, init=first.qpos)
    assert again.iterations <= first.iterations
    assert again.fingertip_error.mean() <= first.fingertip_error.mean() + 1e-4
    with pytest.raises(ValueError, match="init: expected finite"):
        rt.retarget(real_hand[:60], 30.0, init=np.zeros(3))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("tip_weight", -1.0, "tip_weight: must be a non-negative number"),
    ("scale", 0.0, "scale: must be a positive number"),
    ("pinch_far", 0.01, "pinch_far: must exceed pinch_near"),
    ("max_iters", 0, "max_iters: must be a positive integer"),
    ("seeds", [1.5], "seeds: must be a non-empty list"),
    ("levels", [[1, 5]], r"levels: must be a list of \[stride >= 2"),
    ("levels", [[2, 5], [8, 5]], "levels: strides must decrease"),
    ("collision_softness", 0.0, "collision_softness: must be a positive number"),
    ("hand", "middle", "hand: must be 'right' or 'left'"),
])
def test_config_validation_names_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetargetConfig(**{field: value})


def test_config_yaml_unknown_field(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("retarget:\n  tip_weigth: 1.0\n")
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['tip_weigth'\]"):
        RetargetConfig.from_yaml(tmp_path / "c.yaml")
    assert RetargetConfig.from_yaml(CONFIG).robot == "allegro"


@pytest.mark.parametrize("robot", ["allegro", "inspire"])
def test_objective_jacobian_matches_finite_differences(robot: str, real_hand: np.ndarray) -> None:
    """Keypoint (Huber beyond delta), bone, pinch and collision rows against central differences."""
    config = RetargetConfig(pinch_weight=0.5, pinch_near=0.05, pinch_far=0.2, huber_delta=0.005,
                            collision_softness=0.002)
    rt = SequenceRetargeter(robot, config)
    kin, obj = rt.kin, rt.objective
    local, _ = to_palm_frame(np.asarray(real_hand[:40:4], np.float64))
    prob = obj.problem(local, 1.3)
    q = np.random.default_rng(2).uniform(kin.lower + 0.05, kin.upper - 0.05, size=(len(local), kin.num_joints))
    r, state = obj.residuals(q, prob)
    jac = obj.jacobian(state, prob)
    assert jac.shape == (len(q), r.shape[1], kin.num_joints)
    assert (state.dscale != 0).any() and (prob.pinch_sw > 0).any()  # Huber beyond delta, pinch on
    assert (state.coll_x > -6.0).any() if obj.use_collision else True
    eps = 1e-6
    num = np.empty_like(jac)
    for j in range(kin.num_joints):
        dq = np.zeros(kin.num_joints)
        dq[j] = eps
        num[..., j] = (obj.residuals(q + dq, prob)[0] - obj.residuals(q - dq, prob)[0]) / (2 * eps)
    # Collision rows of pairs beyond margin + 6 softness are left at zero (slope below e^-6).
    far = np.zeros_like(r, dtype=bool)
    far[:, obj.n_lin:] = state.coll_x <= -6.0
    np.testing.assert_allclose(np.where(far[..., None], 0.0, num), jac, atol=2e-6)
    # Only the near pairs' rows: the same rows.
    near = obj.near_pairs(state)
    sub = obj.jacobian(state, prob, near)
    np.testing.assert_allclose(sub, jac[:, np.r_[np.arange(obj.n_lin), obj.n_lin + near]], atol=1e-15)
