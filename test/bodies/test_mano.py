"""MANO from a local .npz: joint order, zero pose, global pose, gradients."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from body_model_fakes import MANO_PARENTS, random_mano_arrays
from scipy.spatial.transform import Rotation
from smplx.vertex_ids import vertex_ids

from hoi_ros.bodies.mano import (
    FINGERTIP_VERTICES,
    MANO_JOINT_NAMES,
    MANO_TO_PACKAGE,
    MANOModel,
    mano_joints,
)
from hoi_ros.bodies.model_files import ModelFileError
from hoi_ros.core.hand import BONES, FINGERTIPS, HAND_JOINT_NAMES

TIPS = [744, 320, 443, 554, 671]  # thumb, index, middle, ring, pinky


@pytest.fixture(scope="module")
def model(mano_npz: Path) -> MANOModel:
    return MANOModel(mano_npz, flat_hand_mean=True)


def test_the_joint_order_is_the_known_mano_to_openpose_map() -> None:
    assert MANO_TO_PACKAGE == (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)
    assert list(FINGERTIP_VERTICES.values()) == TIPS == list(vertex_ids["mano"].values())
    names = [MANO_JOINT_NAMES[i] for i in MANO_TO_PACKAGE]
    assert names[:5] == ["wrist", "thumb1", "thumb2", "thumb3", "thumb_tip"]
    assert names[-4:] == ["pinky1", "pinky2", "pinky3", "pinky_tip"]


def test_the_order_follows_manos_kinematic_tree() -> None:
    """Every package bone between regressed joints is a MANO parent -> child link."""
    for parent, child in BONES:
        mp, mc = MANO_TO_PACKAGE[parent], MANO_TO_PACKAGE[child]
        if child in FINGERTIPS:
            assert mc >= 16 and MANO_PARENTS.count(mp) == 0  # a tip hangs off the chain's last joint
        else:
            assert MANO_PARENTS[mc] == mp, (HAND_JOINT_NAMES[parent], HAND_JOINT_NAMES[child])


def test_zero_pose_gives_the_templates_regressed_joints(model: MANOModel) -> None:
    arrays = random_mano_arrays()
    joints = mano_joints(model, np.zeros((2, 45)))
    assert joints.shape == (2, 21, 3) and joints.dtype == np.float32
    expected16 = arrays["J_regressor"] @ arrays["v_template"]
    expected = np.concatenate([expected16, arrays["v_template"][TIPS]])[list(MANO_TO_PACKAGE)]
    np.testing.assert_allclose(joints[0], expected, atol=1e-6)
    np.testing.assert_allclose(joints[1], expected, atol=1e-6)


def test_fingertips_are_the_chosen_vertices_in_any_pose(model: MANOModel) -> None:
    rng = np.random.default_rng(1)
    out = model(rng.normal(scale=0.3, size=(3, 45)), rng.normal(size=(3, 3)), rng.normal(size=(3, 3)),
                betas=rng.normal(size=10))
    tips = out.joints[:, list(FINGERTIPS)]
    torch.testing.assert_close(tips, out.vertices[:, TIPS])


def test_global_orient_and_transl_move_the_hand_rigidly_about_the_wrist(model: MANOModel) -> None:
    rng = np.random.default_rng(2)
    pose = rng.normal(scale=0.3, size=(1, 45))
    base = mano_joints(model, pose)[0].astype(np.float64)
    rotvec, shift = np.array([0.3, -1.1, 0.5]), np.array([0.1, 0.2, -0.3])
    moved = mano_joints(model, pose, rotvec[None], shift[None])[0]
    root = base[0]
    expected = (base - root) @ Rotation.from_rotvec(rotvec).as_matrix().T + root + shift
    np.testing.assert_allclose(moved, expected, atol=1e-5)
    # The same pose given 48-wide (global orientation first).
    wide = mano_joints(model, np.concatenate([rotvec[None], pose], axis=1), trans=shift[None])[0]
    np.testing.assert_allclose(wide, moved, atol=1e-6)


def test_the_mean_hand_is_added_unless_flat(mano_npz: Path, model: MANOModel) -> None:
    mean = random_mano_arrays()["hands_mean"][None]
    relative = MANOModel(mano_npz)  # smplx's default: poses relative to the mean hand
    np.testing.assert_allclose(mano_joints(relative, np.zeros((1, 45))), mano_joints(model, mean), atol=1e-6)
    np.testing.assert_allclose(mano_joints(model, np.zeros((1, 45))), mano_joints(relative, -mean), atol=1e-6)
    flat = relative(np.zeros((1, 45)), flat_hand_mean=True).joints.detach().numpy()
    np.testing.assert_allclose(flat, mano_joints(model, np.zeros((1, 45))), atol=1e-6)


def test_gradients_flow_to_pose_and_shape(model: MANOModel) -> None:
    pose = torch.zeros(2, 45, requires_grad=True)
    betas = torch.zeros(10, requires_grad=True)
    joints = mano_joints(model, pose, torch.ones(2, 3) * 0.1, betas=betas)
    assert isinstance(joints, torch.Tensor)
    joints[:, list(FINGERTIPS)].square().sum().backward()
    assert pose.grad is not None and pose.grad.abs().sum() > 0
    assert betas.grad is not None and betas.grad.abs().sum() > 0


def test_bad_inputs_are_named(model: MANOModel) -> None:
    with pytest.raises(ValueError, match="hand_pose"):
        model(np.zeros((2, 44)))
    with pytest.raises(ValueError, match="transl"):
        model(np.zeros((2, 45)), transl=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="global_orient: given twice"):
        model(np.zeros((2, 48)), global_orient=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        model(np.full((1, 45), np.nan))


def test_a_file_with_another_kinematic_tree_is_refused(tmp_path: Path) -> None:
    arrays = random_mano_arrays()
    arrays["kintree_table"] = arrays["kintree_table"].copy()
    arrays["kintree_table"][0, 4] = 3  # index chain hung off the thumb
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ModelFileError, match="not MANO's"):
        MANOModel(tmp_path / "bad.npz")
    arrays = random_mano_arrays()
    arrays["posedirs"] = arrays["posedirs"][..., :100]
    np.savez(tmp_path / "bad2.npz", **arrays)
    with pytest.raises(ModelFileError, match="'posedirs' has shape"):
        MANOModel(tmp_path / "bad2.npz")


def test_faces_may_be_stored_as_faces(tmp_path: Path) -> None:
    arrays = random_mano_arrays()
    arrays["faces"] = arrays.pop("f")
    np.savez(tmp_path / "m.npz", **arrays)
    assert MANOModel(tmp_path / "m.npz").faces.shape == (1538, 3)
