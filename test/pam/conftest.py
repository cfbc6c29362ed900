"""Fixtures shared by the PAM tests: a two-episode sim dataset with depth and segmentation."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two grasp_lift episodes at the tiny config's 48 x 32 (conditions rendered)."""
    from hoi_ros.sim.dataset import DatasetConfig, write_dataset
    from hoi_ros.sim.episode import EpisodeConfig

    root = tmp_path_factory.mktemp("pam_sim")
    cfg = DatasetConfig(tasks=("grasp_lift",), cameras=("third_person",),
                        episode=EpisodeConfig(width=48, height=32, fps=8.0, num_object_points=32))
    write_dataset(root, 2, seed=0, cfg=cfg, progress=False)
    return root
