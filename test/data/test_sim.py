"""A sim dataset as model tensors: resampled in time, resized once, the optional fields computed
only when asked for, and the video's bytes those of a single resize of the stored frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hoi_ros.core.render import render_motion_video
from hoi_ros.core.sequence import HOISequence
from hoi_ros.data.sim import SimHOIDataset, resize_frames, scaled_camera
from hoi_ros.sim.dataset import DatasetConfig, write_dataset
from hoi_ros.sim.episode import EpisodeConfig
from hoi_ros.sim.scene import LABEL_HAND

TINY = EpisodeConfig(width=64, height=48, fps=5.0, num_object_points=40)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    cfg = DatasetConfig(tasks=("grasp_lift",), cameras=("third_person",), episode=TINY)
    write_dataset(out, 1, seed=2, cfg=cfg, progress=False)
    return out


def test_items_are_resampled_to_the_model(root: Path) -> None:
    ds = SimHOIDataset(root, num_frames=7, fps=4.0, size=(32, 40), only_successful=False)
    assert len(ds) == 1
    item = ds[0]
    assert item["video"].shape == (7, 32, 40, 3) and item["video"].dtype == torch.uint8
    assert item["hand"].shape == (7, 21, 3) and item["obj"].shape == (7, 40, 3)
    assert item["hand"].dtype == item["obj"].dtype == torch.float32
    assert item["labels"].shape == (40,) and item["labels"].dtype == torch.int64
    assert "grasp the" in item["prompt"] and item["task"] == "grasp_lift"
    # 4 fps from a 5 fps episode: frame k is the source frame nearest k / 4 s.
    seq = HOISequence.load(root / "episodes" / "000000.npz")
    idx = np.minimum(np.round(np.arange(7) / 4.0 * 5.0).astype(int), seq.num_frames - 1)
    np.testing.assert_array_equal(item["hand"].numpy(), seq.hand_joints[idx])
    # One resize, rounded once: the same bytes as resizing the stored uint8 frames directly.
    once = resize_frames(seq.video[idx], (32, 40), "bilinear").round().clamp(0, 255).to(torch.uint8)
    assert torch.equal(item["video"], once.permute(0, 2, 3, 1))
    with pytest.raises(ValueError, match=r"^num_frames"):
        SimHOIDataset(root, num_frames=0)
    with pytest.raises(ValueError, match=r"^dataset root"):
        SimHOIDataset(root / "missing")
    with pytest.raises(ValueError, match=r"^fields"):
        SimHOIDataset(root, fields=("flow",))


def test_optional_fields_only_when_asked(root: Path) -> None:
    plain = SimHOIDataset(root, num_frames=7, fps=4.0, size=(32, 40), only_successful=False)[0]
    assert not {"motion_video", "keypoint_map", "depth", "segmentation"} & set(plain)
    ds = SimHOIDataset(root, num_frames=7, fps=4.0, size=(32, 40), only_successful=False,
                       fields=("motion_video", "keypoint_map", "depth", "segmentation"))
    item = ds[0]
    assert item["motion_video"].shape == item["keypoint_map"].shape == (7, 32, 40, 3)
    assert item["motion_video"].dtype == torch.uint8
    assert item["depth"].shape == (7, 32, 40) and item["segmentation"].shape == (7, 32, 40)
    assert {0, LABEL_HAND} <= set(torch.unique(item["segmentation"]).tolist())
    # The motion video is the core drawing at the item's size with the scaled camera.
    seq = HOISequence.load(root / "episodes" / "000000.npz")
    cam = scaled_camera(seq.camera, 32, 40)
    expected = render_motion_video(item["hand"].numpy(), item["obj"].numpy(), cam, seq.object_point_labels)
    np.testing.assert_array_equal(item["motion_video"].numpy(), expected)
