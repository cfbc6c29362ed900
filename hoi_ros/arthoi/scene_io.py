"""ArtHOI's input as one file: a :class:`~hoi_ros.arthoi.pipeline.SceneInput` in an ``.npz``.

What ArtHOI reads from a monocular scene (§3.1's video and masks ``M^o(t)``, ``M^h(t)``, the
camera, the object's surface points at frame 0, its "known geometry" of App. A, and optionally the
initial hand estimate Stage II of §3.2 refines) is written with :func:`save_scene` and read back
bit for bit with :func:`load_scene`. The sim's ground truth (part poses, joint, states, the
moving part's points, true hand, the parts' boxes) may ride along for the metrics (App. C); it is
never an input to the method. ``/hoi/articulate``'s ``sequence_path`` reads these files;
``python -m hoi_ros.arthoi --sim door --save-scene door.npz`` writes one.

Layout (no pickles: ``numpy.load(..., allow_pickle=False)`` reads it): arrays ``video`` ``[T, H,
W, 3] uint8``, ``object_masks`` / ``hand_masks`` ``[T, H, W] bool``, ``intrinsics`` ``[3, 3]``,
``extrinsics`` ``[4, 4]`` (world -> camera, OpenCV axes), ``surface_points`` ``[G, 3]``, optional
``hand_estimate`` ``[T, 21, 3]`` and ``truth_<key>`` arrays; a JSON ``header`` (uint8 bytes) with
the format version, name, fps, image size and the truth's non-array values.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from hoi_ros.arthoi.pipeline import SceneInput
from hoi_ros.core.camera import Camera
from hoi_ros.core.io import npz_bytes, write_bytes_atomic

SCENE_FORMAT = "hoi_ros.arthoi.scene"
SCENE_VERSION = 1
# Truth arrays kept as ``truth_<key>``; the boxes ((part, centre, half size) per geom) are split
# into ``truth_box_parts``, ``truth_box_centres`` and ``truth_box_halves``.
TRUTH_ARRAYS: tuple[str, ...] = ("part_poses", "axis", "origin", "states", "point_parts", "hand_joints",
                                 "object_points", "all_part_poses")


def save_scene(path: str | os.PathLike, scene: SceneInput, include_truth: bool = True) -> Path:
    """Write ``scene`` to ``path`` (``.npz``, atomically); returns the path written.

    ``include_truth``: keep the sim's ground truth (metrics only) when the scene has one.
    """
    path = Path(path).with_suffix(".npz")
    check_scene(scene)
    header: dict[str, Any] = {"format": SCENE_FORMAT, "version": SCENE_VERSION, "name": scene.name,
                              "fps": float(scene.fps), "image_size": [scene.camera.height, scene.camera.width]}
    arrays: dict[str, np.ndarray] = {
        "video": np.asarray(scene.video, dtype=np.uint8),
        "object_masks": np.asarray(scene.object_masks, dtype=bool),
        "hand_masks": np.asarray(scene.hand_masks, dtype=bool),
        "intrinsics": np.asarray(scene.camera.intrinsics, dtype=np.float64),
        "extrinsics": np.asarray(scene.camera.extrinsics, dtype=np.float64),
        "surface_points": np.asarray(scene.surface_points, dtype=np.float64),
    }
    if scene.hand_estimate is not None:
        arrays["hand_estimate"] = np.asarray(scene.hand_estimate, dtype=np.float64)
    if include_truth and scene.truth is not None:
        truth = scene.truth
        header["truth"] = {"joint_type": str(truth["joint_type"])}
        for key in TRUTH_ARRAYS:
            if key in truth:
                arrays[f"truth_{key}"] = np.asarray(truth[key])
        if "boxes" in truth:
            boxes = list(truth["boxes"])
            arrays["truth_box_parts"] = np.asarray([int(b[0]) for b in boxes], dtype=np.int64)
            arrays["truth_box_centres"] = np.asarray([b[1] for b in boxes], dtype=np.float64).reshape(-1, 3)
            arrays["truth_box_halves"] = np.asarray([b[2] for b in boxes], dtype=np.float64).reshape(-1, 3)
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    return write_bytes_atomic(path, npz_bytes(arrays))


def load_scene(path: str | os.PathLike) -> SceneInput:
    """The :class:`SceneInput` of a file written by :func:`save_scene`.

    Raises ``ValueError`` naming the array or header field that is missing or malformed
    (``FileNotFoundError`` when there is no file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not an npz scene file ({exc})") from None
    if not hasattr(data, "files"):
        raise ValueError(f"{path}: a single .npy array, not an npz scene file")
    with data:
        names = set(data.files)
        if "header" not in names:
            raise ValueError(f"{path}: header: missing (not a scene written by save_scene)")
        try:
            header = json.loads(bytes(data["header"]).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"header: not JSON ({exc})") from None
        if header.get("format") != SCENE_FORMAT:
            raise ValueError(f"header.format: expected {SCENE_FORMAT!r}, got {header.get('format')!r}")
        if header.get("version") != SCENE_VERSION:
            raise ValueError(f"header.version: unsupported version {header.get('version')!r}")
        for key in ("video", "object_masks", "hand_masks", "intrinsics", "extrinsics", "surface_points"):
            if key not in names:
                raise ValueError(f"{key}: missing")
        height, width = (int(v) for v in header.get("image_size", (0, 0)))
        try:
            camera = Camera(width, height, data["intrinsics"], data["extrinsics"])
        except ValueError as exc:
            raise ValueError(f"camera: {exc}") from None
        truth = None
        if "truth" in header:
            truth = {"joint_type": str(header["truth"]["joint_type"])}
            for key in TRUTH_ARRAYS:
                if f"truth_{key}" in names:
                    truth[key] = data[f"truth_{key}"]
            if "truth_box_parts" in names:
                truth["boxes"] = [(int(p), c, h) for p, c, h in zip(data["truth_box_parts"], data["truth_box_centres"],
                                                                    data["truth_box_halves"], strict=True)]
        scene = SceneInput(
            video=data["video"], object_masks=data["object_masks"], hand_masks=data["hand_masks"], camera=camera,
            surface_points=data["surface_points"], name=str(header.get("name") or "object"),
            hand_estimate=data["hand_estimate"] if "hand_estimate" in names else None, truth=truth,
            fps=float(header.get("fps", 12.0)))
    check_scene(scene)
    return scene


def check_scene(scene: SceneInput) -> None:
    """``ValueError`` naming the field when the scene's arrays disagree (frames, sizes, dtypes)."""
    video = np.asarray(scene.video)
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
        raise ValueError(f"video: expected [T, H, W, 3] uint8, got {video.shape} {video.dtype}")
    t, h, w = video.shape[:3]
    if t < 2:
        raise ValueError(f"video: at least 2 frames needed (flow), got {t}")
    for key in ("object_masks", "hand_masks"):
        masks = np.asarray(getattr(scene, key))
        if masks.dtype != bool or masks.shape != (t, h, w):
            raise ValueError(f"{key}: expected [{t}, {h}, {w}] bool (one per frame of the video), "
                             f"got {masks.shape} {masks.dtype}")
    if not np.asarray(scene.object_masks)[0].any():
        raise ValueError("object_masks: the object has no pixel in frame 0")
    if (scene.camera.width, scene.camera.height) != (w, h):
        raise ValueError(f"camera: image size {scene.camera.width}x{scene.camera.height} differs from the "
                         f"video's {w}x{h}")
    pts = np.asarray(scene.surface_points)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0 or not np.all(np.isfinite(pts)):
        raise ValueError(f"surface_points: expected finite [G, 3] with G >= 1, got {pts.shape}")
    if scene.hand_estimate is not None:
        hand = np.asarray(scene.hand_estimate)
        if (hand.ndim != 3 or hand.shape[0] != t or hand.shape[1] not in (21, 42) or hand.shape[2] != 3
                or not np.all(np.isfinite(hand))):
            raise ValueError(f"hand_estimate: expected finite [{t}, 21 or 42, 3], got {hand.shape}")
    if not np.isfinite(scene.fps) or scene.fps <= 0:
        raise ValueError(f"fps: must be positive, got {scene.fps}")
