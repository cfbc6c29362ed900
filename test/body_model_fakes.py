"""Shape-correct random MANO and SMPL-X model arrays for the body-model tests (test/bodies/).

The real model files are licensed and never in the repository; these have the official arrays'
names, shapes and kinematic trees (MANO: 778 vertices, 16 joints; SMPL-X: 10475 vertices, 55
joints), random values otherwise.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

MANO_V, MANO_F = 778, 1538
SMPLX_V, SMPLX_F = 10475, 20908
MANO_PARENTS = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]


def _smplx_parents() -> list[int]:
    body = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19]
    face = [15, 15, 15]  # jaw, left eye, right eye
    hands = []
    for wrist, start in ((20, 25), (21, 40)):  # left hand 25..39, right hand 40..54
        for finger in range(5):  # index, middle, pinky, ring, thumb
            base = start + 3 * finger
            hands += [wrist, base, base + 1]
    return body + face + hands


def _kintree(parents: list[int]) -> np.ndarray:
    table = np.array([parents, list(range(len(parents)))], dtype=np.int64)
    table[0, 0] = 4294967295  # as in the official files
    return table


def _weights(rng: np.random.Generator, v: int, j: int) -> np.ndarray:
    w = rng.uniform(0.0, 1.0, size=(v, j)) ** 8  # mostly one dominant joint per vertex
    return w / w.sum(axis=1, keepdims=True)


def _regressor(rng: np.random.Generator, j: int, v: int, per_joint: int = 6) -> np.ndarray:
    reg = np.zeros((j, v))
    for row in range(j):
        cols = rng.choice(v, size=per_joint, replace=False)
        reg[row, cols] = rng.uniform(0.5, 1.0, size=per_joint)
    return reg / reg.sum(axis=1, keepdims=True)


def random_mano_arrays(seed: int = 0, sparse_regressor: bool = False) -> dict:
    """The arrays of an official MANO file (``J_regressor`` a scipy csc matrix when asked)."""
    rng = np.random.default_rng(seed)
    reg = _regressor(rng, 16, MANO_V)
    return {
        "v_template": rng.normal(scale=0.04, size=(MANO_V, 3)),
        "shapedirs": rng.normal(scale=1e-3, size=(MANO_V, 3, 10)),
        "posedirs": rng.normal(scale=1e-3, size=(MANO_V, 3, 135)),
        "J_regressor": sp.csc_matrix(reg) if sparse_regressor else reg,
        "weights": _weights(rng, MANO_V, 16),
        "kintree_table": _kintree(MANO_PARENTS),
        "f": rng.integers(0, MANO_V, size=(MANO_F, 3)).astype(np.uint32),
        "hands_components": rng.normal(size=(45, 45)),
        "hands_mean": rng.normal(scale=0.1, size=45),
    }


def random_smplx_arrays(seed: int = 0) -> dict:
    """The numeric arrays of an official SMPL-X ``.npz`` (10 shape + 10 expression directions)."""
    rng = np.random.default_rng(seed)
    return {
        "v_template": rng.normal(scale=0.3, size=(SMPLX_V, 3)).astype(np.float32),
        "shapedirs": rng.normal(scale=1e-3, size=(SMPLX_V, 3, 20)).astype(np.float32),
        "posedirs": rng.normal(scale=1e-4, size=(SMPLX_V, 3, 486)).astype(np.float32),
        "J_regressor": _regressor(rng, 55, SMPLX_V).astype(np.float32),
        "weights": _weights(rng, SMPLX_V, 55).astype(np.float32),
        "kintree_table": _kintree(_smplx_parents()),
        "f": rng.integers(0, SMPLX_V, size=(SMPLX_F, 3)).astype(np.int32),
        "hands_componentsl": rng.normal(size=(45, 45)).astype(np.float32),
        "hands_componentsr": rng.normal(size=(45, 45)).astype(np.float32),
        "hands_meanl": rng.normal(scale=0.1, size=45).astype(np.float32),
        "hands_meanr": rng.normal(scale=0.1, size=45).astype(np.float32),
        "lmk_faces_idx": rng.integers(0, SMPLX_F, size=51).astype(np.int64),
        "lmk_bary_coords": rng.dirichlet(np.ones(3), size=51).astype(np.float32),
    }
