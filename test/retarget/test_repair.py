"""Collision back-off and the collision-free guarantee of the whole-sequence solve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shared_data import REAL_HAND

from hoi_ros.retarget import RetargetConfig, SequenceRetargeter
from hoi_ros.retarget.repair import backoff, min_distances

CONFIG = Path(__file__).resolve().parents[2] / "config" / "retarget" / "default.yaml"


def test_backoff_returns_the_first_collision_free_pose_on_the_path() -> None:
    rt = SequenceRetargeter("allegro")
    kin, pairs = rt.kin, rt.objective.all_pairs
    q = np.random.default_rng(2).uniform(kin.lower, kin.upper, size=(300, kin.num_joints))
    dist = min_distances(kin, pairs, q)
    bad, ok = q[dist < -0.002][:20], q[dist > 0.0][:20]
    assert len(bad) == 20 and len(ok) == 20
    tol = 5e-4
    out = backoff(kin, pairs, bad, ok, tol)
    assert (min_distances(kin, pairs, out) >= -tol).all()
    # Each result lies on its segment, and a step of 1e-3 of the path back towards q penetrates.
    s = np.linalg.norm(out - bad, axis=1) / np.linalg.norm(ok - bad, axis=1)
    np.testing.assert_allclose(out, bad + s[:, None] * (ok - bad), atol=1e-12)
    back = bad + np.maximum(s - 1e-3, 0.0)[:, None] * (ok - bad)
    assert (min_distances(kin, pairs, back) < -tol).mean() > 0.9
    # Frames already within the tolerance are left alone; a penetrating reference is refused.
    np.testing.assert_array_equal(backoff(kin, pairs, ok, bad, tol), ok)
    with pytest.raises(ValueError, match="reference pose penetrates"):
        backoff(kin, pairs, bad, bad, tol)
    assert min_distances(kin, pairs, rt.free_pose[None])[0] >= 0.0


def test_no_collision_frame_at_15_fps() -> None:
    """The real trajectory at half its frame rate: the repair iterations alone left 2 frames 2.3 mm deep
    with the Allegro-like hand; the back-off leaves none."""
    kp = np.load(REAL_HAND)["keypoints"][::2]
    res = SequenceRetargeter("allegro", RetargetConfig.from_yaml(CONFIG)).retarget(kp, 15.0)
    assert not res.collision.any() and res.min_distance.min() >= -5e-4
    assert any("moved towards the nearest collision-free frame" in w for w in res.warnings)
