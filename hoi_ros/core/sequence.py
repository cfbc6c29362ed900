"""``HOISequence``: the one data model every part of hoi_ros passes around.

A hand-object interaction of T frames: optional video ``[T, H, W, 3] uint8``, hand joints
``[T, J, 3]`` (metres, J = 21 or 42, see :mod:`hoi_ros.core.hand`), object surface points
``[T, K, 3]`` (metres; SViMo's tool/target split is kept in ``object_point_labels``), the camera
that films it, fps, the text prompt and free-form JSON metadata. It is validated on construction:
anything malformed raises ``ValueError`` naming the field.

On disk a sequence is ``<stem>.npz`` (every array, losslessly, plus JSON metadata) and, when it
has a video, ``<stem>.mp4`` beside it. Both are written atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hoi_ros.core.camera import Camera
from hoi_ros.core.hand import HAND_SIDES, joint_names, num_hands_for
from hoi_ros.core.io import npz_bytes, read_video, write_bytes_atomic, write_video

FORMAT_VERSION = 1
OBJECT_LABEL_TOOL = 0
OBJECT_LABEL_TARGET = 1


def _check_array(value: Any, name: str, ndim: int, dtype: type, last: int | None = None) -> np.ndarray:
    if value is None:
        raise ValueError(f"{name}: missing")
    arr = np.asarray(value)
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {arr.shape}")
    if last is not None and arr.shape[-1] != last:
        raise ValueError(f"{name}: last dimension must be {last}, got shape {arr.shape}")
    if dtype is np.float32:
        if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name}: expected a real number array, got dtype {arr.dtype}")
        if not np.all(np.isfinite(arr)):
            bad = np.argwhere(~np.isfinite(arr))[0].tolist()
            raise ValueError(f"{name}: contains NaN or Inf (first at index {bad})")
        arr = arr.astype(np.float32, copy=False)
    elif arr.dtype != dtype:
        raise ValueError(f"{name}: expected dtype {np.dtype(dtype).name}, got {arr.dtype}")
    return arr


@dataclass
class HOISequence:
    """A hand-object interaction sequence (see the module docstring for shapes and units)."""

    hand_joints: np.ndarray
    object_points: np.ndarray
    camera: Camera
    fps: float
    prompt: str = ""
    video: np.ndarray | None = None
    object_point_labels: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.hand_joints = _check_array(self.hand_joints, "hand_joints", 3, np.float32, last=3)
        t = self.hand_joints.shape[0]
        if t < 1:
            raise ValueError("hand_joints: needs at least one frame")
        num_hands_for(self.hand_joints.shape[1])
        self.object_points = _check_array(self.object_points, "object_points", 3, np.float32, last=3)
        if self.object_points.shape[0] != t:
            raise ValueError(
                f"object_points: {self.object_points.shape[0]} frames, but hand_joints has {t}"
            )
        k = self.object_points.shape[1]
        if self.object_point_labels is None:
            self.object_point_labels = np.zeros(k, dtype=np.uint8)
        labels = np.asarray(self.object_point_labels)
        if labels.shape != (k,):
            raise ValueError(f"object_point_labels: expected shape ({k},), got {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() > OBJECT_LABEL_TARGET):
            raise ValueError("object_point_labels: values must be 0 (tool) or 1 (target)")
        self.object_point_labels = labels.astype(np.uint8)
        if not isinstance(self.camera, Camera):
            raise ValueError(f"camera: expected a hoi_ros.core.Camera, got {type(self.camera).__name__}")
        try:
            self.fps = float(self.fps)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"fps: expected a number, got {self.fps!r}") from exc
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise ValueError(f"fps: must be a positive finite number, got {self.fps}")
        if not isinstance(self.prompt, str):
            raise ValueError(f"prompt: expected str, got {type(self.prompt).__name__}")
        if self.video is not None:
            video = np.asarray(self.video)
            if video.dtype != np.uint8:
                raise ValueError(f"video: expected dtype uint8, got {video.dtype}")
            if video.ndim != 4 or video.shape[-1] != 3:
                raise ValueError(f"video: expected shape [T, H, W, 3], got {video.shape}")
            if video.shape[0] != t:
                raise ValueError(f"video: {video.shape[0]} frames, but hand_joints has {t}")
            if video.shape[1:3] != (self.camera.height, self.camera.width):
                raise ValueError(
                    f"video: frame size {video.shape[2]}x{video.shape[1]} differs from the camera's "
                    f"{self.camera.width}x{self.camera.height}"
                )
            self.video = video
        if not isinstance(self.metadata, dict):
            raise ValueError(f"metadata: expected dict, got {type(self.metadata).__name__}")
        try:
            json.dumps(self.metadata)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"metadata: must be JSON-serialisable ({exc})") from exc
        sides = self.metadata.get("hand_sides")
        if sides is not None:
            n = num_hands_for(self.hand_joints.shape[1])
            if (not isinstance(sides, list | tuple) or len(sides) != n or len(set(sides)) != n
                    or not set(sides) <= set(HAND_SIDES)):
                raise ValueError(
                    f"metadata.hand_sides: expected {n} distinct of {list(HAND_SIDES)} (one per hand), got {sides!r}"
                )

    # ----------------------------------------------------------------- properties
    @property
    def num_frames(self) -> int:
        return int(self.hand_joints.shape[0])

    @property
    def num_joints(self) -> int:
        return int(self.hand_joints.shape[1])

    @property
    def num_hands(self) -> int:
        return num_hands_for(self.num_joints)

    @property
    def num_object_points(self) -> int:
        return int(self.object_points.shape[1])

    @property
    def hand_sides(self) -> tuple[str, ...]:
        """Side of each hand in ``hand_joints`` order: ``metadata["hand_sides"]``, else right (then left)."""
        sides = self.metadata.get("hand_sides")
        return tuple(sides) if sides is not None else HAND_SIDES[: self.num_hands]

    @property
    def joint_names(self) -> list[str]:
        return joint_names(self.num_hands, self.hand_sides)

    @property
    def timestamps(self) -> np.ndarray:
        """Seconds of each frame from the first."""
        return np.arange(self.num_frames, dtype=np.float64) / self.fps

    def with_video(self, video: np.ndarray | None) -> HOISequence:
        """A copy with another video (validated)."""
        return replace(self, video=video, metadata=dict(self.metadata))

    def render_motion(self, **kwargs: Any) -> np.ndarray:
        """The rendered motion video of this sequence (SViMo §3.2); see :func:`render_motion_video`."""
        from hoi_ros.core.render import render_motion_video

        return render_motion_video(
            self.hand_joints, self.object_points, self.camera, self.object_point_labels, **kwargs
        )

    # ----------------------------------------------------------------- save / load
    def save(self, path: str | os.PathLike, video_quality: int = 18, video_threads: int = 0) -> Path:
        """Write ``<stem>.npz`` (+ ``<stem>.mp4`` when there is a video); returns the npz path.

        Each file is written atomically; the video goes first, so a present npz always has its
        complete video beside it. The npz bytes depend on the sequence alone
        (:func:`~hoi_ros.core.io.npz_bytes`); the mp4's also on ``video_threads`` (see
        :func:`~hoi_ros.core.io.write_video`).
        """
        npz_path = Path(path).with_suffix(".npz")
        video_name = ""
        if self.video is not None:
            video_path = npz_path.with_suffix(".mp4")
            write_video(video_path, self.video, self.fps, quality=video_quality, threads=video_threads)
            video_name = video_path.name
        header = {
            "format_version": FORMAT_VERSION,
            "fps": self.fps,
            "prompt": self.prompt,
            "image_size": [self.camera.height, self.camera.width],
            "video_file": video_name,
            "video_frames": self.num_frames if video_name else 0,
            "metadata": self.metadata,
        }
        data = npz_bytes({
            "hand_joints": self.hand_joints,
            "object_points": self.object_points,
            "object_point_labels": self.object_point_labels,
            "intrinsics": self.camera.intrinsics,
            "extrinsics": self.camera.extrinsics,
            "header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
        })
        write_bytes_atomic(npz_path, data)
        return npz_path

    @classmethod
    def load(cls, path: str | os.PathLike, load_video: bool = True) -> HOISequence:
        """Read a sequence written by :meth:`save` (``path`` may name the .npz or the stem)."""
        npz_path = Path(path).with_suffix(".npz")
        with np.load(npz_path, allow_pickle=False) as data:
            header = json.loads(bytes(data["header"]).decode("utf-8"))
            if header.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"{npz_path}: unsupported format_version {header.get('format_version')}")
            height, width = header["image_size"]
            camera = Camera(width, height, data["intrinsics"], data["extrinsics"])
            video = None
            if load_video and header["video_file"]:
                video = read_video(npz_path.parent / header["video_file"], size=(height, width))
                if video.shape[0] != header["video_frames"]:
                    raise ValueError(
                        f"{npz_path}: video has {video.shape[0]} frames, expected {header['video_frames']}"
                    )
            return cls(
                hand_joints=data["hand_joints"],
                object_points=data["object_points"],
                object_point_labels=data["object_point_labels"],
                camera=camera,
                fps=header["fps"],
                prompt=header["prompt"],
                video=video,
                metadata=header["metadata"],
            )
