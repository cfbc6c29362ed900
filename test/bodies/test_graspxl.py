"""GraspXL-style trajectories -> HOISequence, and the pose-file dispatch PAM uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hoi_ros.bodies.convert import main as convert_main
from hoi_ros.bodies.graspxl import DEFAULT_FPS, is_graspxl_file, load_pose_file, read_graspxl
from hoi_ros.bodies.mano import MANOModel, mano_joints
from hoi_ros.core import Camera, HOISequence

T, K = 5, 40


def _trajectory(rng: np.random.Generator) -> dict[str, np.ndarray]:
    quat = rng.normal(size=(T, 4))
    return {
        "hand_pose": rng.normal(scale=0.2, size=(T, 45)),
        "global_orient": rng.normal(scale=0.5, size=(T, 3)),
        "transl": rng.normal(scale=0.1, size=(T, 3)),
        "betas": rng.normal(size=10),
        "object_position": rng.normal(scale=0.2, size=(T, 3)),
        "object_quat_wxyz": quat / np.linalg.norm(quat, axis=1, keepdims=True),
    }


@pytest.fixture
def trajectory(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    data = dict(_trajectory(rng), object_points=rng.normal(scale=0.03, size=(K, 3)), fps=np.array(12.0),
                object_name=np.array("mug"), prompt=np.array("pick up the mug"))
    path = tmp_path / "grasp.npz"
    np.savez(path, **data)
    return path, data


def test_a_trajectory_becomes_a_sequence_with_posed_object_points(mano_npz: Path, trajectory: tuple) -> None:
    path, data = trajectory
    seq = read_graspxl(path, mano_npz)
    assert seq.num_frames == T and seq.num_joints == 21 and seq.num_object_points == K
    assert seq.fps == 12.0 and seq.prompt == "pick up the mug" and seq.object_names == ("mug",)
    assert seq.hand_sides == ("right",) and seq.metadata["source"] == "graspxl"
    wxyz = data["object_quat_wxyz"]
    rot = Rotation.from_quat(np.concatenate([wxyz[:, 1:], wxyz[:, :1]], axis=1)).as_matrix()
    for t in range(T):
        expected = data["object_points"] @ rot[t].T + data["object_position"][t]
        np.testing.assert_allclose(seq.object_points[t], expected, atol=1e-6)
    art = seq.articulation("mug")
    assert art is not None and art.num_parts == 1 and art.num_joints == 0
    np.testing.assert_allclose(art.part_poses[:, 0, :3, :3], rot, atol=1e-9)
    np.testing.assert_allclose(art.part_poses[:, 0, :3, 3], data["object_position"])
    hand = mano_joints(MANOModel(mano_npz), data["hand_pose"], data["global_orient"], data["transl"], data["betas"])
    np.testing.assert_allclose(seq.hand_joints, hand, atol=1e-6)


def test_the_sequence_round_trips_through_its_own_file(mano_npz: Path, trajectory: tuple, tmp_path: Path) -> None:
    seq = read_graspxl(trajectory[0], mano_npz)
    saved = seq.save(tmp_path / "seq")
    again = load_pose_file(saved)
    np.testing.assert_array_equal(again.hand_joints, seq.hand_joints)
    np.testing.assert_array_equal(again.object_points, seq.object_points)


def test_the_default_camera_sees_the_scene(mano_npz: Path, trajectory: tuple) -> None:
    seq = read_graspxl(trajectory[0], mano_npz)
    cam = seq.camera
    assert (cam.height, cam.width) == (480, 720)
    pts = cam.world_to_camera(np.concatenate([seq.hand_joints.reshape(-1, 3), seq.object_points.reshape(-1, 3)]))
    assert np.all(pts[:, 2] > 0.1)  # everything in front of the camera


def test_a_camera_and_a_rotation_vector_from_the_file(mano_npz: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    data = _trajectory(rng)
    rotvec = rng.normal(size=(T, 3))
    data.pop("object_quat_wxyz")
    cam = Camera.from_fov(64, 48, 50.0)
    path = tmp_path / "g.npz"
    np.savez(path, **data, object_rotvec=rotvec, object_points=np.eye(3), camera_intrinsics=cam.intrinsics,
             camera_extrinsics=cam.extrinsics, image_size=np.array([48, 64]))
    seq = read_graspxl(path, MANOModel(mano_npz))
    assert (seq.camera.width, seq.camera.height) == (64, 48) and seq.fps == DEFAULT_FPS
    expected = Rotation.from_rotvec(rotvec).as_matrix().transpose(0, 2, 1) + data["object_position"][:, None]
    np.testing.assert_allclose(seq.object_points, expected, atol=1e-6)  # rows: R @ e_i + p


def test_an_object_name_is_resolved_by_the_caller(mano_npz: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    path = tmp_path / "g.npz"
    np.savez(path, **_trajectory(rng), object_name=np.array("box"))
    with pytest.raises(ValueError, match="object_points_for"):
        read_graspxl(path, mano_npz)
    asked = []
    seq = load_pose_file(path, mano_npz, object_points_for=lambda name: asked.append(name) or np.zeros((7, 3)))
    assert asked == ["box"] and seq.num_object_points == 7 and seq.object_names == ("box",)


def test_load_pose_file_dispatches_on_content(mano_npz: Path, trajectory: tuple, tmp_path: Path) -> None:
    path, _ = trajectory
    assert is_graspxl_file(path)
    with pytest.raises(ValueError, match="mano_model_path"):
        load_pose_file(path)
    assert isinstance(load_pose_file(path, mano_model_path=mano_npz), HOISequence)
    other = tmp_path / "other.npz"
    np.savez(other, something=np.ones(2))
    with pytest.raises(ValueError, match="neither an HOISequence"):
        load_pose_file(other, mano_npz)
    with pytest.raises(ValueError, match=r"not a \.npz"):
        load_pose_file(tmp_path / "missing.npz")


def test_missing_and_misshapen_keys_are_named(mano_npz: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    data = dict(_trajectory(rng), object_points=np.zeros((3, 3)))
    for key, value, message in (("object_position", None, r"missing 'object_position' \[5, 3\]"),
                                ("object_quat_wxyz", None, "object's rotation"),
                                ("transl", np.zeros((T + 1, 3)), "'transl' has shape"),
                                ("global_orient", None, "global_orient")):
        broken = dict(data)
        if value is None:
            broken.pop(key)
        else:
            broken[key] = value
        np.savez(tmp_path / "b.npz", **broken)
        with pytest.raises(ValueError, match=message):
            read_graspxl(tmp_path / "b.npz", mano_npz)


def test_a_graspxl_recording_converts_to_the_same_poses(mano_npz: Path, tmp_path: Path) -> None:
    """GraspXL's recorded dict (.npy) and its object mesh convert to the layout; the object is
    posed as GraspXL's viewer poses it (``v @ rotmat(-rot) + trans``)."""
    rng = np.random.default_rng(6)
    rot, trans = rng.normal(size=(T, 3)), rng.normal(scale=0.2, size=(T, 3))
    recording = {"right_hand": {"rot": rng.normal(size=(T, 3)), "pose": rng.normal(scale=0.2, size=(T, 45)),
                                "trans": rng.normal(scale=0.1, size=(T, 3))},
                 "wineglass": {"rot": rot, "trans": trans}}
    np.save(tmp_path / "WineGlass.npy", recording, allow_pickle=True)
    vertices = rng.normal(scale=0.05, size=(9, 3))
    (tmp_path / "wineglass.obj").write_text("".join(f"v {x} {y} {z}\n" for x, y, z in vertices) + "f 1 2 3\n")
    out = tmp_path / "wineglass.npz"
    assert convert_main([str(tmp_path / "WineGlass.npy"), str(out), "--object-mesh",
                         str(tmp_path / "wineglass.obj"), "--fps", "20"]) == 0
    seq = load_pose_file(out, mano_npz)
    viewer = np.stack([vertices @ Rotation.from_rotvec(-rot[t]).as_matrix() + trans[t] for t in range(T)])
    np.testing.assert_allclose(seq.object_points, viewer, atol=1e-6)
    hand = recording["right_hand"]
    expected = mano_joints(MANOModel(mano_npz, flat_hand_mean=False), hand["pose"], hand["rot"], hand["trans"])
    np.testing.assert_allclose(seq.hand_joints, expected, atol=1e-6)
    assert seq.fps == 20.0 and seq.metadata["flat_hand_mean"] is False
