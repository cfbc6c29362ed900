"""Capsule distances against brute force and MuJoCo; the planar-finger pruning is safe."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from hoi_ros.retarget import Kinematics, get_robot
from hoi_ros.retarget.collision import CapsulePairs, closest_points


def test_closest_points_match_dense_sampling() -> None:
    rng = np.random.default_rng(0)
    p1, q1, p2, q2 = (rng.normal(size=(60, 3)) for _ in range(4))
    q2[:20] = p2[:20]  # degenerate segments (points)
    q1[20:30] = p1[20:30]
    q2[30:40] = p2[30:40] + (q1[30:40] - p1[30:40])  # parallel segments
    c1, c2 = closest_points(p1, q1, p2, q2)
    s = np.linspace(0, 1, 201)
    a = p1[:, None] + s[None, :, None] * (q1 - p1)[:, None]
    b = p2[:, None] + s[None, :, None] * (q2 - p2)[:, None]
    brute = np.linalg.norm(a[:, :, None] - b[:, None, :], axis=-1).min(axis=(1, 2))
    ours = np.linalg.norm(c1 - c2, axis=-1)
    assert np.all(ours <= brute + 1e-12)
    np.testing.assert_allclose(ours, brute, atol=1e-2 * np.linalg.norm(q1 - p1, axis=-1).max())


@pytest.mark.parametrize("robot", ["allegro", "inspire", "allegro_left", "inspire_left"])
def test_capsule_distances_match_mujoco(robot: str) -> None:
    desc = get_robot(robot)
    kin = Kinematics(desc)
    pairs = CapsulePairs.of(kin)
    model = mujoco.MjModel.from_xml_string(desc.to_mjcf())
    data = mujoco.MjData(model)
    finger = desc.link_finger()
    caps = [c for c in desc.capsules if finger[c.link] >= 0]
    # MJCF geoms are written in capsule order; map our finger capsules to geom ids.
    geom_ids = [desc.capsules.index(c) for c in caps]
    q = np.random.default_rng(1).uniform(kin.lower, kin.upper, size=(4, kin.num_joints))
    dist = pairs.distances(kin.forward(q))[0]
    for t in range(len(q)):
        for name, v in zip(kin.full_joint_names, kin.full(q[t])):
            data.qpos[model.joint(name).qposadr[0]] = v
        mujoco.mj_forward(model, data)
        for c in range(len(pairs)):
            ga, gb = geom_ids[pairs.pair_a[c]], geom_ids[pairs.pair_b[c]]
            ref = mujoco.mj_geomDistance(model, data, ga, gb, 1.0, None)
            assert dist[t, c] == pytest.approx(ref, abs=1e-6)


def test_planar_pruning_only_drops_pairs_that_never_come_close() -> None:
    kin = Kinematics(get_robot("inspire"))
    reach = 0.008
    kept = CapsulePairs.of(kin, reach=reach)
    full = CapsulePairs.of(kin)
    assert 0 < len(kept) < len(full)  # parallel non-adjacent fingers are provably apart
    kept_set = {(a, b) for a, b in zip(kept.pair_a, kept.pair_b)}
    dropped = [c for c in range(len(full)) if (full.pair_a[c], full.pair_b[c]) not in kept_set]
    q = np.random.default_rng(2).uniform(kin.lower, kin.upper, size=(3000, kin.num_joints))
    dist = full.distances(kin.forward(q))[0]
    assert dist[:, dropped].min() > reach
    # Allegro's fingers abduct: nothing can be proven apart, nothing is dropped.
    allegro = Kinematics(get_robot("allegro"))
    assert len(CapsulePairs.of(allegro, reach=reach)) == len(CapsulePairs.of(allegro))
