"""Simulated episodes as data: the :class:`Episode` record and the on-disk dataset format.

The simulator (:mod:`hoi_ros.sim`) writes datasets; the model data layer (:mod:`hoi_ros.data`)
reads them. Both meet here, so neither imports the other and reading needs no MuJoCo or torch.
A dataset folder holds ``manifest.json`` (format :data:`FORMAT` v:data:`VERSION`) and per episode
a :class:`~hoi_ros.core.sequence.HOISequence` (``.npz`` + ``.mp4``) and a conditions ``.npz``
(PAM's depth and segmentation, object/wrist poses, finger angles).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hoi_ros.core.camera import Camera
from hoi_ros.core.render import render_motion_video
from hoi_ros.core.sequence import HOISequence

FORMAT = "hoi_ros.sim.dataset"
VERSION = 1


@dataclass
class Episode:
    """A rendered episode: the HOISequence plus PAM's condition channels and extra ground truth."""

    sequence: HOISequence
    depth: np.ndarray | None  # [T, H, W] float32 metres (0 = nothing hit)
    segmentation: np.ndarray | None  # [T, H, W] uint8 (0 background, 1 hand, 2 + i object i)
    keypoint_map: np.ndarray  # [T, H, W, 3] uint8 bones on black
    object_poses: np.ndarray  # [T, N, 7] position + quaternion (w, x, y, z)
    finger_angles: np.ndarray  # [T, 20] rad
    wrist_poses: np.ndarray  # [T, 7] position + quaternion (w, x, y, z) of the hand's wrist
    success: bool
    info: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def keypoint_maps(hand_joints: np.ndarray, camera: Camera) -> np.ndarray:
    """PAM's 2D hand-keypoint condition: bones drawn on black (the core motion-video drawing)."""
    return render_motion_video(hand_joints, None, camera)


def load_manifest(root: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a dataset folder; ``ValueError`` when it is missing or of another format."""
    path = Path(root) / "manifest.json"
    if not path.exists():
        raise ValueError(f"dataset root: {path} not found")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ValueError(f"{path}: not a {FORMAT} v{VERSION} manifest")
    return manifest


def load_conditions(root: str | os.PathLike, entry: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every array of an episode's conditions file (manifest ``entry``)."""
    with np.load(Path(root) / entry["files"]["conditions"], allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def load_episode(root: str | os.PathLike, entry: dict[str, Any]) -> Episode:
    """An :class:`Episode` from a dataset folder and its manifest entry."""
    seq = HOISequence.load(Path(root) / entry["files"]["sequence"])
    cond = load_conditions(root, entry)
    return Episode(sequence=seq, depth=cond.get("depth"), segmentation=cond.get("segmentation"),
                   keypoint_map=keypoint_maps(seq.hand_joints, seq.camera), object_poses=cond["object_poses"],
                   finger_angles=cond["finger_angles"], wrist_poses=cond["wrist_poses"],
                   success=bool(entry["success"]), info=dict(seq.metadata))
