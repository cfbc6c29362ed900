"""ArtHOI's YAML configs and the articulation metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hoi_ros.arthoi.config import ArtHOIConfig
from hoi_ros.arthoi.metrics import articulation_metrics, relative_motion, rotation_errors_deg

CONFIGS = Path(__file__).resolve().parents[2] / "config" / "models" / "arthoi"


def test_shipped_configs_load_with_the_papers_values() -> None:
    default = ArtHOIConfig.from_yaml(CONFIGS / "default.yaml")
    fast = ArtHOIConfig.from_yaml(CONFIGS / "fast.yaml")
    s1 = default.stage1
    assert (s1.lambda_r, s1.lambda_tr, s1.lambda_a, s1.lambda_s) == (1.0, 2.0, 0.05, 1.0)
    assert (s1.iterations, s1.grad_clip) == (200, 1.0)
    seg = default.segmentation
    assert (seg.dynamic_px, seg.static_px, seg.quasi_static_percentile, seg.quasi_static_min_px,
            seg.binding_radius_m) == (5.0, 2.0, 10.0, 1.0, 0.05)
    assert default.stage1.lr == 1e-4 and fast.stage1.lr == 3e-3  # App. A, and the faster option
    s2 = default.stage2
    assert (s2.lambda_k, s2.lambda_p, s2.lambda_s, s2.lr, s2.iterations) == (1e4, 1.0, 1e4, 1e-3, 1000)
    assert default == ArtHOIConfig()  # the YAML and the dataclass defaults agree


def test_unknown_keys_are_errors() -> None:
    with pytest.raises(ValueError, match="stage1"):
        ArtHOIConfig.from_dict({"stage1": {"learning_rate": 1.0}})
    with pytest.raises(ValueError, match="unknown section"):
        ArtHOIConfig.from_dict({"stage3": {}})


def test_rotation_and_slide_errors() -> None:
    gt = np.tile(np.eye(4), (4, 1, 1))
    gt[:, :3, :3] = Rotation.from_rotvec(np.deg2rad([0, 10, 20, 30])[:, None] * [0, 0, 1]).as_matrix()
    est = gt.copy()
    est[1:, :3, :3] = Rotation.from_rotvec(np.deg2rad([12, 21, 30])[:, None] * [0, 0, 1]).as_matrix()
    np.testing.assert_allclose(rotation_errors_deg(est, gt), [0, 2, 1, 0], atol=1e-9)
    m = articulation_metrics(est, gt, np.array([0, 0, 1.0]), np.array([0, 0, -1.0]), -np.deg2rad([0, 12, 21, 30]),
                             np.deg2rad([0, 10, 20, 30]), "revolute", points=np.zeros((3, 3)))
    assert m["rot_mean_deg"] == pytest.approx(1.0) and m["rot_max_deg"] == pytest.approx(2.0)
    assert m["rot_min_deg"] == pytest.approx(0.0, abs=1e-9) and m["axis_error_deg"] == pytest.approx(0.0)
    assert m["angle_error_mean_deg"] == pytest.approx(1.0)  # the axis sign is matched first
    poses = np.tile(np.eye(4), (3, 1, 1))
    poses[:, 1, 3] = [0.2, 0.25, 0.3]
    rel = relative_motion(poses)
    np.testing.assert_allclose(rel[:, 1, 3], [0.0, 0.05, 0.1])
    m = articulation_metrics(rel, rel, np.array([0, 1.0, 0]), np.array([0, 1.0, 0]), np.array([0, 0.04, 0.1]),
                             np.array([0, 0.05, 0.1]), "prismatic")
    assert m["translation_error_mean_m"] == pytest.approx(0.005) and m["rot_mean_deg"] == pytest.approx(0.0)
