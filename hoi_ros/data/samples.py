"""The model sample layout and the generic datasets and batch helpers around it.

A sample is a dict: ``video [T, H, W, 3] uint8``, ``hand [T, J, 3]`` and ``obj [T, K, 3]``
float32 metres, ``labels [K]`` int64, ``intrinsics [3, 3]`` and ``extrinsics [4, 4]`` float64 and
``prompt`` (str), plus whatever optional fields a source adds (:mod:`hoi_ros.data.sim`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from hoi_ros.core.camera import Camera
from hoi_ros.core.render import render_motion_video
from hoi_ros.core.sequence import HOISequence


def sample_from_sequence(seq: HOISequence) -> dict[str, Any]:
    """The sample dict of a sequence (which must have a video)."""
    if seq.video is None:
        raise ValueError("video: the sequence has no video; models train on video + motion pairs")
    return {
        "video": torch.from_numpy(np.ascontiguousarray(seq.video)),
        "hand": torch.from_numpy(seq.hand_joints.astype(np.float32)),
        "obj": torch.from_numpy(seq.object_points.astype(np.float32)),
        "labels": torch.from_numpy(seq.object_point_labels.astype(np.int64)),
        "intrinsics": torch.from_numpy(seq.camera.intrinsics.astype(np.float64)),
        "extrinsics": torch.from_numpy(seq.camera.extrinsics.astype(np.float64)),
        "prompt": seq.prompt,
    }


class SequenceFolderDataset(Dataset):
    """Every ``*.npz`` HOISequence in a folder (sorted by name)."""

    def __init__(self, folder: str | Path) -> None:
        self.files = sorted(Path(folder).glob("*.npz"))
        if not self.files:
            raise ValueError(f"data.path: no HOISequence .npz files in {folder}")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return sample_from_sequence(HOISequence.load(self.files[i]))


class LatentCacheDataset(Dataset):
    """Precomputed samples ``<cache>/<index>.safetensors`` (+ prompt in the metadata)."""

    def __init__(self, folder: str | Path) -> None:
        self.files = sorted(Path(folder).glob("*.safetensors"))
        if not self.files:
            raise ValueError(f"data.path: no precomputed latents in {folder}")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, Any]:
        from safetensors import safe_open

        with safe_open(str(self.files[i]), framework="pt") as f:
            sample: dict[str, Any] = {key: f.get_tensor(key) for key in f.keys()}
            sample["prompt"] = (f.metadata() or {}).get("prompt", "")
        return sample


class HalvesLabels(Dataset):
    """Relabels the K object points of every sample by index halves (first K/2 0, last K/2 1)."""

    def __init__(self, inner: Dataset) -> None:
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, Any]:
        sample = dict(self.inner[i])
        k = sample["labels"].shape[0]
        labels = torch.zeros(k, dtype=sample["labels"].dtype)
        labels[k // 2 :] = 1
        sample["labels"] = labels
        return sample


class CachedDataset(Dataset):
    """Keeps every item of a deterministic dataset after its first read."""

    def __init__(self, inner: Dataset) -> None:
        self.inner = inner
        self._items: dict[int, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, Any]:
        if i not in self._items:
            self._items[i] = self.inner[i]
        return self._items[i]


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors, keep prompts as a list."""
    out: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        out[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else list(values)
    return out


def cameras_of(batch: dict[str, Any], height: int, width: int) -> list[Camera]:
    """The per-sample cameras of a batch (for the rendered motion video, SViMo Alg. 1 lines 1 and 7)."""
    return [Camera(width, height, k.numpy(), e.numpy()) for k, e in zip(batch["intrinsics"], batch["extrinsics"])]


def motion_video_of(sample: dict[str, Any]) -> torch.Tensor:
    """A sample's rendered motion video ``[T, H, W, 3]`` uint8: its ``motion_video`` field when the
    source computed it, else drawn here from ``hand``, ``obj``, ``labels`` and the camera."""
    if "motion_video" in sample:
        return sample["motion_video"]
    h, w = int(sample["video"].shape[1]), int(sample["video"].shape[2])
    cam = Camera(w, h, sample["intrinsics"].numpy(), sample["extrinsics"].numpy())
    return torch.from_numpy(render_motion_video(sample["hand"].numpy(), sample["obj"].numpy(), cam,
                                                sample["labels"].numpy()))


def clips_from_dataset(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB videos and rendered motion videos ``[N, T, H, W, 3]`` uint8 of a dataset of samples
    (what the VAE trainer, :mod:`hoi_ros.diffusion.vae_train`, fits)."""
    rgb, motion = [], []
    for i in range(len(dataset)):
        s = dataset[i]
        rgb.append(s["video"])
        motion.append(motion_video_of(s))
    return torch.stack(rgb), torch.stack(motion)
