"""Frame-by-frame retargeting against the whole-sequence solve, its state, and its guarantees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shared_data import REAL_HAND

from hoi_ros.retarget import RetargetConfig, SequenceRetargeter, StreamingRetargeter
from hoi_ros.retarget.handedness import mirror_keypoints

CONFIGS = Path(__file__).resolve().parents[2] / "config" / "retarget"


@pytest.fixture(scope="module")
def real_hand() -> np.ndarray:
    return np.load(REAL_HAND)["keypoints"][:120].astype(np.float64)


def _config(name: str, **overrides: object) -> RetargetConfig:
    cfg = RetargetConfig.from_yaml(CONFIGS / f"{name}.yaml")
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


def _smooth_robot_motion(rt: SequenceRetargeter, keys: int, frames_per_key: int, seed: int) -> np.ndarray:
    """The robot's own mapped keypoints (human layout, palm frame) along eased random key poses whose
    segments stay clear of finger contact."""
    kin, pairs = rt.kin, rt.objective.all_pairs
    rng = np.random.default_rng(seed)
    q = rng.uniform(kin.lower, kin.upper, size=(400, kin.num_joints))
    q = q[pairs.distances(kin.forward(q))[0].min(axis=1) > 0.004]
    u = np.linspace(0, 1, frames_per_key + 1)[1:]
    u = u**3 * (10 - 15 * u + 6 * u * u)
    path = [q[:1]]
    for cand in q[1:]:
        seg = path[-1][-1] + u[:, None] * (cand - path[-1][-1])
        if pairs.distances(kin.forward(seg))[0].min() > 0.004:
            path.append(seg)
        if len(path) == keys:
            break
    qs = np.concatenate(path)
    fk = kin.forward(qs)
    out = np.zeros((len(qs), 21, 3))
    for link, h in rt.desc.keypoints.items():
        out[:, h] = fk.pos[:, kin.link_index[link]]
    return out


@pytest.mark.parametrize("robot", ["allegro", "inspire"])
def test_streaming_equals_the_batch_solve_on_a_smooth_motion(robot: str) -> None:
    """Eased random key poses 1 s apart at 30 fps (the robot's own keypoints, scale 1), streamed frame by
    frame and solved as a whole. With the batch's light velocity weight the fingertips agree within
    0.1 mm; with the streaming preset's (``vel_weight`` 6e-4, its jitter filter) they trail the batch
    by its lag: within 3 mm at the fastest moments, 1 mm on average."""
    batch_rt = SequenceRetargeter(robot, _config("default", scale=1.0))
    kp = _smooth_robot_motion(batch_rt, keys=4, frames_per_key=30, seed=3)
    batch = batch_rt.retarget(kp, 30.0, in_palm_frame=True)
    assert batch.fingertip_error.max() < 2e-3
    kin, tips = batch_rt.kin, batch_rt.objective.tip_ids
    batch_tips = kin.forward(batch.qpos).pos[:, tips]
    for vel_weight, max_gap, mean_gap in ((1e-5, 1e-4, 1e-4), (6e-4, 3e-3, 1e-3)):
        rt = StreamingRetargeter(robot, _config("streaming", scale=1.0, vel_weight=vel_weight))
        stream = rt.run(kp, 30.0, in_palm_frame=True)
        gap = np.linalg.norm(kin.forward(stream.qpos).pos[:, tips] - batch_tips, axis=-1)
        assert gap.max() < max_gap and gap.mean() < mean_gap, (vel_weight, gap.max(), gap.mean())


def test_streaming_follows_the_batch_solve_on_real_motion(real_hand: np.ndarray) -> None:
    """Real MediaPipe input, Inspire-like hand: per-frame fingertips within 1.5 mm of the batch solve on
    average (the causal velocity term lags where the batch's centred smoothness does not), within the
    limits, no collision frame, the calibrated scale the batch's."""
    batch = SequenceRetargeter("inspire", _config("default")).retarget(real_hand, 30.0)
    rt = StreamingRetargeter("inspire", _config("streaming"))
    rt.calibrate(real_hand)
    stream = rt.run(real_hand, 30.0)
    assert stream.scale == pytest.approx(batch.scale)
    kin, tips = rt.kin, rt.objective.tip_ids
    gap = np.linalg.norm(kin.forward(stream.qpos).pos[:, tips] - kin.forward(batch.qpos).pos[:, tips], axis=-1)
    assert gap.mean() < 1.5e-3, gap.mean()
    assert np.all(stream.qpos >= kin.lower) and np.all(stream.qpos <= kin.upper)
    assert not stream.collision.any()
    np.testing.assert_allclose(stream.wrist_pose[:, :3, 3], real_hand[:, 0], atol=1e-9)


def test_no_streamed_frame_penetrates_on_the_allegro_hand(real_hand: np.ndarray) -> None:
    """The Allegro-like hand's fingers cannot follow the human's closed fingers without contact; every
    streamed frame still ends collision-free (and dex-retargeting-like tracking without the term collides)."""
    rt = StreamingRetargeter("allegro", _config("streaming"))
    res = rt.run(real_hand, 30.0)
    assert not res.collision.any(), res.min_distance.min()
    free = StreamingRetargeter("allegro", _config("streaming", collision_weight=0.0)).run(real_hand, 30.0)
    assert free.collision.any()
    exact = SequenceRetargeter("allegro").evaluate(res.qpos, *_palm_and_scale(real_hand, res.scale))[1]
    assert not exact.any()


def _palm_and_scale(kp: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    from hoi_ros.retarget.human import to_palm_frame

    return to_palm_frame(kp)[0], scale


def test_scale_is_calibrated_over_the_first_frames_then_fixed(real_hand: np.ndarray) -> None:
    rt = StreamingRetargeter("inspire", _config("streaming"), calibration_frames=10)
    scales = [rt.step(frame).scale for frame in real_hand[:20]]
    assert rt.calibrated and len(set(scales[9:])) == 1 and len(set(scales[:10])) > 1
    expected, _ = rt.seq.calibrate_scale(_palm_and_scale(real_hand[:10], 1.0)[0])
    assert scales[-1] == pytest.approx(expected)
    rt.reset()
    assert not rt.calibrated and rt.scale is None
    assert StreamingRetargeter("inspire", RetargetConfig(scale=1.2)).step(real_hand[0]).scale == 1.2


def test_state_two_hand_frames_and_bad_input(real_hand: np.ndarray) -> None:
    rt = StreamingRetargeter("inspire", _config("streaming"))
    first = [rt.step(f).qpos for f in real_hand[:5]]
    rt.reset()
    both = np.concatenate([real_hand[:5], real_hand[:5] + 1.0], axis=1)  # [T, 42, 3], right hand first
    again = [rt.step(f).qpos for f in both]
    np.testing.assert_array_equal(np.array(first), np.array(again))
    with pytest.raises(ValueError, match=r"keypoints: expected \[21 or 42, 3\]"):
        rt.step(np.zeros((20, 3)))
    bad = real_hand[0].copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rt.step(bad)


def test_left_hand_streams_to_the_left_robot(real_hand: np.ndarray) -> None:
    right = StreamingRetargeter("allegro", _config("streaming")).run(real_hand[:40], 30.0)
    left = StreamingRetargeter("allegro_left", _config("streaming", hand="left")).run(
        mirror_keypoints(real_hand[:40]), 30.0)
    np.testing.assert_allclose(left.qpos, right.qpos, atol=1e-6)
    with pytest.raises(ValueError, match="the keypoints are a left hand"):
        StreamingRetargeter("allegro", _config("streaming")).step(mirror_keypoints(real_hand[0]))
