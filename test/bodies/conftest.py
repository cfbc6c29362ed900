"""Fixtures of test/bodies/: random models written once per session into tmp dirs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from body_model_fakes import random_mano_arrays, random_smplx_arrays


@pytest.fixture(scope="session")
def mano_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mano") / "MANO_RIGHT.npz"
    np.savez(path, **random_mano_arrays())
    return path


@pytest.fixture(scope="session")
def smplx_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SMPL-X arrays plus a pickled extra (``part2num``) as the official files have."""
    path = tmp_path_factory.mktemp("smplx") / "SMPLX_NEUTRAL.npz"
    np.savez(path, **random_smplx_arrays(), part2num=np.array({"global": 0}, dtype=object))
    return path
