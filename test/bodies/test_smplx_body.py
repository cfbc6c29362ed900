"""SMPL-X from a local .npz (body and hand joints) and ArtHOI's foot-sliding loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from body_model_fakes import random_smplx_arrays
from smplx.joint_names import JOINT_NAMES

from hoi_ros.bodies.model_files import ModelFileError
from hoi_ros.bodies.smplx_body import (
    BODY_JOINT_NAMES,
    FOOT_KEYPOINT_VERTICES,
    HAND_JOINT_INDICES,
    LAMBDA_FS,
    SMPLXModel,
    foot_sliding_loss,
    hand_joint_names,
)
from hoi_ros.core.hand import FINGERTIPS

TIPS = {"left": [5361, 4933, 5058, 5169, 5286], "right": [8079, 7669, 7794, 7905, 8022]}  # thumb..pinky


@pytest.fixture(scope="module")
def model(smplx_npz: Path) -> SMPLXModel:
    return SMPLXModel(smplx_npz)


def test_hand_joints_are_in_the_package_order() -> None:
    right = hand_joint_names("right")
    assert right[:5] == ("right_wrist", "right_thumb1", "right_thumb2", "right_thumb3", "right_thumb")
    assert right[-4:] == ("right_pinky1", "right_pinky2", "right_pinky3", "right_pinky")
    assert [JOINT_NAMES[i] for i in HAND_JOINT_INDICES] == [*right, *hand_joint_names("left")]
    assert BODY_JOINT_NAMES[0] == "pelvis" and BODY_JOINT_NAMES[-1] == "right_wrist"


def test_zero_pose_gives_the_templates_regressed_joints(model: SMPLXModel) -> None:
    arrays = random_smplx_arrays()
    out = model(num_frames=2)
    assert out.vertices.shape == (2, 10475, 3) and out.body_joints.shape == (2, 22, 3)
    assert out.hand_joints.shape == (2, 42, 3)
    regressed = arrays["J_regressor"].astype(np.float64) @ arrays["v_template"]
    np.testing.assert_allclose(out.body_joints[1].numpy(), regressed[:22], atol=1e-5)
    np.testing.assert_allclose(out.hand_joints[0, 0].numpy(), regressed[21], atol=1e-5)  # right wrist
    np.testing.assert_allclose(out.hand_joints[0, 21].numpy(), regressed[20], atol=1e-5)  # left wrist
    np.testing.assert_allclose(out.hand_joints[0, 1].numpy(), regressed[JOINT_NAMES.index("right_thumb1")],
                               atol=1e-5)


def test_fingertips_are_the_chosen_vertices_in_any_pose(model: SMPLXModel) -> None:
    rng = np.random.default_rng(0)
    out = model(global_orient=rng.normal(size=(2, 3)), body_pose=rng.normal(scale=0.2, size=(2, 63)),
                left_hand_pose=rng.normal(scale=0.3, size=(2, 45)), right_hand_pose=rng.normal(scale=0.3, size=(2, 45)),
                transl=rng.normal(size=(2, 3)), betas=rng.normal(size=10), expression=rng.normal(size=10))
    tips = list(FINGERTIPS)
    torch.testing.assert_close(out.hand_joints[:, tips], out.vertices[:, TIPS["right"]])
    torch.testing.assert_close(out.hand_joints[:, [21 + i for i in tips]], out.vertices[:, TIPS["left"]])


def test_bad_files_are_refused(tmp_path: Path) -> None:
    arrays = random_smplx_arrays()
    arrays["shapedirs"] = arrays["shapedirs"][..., :10]
    np.savez(tmp_path / "few.npz", **arrays)
    with pytest.raises(ModelFileError, match="at least 20"):
        SMPLXModel(tmp_path / "few.npz")
    arrays = random_smplx_arrays()
    del arrays["lmk_bary_coords"]
    np.savez(tmp_path / "nolmk.npz", **arrays)
    with pytest.raises(ModelFileError, match="lmk_bary_coords"):
        SMPLXModel(tmp_path / "nolmk.npz")


def test_foot_vertex_ids(model: SMPLXModel) -> None:
    assert model.foot_vertex_ids("left").tolist() == [8846, 5770, 5780] == list(FOOT_KEYPOINT_VERTICES["left"])
    assert model.foot_vertex_ids().tolist() == [8846, 5770, 5780, 8635, 8463, 8474]
    weights = random_smplx_arrays()["weights"]
    expected = np.flatnonzero(weights[:, [JOINT_NAMES.index("right_ankle"), JOINT_NAMES.index("right_foot")]]
                              .sum(axis=1) > 0.05)
    assert model.foot_vertex_ids("right", threshold=0.05).tolist() == expected.tolist()


# --------------------------------------------------------------------------- foot sliding (Eq. 12)
def test_a_static_foot_does_not_slide() -> None:
    feet = torch.randn(1, 6, 3).expand(10, 6, 3)
    assert foot_sliding_loss(feet).item() == 0.0
    assert foot_sliding_loss(feet, torch.ones(10, 6)).item() == 0.0


def test_a_sliding_contact_foot_is_penalised_and_a_swinging_one_is_not() -> None:
    t = torch.arange(6, dtype=torch.float32)
    feet = torch.zeros(6, 2, 3)
    feet[:, 0, 0] = 0.01 * t  # foot 0 slides 1 cm per frame along x
    feet[:, 1, 1] = 0.05 * t  # foot 1 swings 5 cm per frame
    contact = torch.tensor([[1.0, 0.0]]).expand(6, 2)
    loss = foot_sliding_loss(feet, contact)
    assert loss.item() == pytest.approx(5 * 0.01**2, rel=1e-5)  # Σ_t ‖Δv‖² over the 5 steps of foot 0
    assert foot_sliding_loss(feet).item() == pytest.approx(5 * (0.01**2 + 0.05**2), rel=1e-5)
    # A foot touching down (contact from frame 3) counts only from then on.
    landing = torch.zeros(6, 1)
    landing[3:] = 1.0
    assert foot_sliding_loss(feet[:, :1], landing).item() == pytest.approx(2 * 0.01**2, rel=1e-5)
    assert LAMBDA_FS == 10.0


def test_foot_sliding_gradients_flow_through_the_body(model: SMPLXModel) -> None:
    body_pose = torch.zeros(4, 63)
    body_pose[:, 0] = torch.linspace(0.0, 0.3, 4)  # the left hip swings: the foot moves
    body_pose.requires_grad_(True)
    transl = torch.zeros(4, 3, requires_grad=True)
    out = model(body_pose=body_pose, transl=transl)
    feet = out.vertices[:, model.foot_vertex_ids()]
    loss = LAMBDA_FS * foot_sliding_loss(feet, torch.ones(4, feet.shape[1]))
    assert loss.item() > 0
    loss.backward()
    assert body_pose.grad is not None and body_pose.grad[:, :3].abs().sum() > 0
    assert transl.grad is not None


def test_bad_loss_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="foot_points"):
        foot_sliding_loss(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="contact"):
        foot_sliding_loss(torch.zeros(5, 2, 3), torch.ones(5, 3))
