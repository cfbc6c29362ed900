"""ArtHOI's whole-body Stage II on a shape-correct random SMPL-X model the test writes (none ships)."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest
from body_model_fakes import random_smplx_arrays

from hoi_ros.arthoi.body import BodyEstimate, load_body_model, refine_body
from hoi_ros.arthoi.config import StageIIConfig
from hoi_ros.bodies.smplx_body import SMPLXModel
from hoi_ros.core.generation import GenerationCancelled

T = 4


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> SMPLXModel:
    path = tmp_path_factory.mktemp("smplx") / "SMPLX_NEUTRAL.npz"
    np.savez(path, **random_smplx_arrays(seed=1))
    return SMPLXModel(path)


def _estimate() -> BodyEstimate:
    rng = np.random.default_rng(0)
    return BodyEstimate(global_orient=rng.normal(scale=0.1, size=(T, 3)), body_pose=rng.normal(scale=0.1, size=(T, 63)),
                        right_hand_pose=np.zeros((T, 45)), left_hand_pose=np.zeros((T, 45)),
                        transl=np.tile([0.0, 0.0, 0.1], (T, 1)))


def test_contact_pulls_the_right_hand_and_the_weights_are_app_a(model: SMPLXModel) -> None:
    assert (StageIIConfig().lambda_p, StageIIConfig().lambda_fs, StageIIConfig().lambda_s,
            StageIIConfig().lambda_k, StageIIConfig().lr) == (1.0, 10.0, 1e4, 1e4, 1e-3)
    cfg = replace(StageIIConfig(), iterations=60, use_smoothness_loss=False)
    est = _estimate()
    start = model(**{k: getattr(est, k) for k in ("global_orient", "body_pose", "right_hand_pose",
                                                    "left_hand_pose", "transl")}).hand_joints[:, :21].numpy()
    targets = start + np.array([0.02, 0.0, 0.0])  # every right-hand keypoint 2 cm to +x
    confident = np.zeros((T, 21), dtype=bool)
    confident[:, [4, 8]] = True  # thumb and index tips in contact
    out = refine_body(model, est, targets, confident, cfg, fps=30.0)
    before = np.linalg.norm(start[:, [4, 8]] - targets[:, [4, 8]], axis=-1).mean()
    after = np.linalg.norm(out.right_hand[:, [4, 8]] - targets[:, [4, 8]], axis=-1).mean()
    assert after < 0.6 * before
    assert out.body_joints.shape == (T, 22, 3) and set(out.terms) == {"L_p", "L_fs", "L_s", "L_k"}
    assert out.terms["L_fs"] >= 0 and out.terms["L_p"] > 0


def test_foot_sliding_holds_the_feet_still(model: SMPLXModel) -> None:
    """With L_fs weighted up and nothing else pulling, the optimiser reduces the feet's motion."""
    cfg = replace(StageIIConfig(), iterations=40, lr=1e-2, lambda_fs=1e4, lambda_p=0.0, use_contact_loss=False,
                  use_smoothness_loss=False)
    est = _estimate()
    est.transl = est.transl + np.linspace(0, 0.05, T)[:, None] * np.array([1.0, 0.0, 0.0])  # the body slides
    feet = model.foot_vertex_ids()

    def sliding(params: dict) -> float:
        v = model(**params).vertices[:, feet].numpy()
        return float((np.diff(v, axis=0) ** 2).sum())

    plain = {k: getattr(est, k) for k in ("global_orient", "body_pose", "right_hand_pose", "left_hand_pose",
                                            "transl")}
    out = refine_body(model, est, np.zeros((T, 21, 3)), np.zeros((T, 21)), cfg)
    assert sliding(out.params) < 0.5 * sliding(plain)


def test_missing_model_is_named_and_cancel_stops(model: SMPLXModel) -> None:
    with pytest.raises(ValueError, match=r"stage2\.smplx_model_path"):
        load_body_model(StageIIConfig())
    stop = threading.Event()
    stop.set()
    with pytest.raises(GenerationCancelled):
        refine_body(model, _estimate(), np.zeros((T, 21, 3)), np.zeros((T, 21)), replace(StageIIConfig(), iterations=5),
                    cancel=stop)
