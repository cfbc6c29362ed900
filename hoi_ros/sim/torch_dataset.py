"""Reading a sim dataset back: episodes, and a torch ``Dataset`` at a model's size and length.

SViMo (§4) trains on 49 frames at 8 FPS and 416x624; both are parameters here. Each item holds
the video frames, the reference (first) frame, the rendered motion video (SViMo §3.2, drawn at
the item's size with :func:`hoi_ros.core.render.render_motion_video`), hand joints [T, J, 3],
object points [T, K, 3] with tool/target labels, the prompt, and PAM's depth / segmentation /
keypoint conditions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from hoi_ros.core.camera import Camera
from hoi_ros.core.render import render_motion_video
from hoi_ros.core.sequence import HOISequence
from hoi_ros.sim.dataset import load_conditions, load_manifest
from hoi_ros.sim.episode import Episode
from hoi_ros.sim.render import keypoint_maps


def load_episode(root: str | os.PathLike, entry: dict[str, Any]) -> Episode:
    """An :class:`Episode` from a dataset folder and its manifest entry."""
    seq = HOISequence.load(Path(root) / entry["files"]["sequence"])
    cond = load_conditions(root, entry)
    return Episode(sequence=seq, depth=cond.get("depth"), segmentation=cond.get("segmentation"),
                   keypoint_map=keypoint_maps(seq.hand_joints, seq.camera), object_poses=cond["object_poses"],
                   finger_angles=cond["finger_angles"], wrist_poses=cond["wrist_poses"],
                   success=bool(entry["success"]), info=dict(seq.metadata))


def resample_indices(num_frames: int, src_fps: float, num_out: int, dst_fps: float) -> np.ndarray:
    """Frame indices that play ``num_out`` frames at ``dst_fps`` (the last frame repeats if short)."""
    t = np.arange(num_out) / dst_fps
    return np.minimum(np.round(t * src_fps).astype(np.int64), num_frames - 1)


def scaled_camera(camera: Camera, height: int, width: int) -> Camera:
    """The same camera rendering ``height x width`` pixels (pixel-centre convention kept)."""
    sx, sy = width / camera.width, height / camera.height
    k = camera.intrinsics.copy()
    k[0, 0] *= sx
    k[1, 1] *= sy
    k[0, 2] = (k[0, 2] + 0.5) * sx - 0.5
    k[1, 2] = (k[1, 2] + 0.5) * sy - 0.5
    return Camera(width, height, k, camera.extrinsics)


def _frames(x: np.ndarray, size: tuple[int, int], mode: str) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(x)).float()
    t = t.permute(0, 3, 1, 2) if t.ndim == 4 else t[:, None]
    if tuple(t.shape[-2:]) != size:
        t = F.interpolate(t, size=size, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
    return t


class SimHOIDataset(torch.utils.data.Dataset):
    """Items of a dataset written by :func:`hoi_ros.sim.dataset.write_dataset`.

    Frames are float32 in [0, 1], ``[T, 3, H, W]``; depth ``[T, 1, H, W]`` metres; segmentation
    ``[T, H, W]`` int64 labels. ``only_successful`` drops episodes whose task failed.
    """

    def __init__(self, root: str | os.PathLike, num_frames: int = 49, fps: float = 8.0,
                 size: tuple[int, int] = (416, 624), only_successful: bool = True) -> None:
        if num_frames < 1:
            raise ValueError(f"num_frames: must be >= 1, got {num_frames}")
        if fps <= 0:
            raise ValueError(f"fps: must be positive, got {fps}")
        if len(size) != 2 or min(size) < 8:
            raise ValueError(f"size: expected (height, width) >= 8, got {size}")
        self.root = Path(root)
        self.manifest = load_manifest(root)
        self.entries = [e for e in self.manifest["episodes"] if e["success"] or not only_successful]
        self.num_frames, self.fps, self.size = int(num_frames), float(fps), (int(size[0]), int(size[1]))

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> dict[str, Any]:
        entry = self.entries[i]
        seq = HOISequence.load(self.root / entry["files"]["sequence"])
        cond = load_conditions(self.root, entry)
        idx = resample_indices(seq.num_frames, seq.fps, self.num_frames, self.fps)
        h, w = self.size
        cam = scaled_camera(seq.camera, h, w)
        joints, points = seq.hand_joints[idx], seq.object_points[idx]
        video = _frames(seq.video[idx], self.size, "bilinear") / 255.0
        motion = render_motion_video(joints, points, cam, seq.object_point_labels)
        item: dict[str, Any] = {
            "video": video,
            "ref_frame": video[0],
            "motion_video": torch.from_numpy(motion).permute(0, 3, 1, 2).float() / 255.0,
            "keypoint_map": torch.from_numpy(keypoint_maps(joints, cam)).permute(0, 3, 1, 2).float() / 255.0,
            "hand_joints": torch.from_numpy(joints),
            "object_points": torch.from_numpy(points),
            "object_point_labels": torch.from_numpy(seq.object_point_labels.astype(np.int64)),
            "intrinsics": torch.from_numpy(cam.intrinsics),
            "extrinsics": torch.from_numpy(cam.extrinsics),
            "prompt": seq.prompt,
            "task": entry["task"],
        }
        if "depth" in cond:
            item["depth"] = _frames(cond["depth"][idx], self.size, "nearest")
        if "segmentation" in cond:
            item["segmentation"] = _frames(cond["segmentation"][idx], self.size, "nearest")[:, 0].long()
        return item
