"""Sim episodes → model tensors, in one path, loading only the fields a model asks for.

SViMo (§4) trains on 49 frames at 8 FPS and 416x624; PAM on the same clips plus its three
conditions; both sizes are parameters here. An item is in the layout every model of the package
reads (:mod:`hoi_ros.data.samples`): ``video [T, H, W, 3] uint8`` (resampled in time, resized once,
rounded once), ``hand [T, J, 3]`` and ``obj [T, K, 3]`` float32 metres, ``labels [K]`` int64,
``intrinsics [3, 3]`` / ``extrinsics [4, 4]`` float64 (the camera scaled to the item's size),
``prompt`` and ``task``. Optional fields, computed only when asked for (``fields``):
``motion_video`` and ``keypoint_map`` ``[T, H, W, 3] uint8`` (SViMo §3.2's rendered motion video and
PAM's hand-keypoint map, drawn at the item's size), ``depth [T, H, W]`` float32 metres and
``segmentation [T, H, W]`` int64 labels (PAM's conditions, nearest-neighbour resized).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from hoi_ros.core.camera import Camera
from hoi_ros.core.episodes import keypoint_maps, load_conditions, load_manifest
from hoi_ros.core.render import render_motion_video
from hoi_ros.core.sequence import HOISequence

OPTIONAL_FIELDS = ("motion_video", "keypoint_map", "depth", "segmentation")


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


def resize_frames(x: np.ndarray, size: tuple[int, int], mode: str) -> torch.Tensor:
    """``[T, H, W, C]`` or ``[T, H, W]`` → float ``[T, C, h, w]`` (``C = 1`` for 3-D input)."""
    t = torch.from_numpy(np.ascontiguousarray(x)).float()
    t = t.permute(0, 3, 1, 2) if t.ndim == 4 else t[:, None]
    if tuple(t.shape[-2:]) != size:
        t = F.interpolate(t, size=size, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
    return t


def resize_video(video: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """uint8 ``[T, H, W, 3]`` → uint8 ``[T, h, w, 3]``: bilinear, rounded once."""
    if tuple(video.shape[1:3]) == tuple(size):
        return torch.from_numpy(np.ascontiguousarray(video))
    out = resize_frames(video, size, "bilinear").round().clamp(0, 255).to(torch.uint8)
    return out.permute(0, 2, 3, 1).contiguous()


class SimHOIDataset(torch.utils.data.Dataset):
    """Items of a dataset written by :func:`hoi_ros.sim.dataset.write_dataset` (module docstring).

    ``only_successful`` drops episodes whose task failed; ``fields`` names the optional fields
    to compute (any of :data:`OPTIONAL_FIELDS`).
    """

    def __init__(self, root: str | os.PathLike, num_frames: int = 49, fps: float = 8.0,
                 size: tuple[int, int] = (416, 624), only_successful: bool = True,
                 fields: tuple[str, ...] = ()) -> None:
        if num_frames < 1:
            raise ValueError(f"num_frames: must be >= 1, got {num_frames}")
        if fps <= 0:
            raise ValueError(f"fps: must be positive, got {fps}")
        if len(size) != 2 or min(size) < 8:
            raise ValueError(f"size: expected (height, width) >= 8, got {size}")
        unknown = set(fields) - set(OPTIONAL_FIELDS)
        if unknown:
            raise ValueError(f"fields: unknown {sorted(unknown)}; choose from {OPTIONAL_FIELDS}")
        self.root = Path(root)
        self.manifest = load_manifest(root)
        self.entries = [e for e in self.manifest["episodes"] if e["success"] or not only_successful]
        self.num_frames, self.fps, self.size = int(num_frames), float(fps), (int(size[0]), int(size[1]))
        self.fields = tuple(fields)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> dict[str, Any]:
        entry = self.entries[i]
        seq = HOISequence.load(self.root / entry["files"]["sequence"])
        idx = resample_indices(seq.num_frames, seq.fps, self.num_frames, self.fps)
        h, w = self.size
        cam = scaled_camera(seq.camera, h, w)
        joints, points = seq.hand_joints[idx], seq.object_points[idx]
        item: dict[str, Any] = {
            "video": resize_video(seq.video[idx], self.size),
            "hand": torch.from_numpy(np.ascontiguousarray(joints, dtype=np.float32)),
            "obj": torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32)),
            "labels": torch.from_numpy(seq.object_point_labels.astype(np.int64)),
            "intrinsics": torch.from_numpy(cam.intrinsics.astype(np.float64)),
            "extrinsics": torch.from_numpy(cam.extrinsics.astype(np.float64)),
            "prompt": seq.prompt,
            "task": entry["task"],
        }
        if "motion_video" in self.fields:
            item["motion_video"] = torch.from_numpy(render_motion_video(joints, points, cam, seq.object_point_labels))
        if "keypoint_map" in self.fields:
            item["keypoint_map"] = torch.from_numpy(keypoint_maps(joints, cam))
        if {"depth", "segmentation"} & set(self.fields):
            cond = load_conditions(self.root, entry)
            for name in ("depth", "segmentation"):
                if name in self.fields and name in cond:
                    x = resize_frames(cond[name][idx], self.size, "nearest")[:, 0]
                    item[name] = x.long() if name == "segmentation" else x
        return item
