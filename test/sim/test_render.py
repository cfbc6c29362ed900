"""Rendering (PAM §Stage II/III conditions) against the geometry: depth back-projected through the
core ``Camera`` lands on the simulated surfaces within 2 mm, segmentation labels match the geom
each pixel's ray hits, and RGB, labels and the hand keypoints line up."""

from __future__ import annotations

from functools import cache

import mujoco
import numpy as np
import pytest

from hoi_ros.core.camera import Camera, look_at
from hoi_ros.core.episodes import keypoint_maps
from hoi_ros.sim.camera import camera_preset, check_renderable
from hoi_ros.sim.objects import make_object
from hoi_ros.sim.render import SimRenderer, depth_image, segmentation_image
from hoi_ros.sim.scene import LABEL_BACKGROUND, LABEL_FIRST_OBJECT, LABEL_HAND, SimScene
from hoi_ros.sim.tasks import TaskRequest, simulate, yaw_quat

W, H = 200, 150


@cache
def _carrying() -> tuple[SimScene, np.ndarray]:
    """A place episode (red mug into a blue bowl) stopped while the hand carries the mug."""
    mug, bowl = make_object("mug", "red"), make_object("bowl", "blue")
    req = TaskRequest("place", [mug, bowl], [(np.array([0.0, 0.0, mug.rest_height]), yaw_quat(0.0)),
                                             (np.array([0.25, 0.05, 0.0]), yaw_quat(0.0))])
    traj, scene = simulate(req, fps=10.0, max_size=(W, H))
    frame = traj.info["phases"].index("carry") + 3
    return scene, traj.qpos[frame]


@cache
def _render(preset: str) -> tuple[SimScene, Camera, np.ndarray, np.ndarray, np.ndarray]:
    scene, qpos = _carrying()
    scene.data.qpos[:] = qpos
    mujoco.mj_kinematics(scene.model, scene.data)
    camera = camera_preset(preset, W, H)
    with SimRenderer(scene, camera) as r:
        rgb, depth, seg = r.render()
    return scene, camera, rgb, depth, seg


def _pixel_rays(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Camera centre and, per pixel, the world direction whose optical-axis component is 1."""
    k, rot = camera.intrinsics, camera.extrinsics[:3, :3]
    u, v = np.meshgrid(np.arange(camera.width), np.arange(camera.height))
    cam = np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1], np.ones(u.shape)], -1)
    return -rot.T @ camera.extrinsics[:3, 3], cam @ rot


def _raycast(scene: SimScene, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the geom its ray hits first (-1: none) and the hit's optical-axis depth."""
    centre, dirs = _pixel_rays(camera)
    n = camera.width * camera.height
    geom = np.empty(n, np.int32)
    dist = np.empty(n)
    mujoco.mj_multiRay(scene.model, scene.data, centre, np.ascontiguousarray(dirs.reshape(-1, 3)).ravel(), None,
                       True, -1, geom, dist, None, n, 100.0)
    return geom.reshape(camera.height, camera.width), dist.reshape(camera.height, camera.width)


def _interior(labels: np.ndarray) -> np.ndarray:
    """Pixels whose 3x3 neighbourhood has a single label (silhouettes excluded)."""
    pad = np.pad(labels, 1, mode="edge")
    same = np.ones(labels.shape, bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            same &= pad[1 + dy: 1 + dy + labels.shape[0], 1 + dx: 1 + dx + labels.shape[1]] == labels
    return same


@pytest.mark.parametrize("preset", ["third_person", "ego"])
def test_depth_back_projects_onto_the_geometry(preset: str) -> None:
    scene, camera, _rgb, depth, seg = _render(preset)
    assert depth.dtype == np.float32 and depth.shape == (H, W)
    geom, ray_depth = _raycast(scene, camera)
    centre, dirs = _pixel_rays(camera)
    points = centre + depth[..., None] * dirs  # back-projection of every pixel through the core Camera
    hits = centre + ray_depth[..., None] * dirs  # where MuJoCo's analytic ray meets the surfaces
    ray_labels = np.where(geom >= 0, scene.geom_label[np.maximum(geom, 0)], LABEL_BACKGROUND)
    inner = _interior(seg) & _interior(ray_labels) & (geom >= 0) & (depth > 0)
    assert inner.mean() > 0.5  # the sky is the rest
    err = np.linalg.norm(points - hits, axis=-1)[inner]
    assert err.max() < 0.002 and np.median(err) < 1e-4, (err.max(), np.median(err))
    # Independently of MuJoCo's ray code: pixels that see the table top land on the plane z = 0.
    table = inner & (geom == scene.model.geom("table").id) & (ray_depth > 0)
    table &= np.abs(hits[..., 2]) < 1e-9  # the top face, not the table's sides
    assert table.sum() > 1000
    assert np.abs(points[table][:, 2]).max() < 0.002
    assert (depth[seg != LABEL_BACKGROUND] > 0).all()  # 0 only where nothing was drawn


@pytest.mark.parametrize("preset", ["third_person", "ego"])
def test_segmentation_labels_match_the_geometry(preset: str) -> None:
    scene, camera, _rgb, _depth, seg = _render(preset)
    assert seg.dtype == np.uint8 and seg.shape == (H, W)
    geom, _ = _raycast(scene, camera)
    ray_labels = np.where(geom >= 0, scene.geom_label[np.maximum(geom, 0)], LABEL_BACKGROUND)
    assert set(np.unique(seg)) == {LABEL_BACKGROUND, LABEL_HAND, LABEL_FIRST_OBJECT, LABEL_FIRST_OBJECT + 1}
    assert (seg == ray_labels).mean() > 0.995
    inner = _interior(ray_labels)
    np.testing.assert_array_equal(seg[inner], ray_labels[inner])
    for label in (LABEL_HAND, LABEL_FIRST_OBJECT, LABEL_FIRST_OBJECT + 1):
        assert (seg == label).sum() > 50, label


@pytest.mark.parametrize("preset", ["third_person", "ego"])
def test_rgb_labels_and_keypoints_line_up(preset: str) -> None:
    scene, camera, rgb, _depth, seg = _render(preset)
    assert rgb.dtype == np.uint8 and rgb.shape == (H, W, 3)
    mug = rgb[_interior(seg) & (seg == LABEL_FIRST_OBJECT)].astype(float).mean(0)
    bowl = rgb[_interior(seg) & (seg == LABEL_FIRST_OBJECT + 1)].astype(float).mean(0)
    assert mug[0] > 1.5 * max(mug[1], mug[2]), mug  # the red mug
    assert bowl[2] > 1.5 * max(bowl[0], bowl[1]), bowl  # the blue bowl
    # The 21 keypoint sites lie inside the hand's capsules: projected with the core Camera they
    # fall on hand pixels unless an object hides them.
    uv, z = camera.project(scene.keypoints())
    px = np.rint(uv).astype(int)
    inside = (px[:, 0] >= 0) & (px[:, 0] < W) & (px[:, 1] >= 0) & (px[:, 1] < H) & (z > 0)
    assert inside.all()
    on = seg[px[:, 1], px[:, 0]]
    assert (on == LABEL_HAND).mean() >= 0.7 and np.isin(on, [LABEL_HAND, LABEL_FIRST_OBJECT]).all()
    # The keypoint map draws at the same places.
    kmap = keypoint_maps(scene.keypoints()[None], camera)[0]
    assert kmap[px[:, 1], px[:, 0]].any(axis=-1).all() and kmap[seg == LABEL_BACKGROUND].any(axis=-1).mean() < 0.05


def test_condition_images() -> None:
    _scene, _camera, _rgb, depth, seg = _render("third_person")
    d, s = depth_image(depth), segmentation_image(seg)
    assert d.shape == s.shape == (H, W, 3) and d.dtype == s.dtype == np.uint8
    assert (s[seg == LABEL_BACKGROUND] == 0).all() and (s[seg == LABEL_HAND] == 255).all()
    table = (seg == LABEL_BACKGROUND) & (depth > 0)
    assert d[seg == LABEL_HAND, 0].astype(float).mean() > d[table, 0].astype(float).mean()  # nearer is brighter


def test_cameras_the_renderer_cannot_reproduce_are_refused() -> None:
    scene, _qpos = _carrying()
    with pytest.raises(ValueError, match=r"^camera.preset"):
        camera_preset("drone", 64, 48)
    shifted = camera_preset("ego", 64, 48)
    shifted.intrinsics[0, 2] += 5
    with pytest.raises(ValueError, match=r"^camera.intrinsics"):
        check_renderable(shifted)
    with pytest.raises(ValueError, match=r"^camera:"):
        SimRenderer(scene, Camera.from_fov(4 * W, H, 45.0, look_at(np.array([0.0, -0.5, 0.5]), np.zeros(3))))
