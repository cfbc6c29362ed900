"""ArtHOI's scene file (hoi_ros.arthoi.scene_io): a bit-exact round trip, named errors, the CLI writer."""

from __future__ import annotations

import numpy as np
import pytest

from hoi_ros.arthoi.pipeline import SceneInput
from hoi_ros.arthoi.scene_io import load_scene, save_scene
from hoi_ros.core.camera import Camera, look_at


def _scene(frames: int = 4, with_truth: bool = True) -> SceneInput:
    rng = np.random.default_rng(3)
    h, w = 24, 32
    labels = rng.integers(0, 4, (frames, h, w))
    labels[0, 5:10, 5:10] = 2
    cam = Camera.from_fov(w, h, 50.0, look_at(np.array([0.3, -0.4, 0.5]), np.zeros(3)))
    truth = None
    if with_truth:
        truth = {"part_poses": np.tile(np.eye(4), (frames, 1, 1)), "joint_type": "prismatic",
                 "axis": np.array([1.0, 0.0, 0.0]), "origin": np.array([0.0, 0.1, 0.0]),
                 "states": np.linspace(0, 0.1, frames), "point_parts": rng.integers(0, 2, 50),
                 "hand_joints": rng.normal(size=(frames, 21, 3)), "object_points": rng.normal(size=(frames, 50, 3)),
                 "all_part_poses": np.tile(np.eye(4), (frames, 2, 1, 1)),
                 "boxes": [(0, np.array([0.0, 0.0, 0.05]), np.array([0.1, 0.1, 0.05])),
                           (1, np.array([0.0, 0.1, 0.05]), np.array([0.02, 0.05, 0.05]))]}
    return SceneInput(rng.integers(0, 256, (frames, h, w, 3), dtype=np.uint8), labels >= 2, labels == 1, cam,
                      rng.normal(size=(50, 3)), "drawer", rng.normal(size=(frames, 21, 3)), truth, fps=7.5)


def test_round_trip_is_exact_and_deterministic(tmp_path) -> None:
    scene = _scene()
    path = save_scene(tmp_path / "scene", scene)
    assert path.suffix == ".npz"
    got = load_scene(path)
    for key in ("video", "object_masks", "hand_masks", "surface_points", "hand_estimate"):
        want = getattr(scene, key)
        np.testing.assert_array_equal(getattr(got, key), want)
        assert getattr(got, key).dtype == np.asarray(want).dtype, key
    np.testing.assert_array_equal(got.camera.intrinsics, scene.camera.intrinsics)
    np.testing.assert_array_equal(got.camera.extrinsics, scene.camera.extrinsics)
    assert (got.camera.width, got.camera.height, got.name, got.fps) == (32, 24, "drawer", 7.5)
    assert set(got.truth) == set(scene.truth)
    assert got.truth["joint_type"] == "prismatic"
    for key in ("part_poses", "axis", "origin", "states", "point_parts", "hand_joints", "object_points",
                "all_part_poses"):
        np.testing.assert_array_equal(got.truth[key], scene.truth[key])
    for (p0, c0, h0), (p1, c1, h1) in zip(got.truth["boxes"], scene.truth["boxes"], strict=True):
        assert p0 == p1
        np.testing.assert_array_equal(c0, c1)
        np.testing.assert_array_equal(h0, h1)
    # Same scene, same bytes; no pickles inside (numpy refuses them with allow_pickle=False).
    again = save_scene(tmp_path / "again.npz", got)
    assert again.read_bytes() == path.read_bytes()
    with np.load(path, allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)


def test_optional_parts_and_named_errors(tmp_path) -> None:
    scene = _scene(with_truth=False)
    scene.hand_estimate = None
    got = load_scene(save_scene(tmp_path / "bare.npz", scene))
    assert got.truth is None and got.hand_estimate is None
    # Without the truth on request.
    assert load_scene(save_scene(tmp_path / "no_truth.npz", _scene(), include_truth=False)).truth is None

    with pytest.raises(FileNotFoundError):
        load_scene(tmp_path / "missing.npz")
    np.save(tmp_path / "points.npy", np.zeros((3, 3)))
    with pytest.raises(ValueError, match="not an npz scene file"):
        load_scene(tmp_path / "points.npy")
    np.savez(tmp_path / "other.npz", video=np.zeros(3))
    with pytest.raises(ValueError, match="header"):
        load_scene(tmp_path / "other.npz")
    bad = _scene()
    bad.hand_masks = bad.hand_masks[:2]
    with pytest.raises(ValueError, match="hand_masks"):
        save_scene(tmp_path / "bad.npz", bad)
    empty = _scene()
    empty.object_masks = np.zeros_like(empty.object_masks)
    with pytest.raises(ValueError, match="object_masks: the object has no pixel in frame 0"):
        save_scene(tmp_path / "empty.npz", empty)


def test_cli_writes_a_sim_scene(tmp_path) -> None:
    from hoi_ros.arthoi.__main__ import main

    out = tmp_path / "door.npz"
    assert main(["--sim", "door", "--fps", "4", "--save-scene", str(out), "--quiet"]) == 0
    scene = load_scene(out)
    assert scene.name == "door" and scene.fps == pytest.approx(4.0)
    assert scene.video.shape[1:] == (120, 160, 3) and scene.object_masks[0].any()
    assert scene.truth["joint_type"] == "revolute" and len(scene.truth["boxes"]) > 0
    assert scene.hand_estimate.shape == (len(scene.video), 21, 3)
