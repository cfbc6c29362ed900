"""run_arthoi stops within one frame / iteration when its cancel event is set, and an unset event
changes nothing (the /hoi/articulate action's cancellation)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from hoi_ros.arthoi.config import ArtHOIConfig
from hoi_ros.arthoi.gaussians import TorchCamera, canonical_gaussians, render_image
from hoi_ros.arthoi.pipeline import SceneInput, run_arthoi
from hoi_ros.core.camera import Camera, look_at
from hoi_ros.core.generation import GenerationCancelled

# A short run: the cancellation, not the accuracy, is under test.
CFG = {"segmentation": {"binding_radius_m": 0.02}, "render": {"scale": 1.0}, "stage1": {"lr": 3e-3, "iterations": 8},
       "stage2": {"iterations": 40}}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _scene_with_hand(frames: int = 6) -> SceneInput:
    """A speckled static panel and a door panel hinged on the z axis turning 40 deg, rendered with
    the Gaussian renderer (80 x 60), and a hand estimate near the door (test_stage1's scene, smaller)."""
    rng = np.random.default_rng(0)
    n = 300
    u, z = rng.uniform(0, 0.12, size=n), rng.uniform(0, 0.12, size=n)
    xyz0 = np.concatenate([np.stack([-u, np.zeros(n), z], 1), np.stack([u, np.zeros(n), z], 1)])
    door = np.r_[np.zeros(n, bool), np.ones(n, bool)]
    colors = np.where(door[:, None], [0.9, 0.55, 0.15], [0.25, 0.35, 0.8]) * np.where(
        rng.uniform(size=(2 * n, 1)) < 0.35, 0.45, 1.0)
    cam = Camera.from_fov(80, 60, 40.0, look_at(np.array([-0.05, -0.3, 0.42]), np.array([0.02, 0.0, 0.04])))
    tcam = TorchCamera.from_camera(cam, torch.float32)
    g = canonical_gaussians(xyz0, colors, 0.005, 0.95)
    video, masks = [], []
    for a in np.deg2rad(np.linspace(0.0, 40.0, frames)):
        pts = np.where(door[:, None], xyz0 @ Rotation.from_rotvec([0, 0, -a]).as_matrix().T, xyz0)
        out = render_image(g.with_means(torch.as_tensor(pts, dtype=torch.float32)), tcam, background=(0.5, 0.5, 0.5))
        video.append((out["rgb"].numpy().clip(0, 1) * 255).astype(np.uint8))
        masks.append(out["silhouette"].numpy() > 0.5)
    hand = xyz0[door][:21][None].repeat(frames, 0) + rng.normal(0, 0.01, (frames, 21, 3))
    return SceneInput(np.stack(video), np.stack(masks), np.zeros((frames, 60, 80), bool), cam, xyz0, "door", hand)


def test_cancel_in_stage1_stops_within_a_frame_and_stage2_within_an_iteration() -> None:
    scene = _scene_with_hand()
    cfg = ArtHOIConfig.from_dict(CFG)
    cancel = threading.Event()
    seen: list[tuple[str, int]] = []

    def progress(stage: str, step: int, steps: int, info: dict) -> None:
        seen.append((stage, step))
        if stage == "stage1" and step == 2:
            cancel.set()

    with pytest.raises(GenerationCancelled, match="Stage I"):
        run_arthoi(scene, cfg, progress, cancel)
    assert seen[-1] == ("stage1", 2)  # frame 3 never finished

    cancel2 = threading.Event()
    seen.clear()

    def progress2(stage: str, step: int, steps: int, info: dict) -> None:
        seen.append((stage, step))
        if stage == "stage2" and step > 0:
            cancel2.set()

    with pytest.raises(GenerationCancelled, match="Stage II"):
        run_arthoi(scene, cfg, progress2, cancel2)
    stage2 = [s for st, s in seen if st == "stage2"]
    assert stage2[-1] < cfg.stage2.iterations  # stopped before Stage II's end

    # Set before the start: nothing runs.
    seen.clear()
    with pytest.raises(GenerationCancelled):
        run_arthoi(scene, cfg, progress, cancel)
    assert seen == []


def test_an_unset_event_gives_the_same_result() -> None:
    scene = _scene_with_hand()
    cfg = ArtHOIConfig.from_dict(CFG)
    plain = run_arthoi(scene, cfg)
    watched = run_arthoi(scene, cfg, cancel=threading.Event())
    np.testing.assert_array_equal(plain.stage1.transforms, watched.stage1.transforms)
    np.testing.assert_array_equal(plain.hand, watched.hand)
    np.testing.assert_array_equal(plain.joint.states, watched.joint.states)
