"""``HOISequence``: the one data model every part of hoi_ros passes around.

A hand-object interaction of T frames: optional video ``[T, H, W, 3] uint8``, hand joints
``[T, J, 3]`` (metres, J = 21 or 42, see :mod:`hoi_ros.core.hand`) with the side of each hand
(``hand_sides``), object surface points ``[T, K, 3]`` (metres), the camera that films it, fps,
the text prompt and free-form JSON metadata. It is validated on construction: anything malformed
raises ``ValueError`` naming the field.

Objects: each object point carries a label ``object_point_labels[k]``, a small integer that
indexes ``object_names``. SViMo's tool/target split (§4) is one such naming and the default:
``("tool", "target")`` with labels :data:`OBJECT_LABEL_TOOL` and :data:`OBJECT_LABEL_TARGET`. An
object may be articulated: ``articulations`` holds at most one
:class:`~hoi_ros.core.articulation.Articulation` per object (parts, revolute/prismatic joints,
per-frame joint states and part poses, ArtHOI §3); a rigid object with a pose (PAM) is an
articulation with one part and no joints.

On disk a sequence is ``<stem>.npz`` (every array, losslessly, plus a JSON header) and, when it
has a video, ``<stem>.mp4`` beside it. Both are written atomically. :data:`FORMAT_VERSION` 2 adds
``hand_sides``, ``object_names`` and the articulations; version 1 files (whose hand sides were in
``metadata["hand_sides"]``) still load.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hoi_ros.core.articulation import Articulation
from hoi_ros.core.camera import Camera
from hoi_ros.core.hand import HAND_SIDES, joint_names, num_hands_for
from hoi_ros.core.io import npz_bytes, read_video, write_bytes_atomic, write_video

FORMAT_VERSION = 2
READABLE_FORMAT_VERSIONS: tuple[int, ...] = (1, 2)
OBJECT_LABEL_TOOL = 0
OBJECT_LABEL_TARGET = 1
TOOL_TARGET_NAMES: tuple[str, ...] = ("tool", "target")  # SViMo's naming, indexed by the labels above
MAX_OBJECTS = 256  # labels are uint8


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


class _DefaultSides(tuple):
    """The default hand sides, as read from a sequence that was given none.

    A plain tuple to every reader; ``dataclasses.replace`` passes it back to ``__init__``, which
    then defaults again, so ``replace(seq, hand_joints=two_hands)`` gets right, then left.
    """

    __slots__ = ()


def _check_sides(sides: Any, num_hands: int, name: str) -> tuple[str, ...]:
    """``sides`` as a tuple of ``num_hands`` distinct hand sides; ValueError naming ``name``."""
    if (not isinstance(sides, list | tuple) or len(sides) != num_hands or len(set(sides)) != num_hands
            or not all(isinstance(s, str) for s in sides) or not set(sides) <= set(HAND_SIDES)):
        raise ValueError(
            f"{name}: expected {num_hands} distinct of {list(HAND_SIDES)} (one per hand), got {sides!r}"
        )
    return tuple(sides)


def _check_names(names: Any) -> tuple[str, ...]:
    """``names`` as a tuple of distinct non-empty strings (at most one per uint8 label)."""
    if not isinstance(names, list | tuple) or not names:
        raise ValueError(f"object_names: expected a non-empty list of names, got {names!r}")
    if len(names) > MAX_OBJECTS:
        raise ValueError(f"object_names: at most {MAX_OBJECTS} objects (labels are uint8), got {len(names)}")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise ValueError(f"object_names[{i}]: expected a non-empty string, got {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"object_names: names must be distinct, got {list(names)}")
    return tuple(names)


def _check_labels(labels: Any, k: int, names: tuple[str, ...], default_names: bool) -> np.ndarray:
    """``labels`` as ``[K] uint8``, each an index into ``names``."""
    arr = np.asarray(labels)
    if arr.shape != (k,):
        raise ValueError(f"object_point_labels: expected shape ({k},), got {arr.shape}")
    if not arr.size:
        return arr.astype(np.uint8)
    if arr.dtype != np.bool_ and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.array_equal(arr, np.round(arr)):
            raise ValueError(f"object_point_labels: expected integer labels, got dtype {arr.dtype}")
    if arr.min() < 0:
        raise ValueError(f"object_point_labels: labels must be >= 0, got {arr.min()}")
    if arr.max() >= len(names):
        which = f"the default object_names {list(names)}" if default_names else f"object_names {list(names)}"
        raise ValueError(f"object_point_labels: label {int(arr.max())} has no name; {which} name labels "
                         f"0..{len(names) - 1} (one name per label value)")
    return arr.astype(np.uint8)


@dataclass
class HOISequence:
    """A hand-object interaction sequence (see the module docstring for shapes and units).

    ``hand_sides``, ``object_names`` and ``object_point_labels`` may be left ``None``: they become
    right (then left), SViMo's ``("tool", "target")`` and all 0. ``metadata["hand_sides"]`` is still
    accepted (moved into ``hand_sides`` with a ``DeprecationWarning``); it will be removed.
    """

    hand_joints: np.ndarray
    object_points: np.ndarray
    camera: Camera
    fps: float
    prompt: str = ""
    video: np.ndarray | None = None
    object_point_labels: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # A property below: reads give the sides (default right, then left); see _hand_sides_get.
    hand_sides: tuple[str, ...] | None = None
    object_names: tuple[str, ...] | None = None
    articulations: tuple[Articulation, ...] = ()

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
        default_names = self.object_names is None
        self.object_names = TOOL_TARGET_NAMES if default_names else _check_names(self.object_names)
        if self.object_point_labels is None:
            self.object_point_labels = np.full(k, OBJECT_LABEL_TOOL, dtype=np.uint8)
        self.object_point_labels = _check_labels(self.object_point_labels, k, self.object_names, default_names)
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
        self._init_hand_sides()
        self._init_articulations()
        self.__dict__["_constructed"] = True

    def _init_hand_sides(self) -> None:
        n = num_hands_for(self.hand_joints.shape[1])
        sides = self.__dict__.get("_hand_sides")  # None when unset (see _hand_sides_set)
        if "hand_sides" in self.metadata:
            legacy = self.metadata["hand_sides"]
            warnings.warn("HOISequence: metadata['hand_sides'] is deprecated; pass hand_sides=... instead",
                          DeprecationWarning, stacklevel=4)
            # A copy: the caller's dict (perhaps another sequence's metadata) is left as it was.
            self.metadata = {key: v for key, v in self.metadata.items() if key != "hand_sides"}
            if legacy is not None:
                legacy = _check_sides(legacy, n, "metadata.hand_sides")
                if sides is not None and tuple(sides) != legacy:
                    raise ValueError(f"hand_sides: {sides!r} differs from metadata.hand_sides {list(legacy)!r}")
                sides = legacy
        self.__dict__["_hand_sides"] = None if sides is None else _check_sides(sides, n, "hand_sides")

    def _init_articulations(self) -> None:
        arts = self.articulations
        if not isinstance(arts, list | tuple):
            raise ValueError(f"articulations: expected a tuple of Articulation, got {type(arts).__name__}")
        seen: set[str] = set()
        t, k = self.num_frames, self.num_object_points
        for i, art in enumerate(arts):
            name = f"articulations[{i}]"
            if not isinstance(art, Articulation):
                raise ValueError(f"{name}: expected an Articulation, got {type(art).__name__}")
            if art.object_name not in self.object_names:
                raise ValueError(f"{name}.object_name: {art.object_name!r} is not one of object_names "
                                 f"{list(self.object_names)}")
            if art.object_name in seen:
                raise ValueError(f"{name}.object_name: {art.object_name!r} already has an articulation")
            seen.add(art.object_name)
            if art.num_frames != t:
                raise ValueError(f"{name}.joint_states: {art.num_frames} frames, but hand_joints has {t}")
            if art.point_parts.size:
                if art.point_parts.shape != (k,):
                    raise ValueError(f"{name}.point_parts: expected shape ({k},) (one per object point), "
                                     f"got {art.point_parts.shape}")
                mine = self.object_point_labels == self.object_names.index(art.object_name)
                if not np.array_equal(art.point_parts >= 0, mine):
                    raise ValueError(f"{name}.point_parts: must give a part (>= 0) exactly for the points "
                                     f"labelled {art.object_name!r} and -1 elsewhere")
        self.articulations = tuple(arts)

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
    def joint_names(self) -> list[str]:
        return joint_names(self.num_hands, self.hand_sides)

    @property
    def timestamps(self) -> np.ndarray:
        """Seconds of each frame from the first."""
        return np.arange(self.num_frames, dtype=np.float64) / self.fps

    def object_label(self, name: str) -> int:
        """The label value of the object called ``name``; ValueError if there is none."""
        if name not in self.object_names:
            raise ValueError(f"object_names: no object {name!r} (the objects: {list(self.object_names)})")
        return self.object_names.index(name)

    def object_mask(self, name: str) -> np.ndarray:
        """``[K]`` bool: which object points belong to the object called ``name``."""
        return self.object_point_labels == self.object_label(name)

    def articulation(self, name: str) -> Articulation | None:
        """The articulation of the object called ``name``, or None when it has none (rigid)."""
        self.object_label(name)
        return next((a for a in self.articulations if a.object_name == name), None)

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
        :func:`~hoi_ros.core.io.write_video`). The npz holds the arrays (articulation ``i``'s as
        ``articulation_<i>_<field>``) and a JSON ``header`` with everything else.
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
            "hand_sides": list(self.hand_sides),
            "object_names": list(self.object_names),
            "articulations": [a.to_dict() for a in self.articulations],
            "metadata": self.metadata,
        }
        arrays = {
            "hand_joints": self.hand_joints,
            "object_points": self.object_points,
            "object_point_labels": self.object_point_labels,
            "intrinsics": self.camera.intrinsics,
            "extrinsics": self.camera.extrinsics,
        }
        for i, art in enumerate(self.articulations):
            arrays[f"articulation_{i}_joint_states"] = art.joint_states
            arrays[f"articulation_{i}_part_poses"] = art.part_poses
            arrays[f"articulation_{i}_point_parts"] = art.point_parts
        arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
        write_bytes_atomic(npz_path, npz_bytes(arrays))
        return npz_path

    @classmethod
    def load(cls, path: str | os.PathLike, load_video: bool = True) -> HOISequence:
        """Read a sequence written by :meth:`save` (``path`` may name the .npz or the stem).

        Reads format versions 1 and 2; a version 1 file's ``metadata["hand_sides"]`` becomes
        ``hand_sides`` (without a warning).
        """
        npz_path = Path(path).with_suffix(".npz")
        with np.load(npz_path, allow_pickle=False) as data:
            header = json.loads(bytes(data["header"]).decode("utf-8"))
            version = header.get("format_version")
            if version not in READABLE_FORMAT_VERSIONS:
                raise ValueError(f"{npz_path}: unsupported format_version {version}")
            height, width = header["image_size"]
            camera = Camera(width, height, data["intrinsics"], data["extrinsics"])
            video = None
            if load_video and header["video_file"]:
                video = read_video(npz_path.parent / header["video_file"], size=(height, width))
                if video.shape[0] != header["video_frames"]:
                    raise ValueError(
                        f"{npz_path}: video has {video.shape[0]} frames, expected {header['video_frames']}"
                    )
            metadata = dict(header["metadata"])
            if version == 1:
                hand_sides, object_names, articulations = metadata.pop("hand_sides", None), None, ()
            else:
                hand_sides, object_names = header["hand_sides"], header["object_names"]
                articulations = tuple(
                    Articulation.from_dict(spec, data[f"articulation_{i}_joint_states"],
                                           data[f"articulation_{i}_part_poses"], data[f"articulation_{i}_point_parts"])
                    for i, spec in enumerate(header["articulations"])
                )
            return cls(
                hand_joints=data["hand_joints"],
                object_points=data["object_points"],
                object_point_labels=data["object_point_labels"],
                camera=camera,
                fps=header["fps"],
                prompt=header["prompt"],
                video=video,
                metadata=metadata,
                hand_sides=hand_sides,
                object_names=object_names,
                articulations=articulations,
            )


# ``hand_sides`` is a dataclass field (an __init__ argument, kept by ``dataclasses.replace``) read
# through a property: unset, it is right (then left) for however many hands ``hand_joints`` has now;
# and for one release a ``metadata["hand_sides"]`` written after construction still wins (with a
# DeprecationWarning), as it did when the sides lived there.
def _hand_sides_get(self: HOISequence) -> tuple[str, ...]:
    """Side of each hand in ``hand_joints`` order ("right" / "left"); default right, then left."""
    legacy = self.metadata.get("hand_sides") if isinstance(self.metadata, dict) else None
    if legacy is not None:
        warnings.warn("HOISequence: metadata['hand_sides'] is deprecated; set hand_sides instead",
                      DeprecationWarning, stacklevel=2)
        return _check_sides(legacy, self.num_hands, "metadata.hand_sides")
    sides = self.__dict__.get("_hand_sides")
    return _DefaultSides(HAND_SIDES[: self.num_hands]) if sides is None else sides


def _hand_sides_set(self: HOISequence, value: Any) -> None:
    if isinstance(value, _DefaultSides):
        value = None
    if value is not None and self.__dict__.get("_constructed"):
        value = _check_sides(value, self.num_hands, "hand_sides")
    self.__dict__["_hand_sides"] = value


HOISequence.hand_sides = property(_hand_sides_get, _hand_sides_set, doc=_hand_sides_get.__doc__)  # type: ignore[assignment]
