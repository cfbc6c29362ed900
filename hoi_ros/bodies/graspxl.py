"""GraspXL-style hand-object trajectories as :class:`~hoi_ros.core.HOISequence` (PAM's Stage I).

PAM's Stage I takes its hand-object trajectory from GraspXL (a MANO hand and a posed object mesh
per frame). Such a trajectory is read here from a plain ``.npz`` (``allow_pickle=False``) with the
keys below; the hand joints come from MANO (:mod:`hoi_ros.bodies.mano`, the user's own model file)
and the object points are the object's points posed per frame.

===========================  ===========  ====================================================
key                          shape        meaning
===========================  ===========  ====================================================
``hand_pose``                [T, 45]      MANO finger pose, axis-angle (or [T, 48]: global
                                          orientation first, then ``global_orient`` is absent)
``global_orient``            [T, 3]       wrist rotation, axis-angle (GraspXL's ``rot``)
``transl``                   [T, 3]       hand translation, metres (GraspXL's ``trans``)
``betas``                    [10] or      MANO shape (optional; zeros)
                             [T, 10]
``flat_hand_mean``           []  bool     optional, default False: ``hand_pose`` is relative
                                          to MANO's mean hand, as in GraspXL's viewer
``object_position``          [T, 3]       object origin in the world, metres
``object_quat_wxyz``         [T, 4]       object rotation (w, x, y, z); or instead
``object_rotvec``            [T, 3]       object rotation, axis-angle (GraspXL's ``rot``)
``object_points``            [K, 3]       object surface points in the object frame, or instead
``object_name``              [] str       a name resolved by the caller's ``object_points_for``
                                          (e.g. an object of the sim library)
``fps``                      []           optional, default :data:`DEFAULT_FPS`
``prompt``                   [] str       optional text prompt
``hand_side``                [] str       optional, ``right`` (default) or ``left``
``camera_intrinsics``        [3, 3]       optional camera (all three together); default: a
``camera_extrinsics``        [4, 4]       45° camera looking at the scene from above and
``image_size``               [2]          behind, z up (:func:`default_camera`); (height, width)
===========================  ===========  ====================================================

A world point of the object at frame t is ``R_t @ p + object_position[t]``. GraspXL's own
recordings (``.npy`` files holding a pickled dict) convert to this layout with
``python -m hoi_ros.bodies.convert recording.npy trajectory.npz --object-mesh object.obj``
(:func:`graspxl_recording_arrays`; the pickle is read by the restricted unpickler).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from hoi_ros.bodies.mano import MANOModel
from hoi_ros.core.articulation import Articulation
from hoi_ros.core.camera import Camera, look_at
from hoi_ros.core.geometry import quat_to_matrix
from hoi_ros.core.hand import HAND_SIDES
from hoi_ros.core.sequence import HOISequence

DEFAULT_FPS = 30.0
DEFAULT_IMAGE_SIZE = (480, 720)  # (height, width), PAM's clip size
DEFAULT_FOV_Y_DEG = 45.0
DEFAULT_VIEW_OFFSET = (0.0, -0.45, 0.45)  # camera eye relative to the scene centre (z up)
DEFAULT_OBJECT_NAME = "object"
HAND_KEYS = ("hand_pose",)
ObjectPoints = Callable[[str], np.ndarray]


def default_camera(centre: np.ndarray, image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE) -> Camera:
    """A camera looking at ``centre`` from :data:`DEFAULT_VIEW_OFFSET` (z up), 45° vertical FOV."""
    centre = np.asarray(centre, dtype=np.float64)
    eye = centre + np.asarray(DEFAULT_VIEW_OFFSET)
    height, width = image_size
    return Camera.from_fov(width, height, DEFAULT_FOV_Y_DEG, look_at(eye, centre))


def _array(data: Mapping[str, np.ndarray], key: str, shape: tuple[int | None, ...], file: Path) -> np.ndarray:
    want = "[" + ", ".join("T" if w is None else str(w) for w in shape) + "]"
    if key not in data:
        raise ValueError(f"{file}: missing {key!r} {want}")
    arr = np.asarray(data[key])
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{file}: {key!r} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != len(shape) or any(w is not None and s != w for s, w in zip(arr.shape, shape)):
        raise ValueError(f"{file}: {key!r} has shape {list(arr.shape)}, expected {want}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{file}: {key!r} contains NaN or Inf")
    return arr.astype(np.float64)


def _text(data: Mapping[str, np.ndarray], key: str, file: Path, default: str) -> str:
    if key not in data:
        return default
    arr = np.asarray(data[key])
    if arr.shape != () or arr.dtype.kind not in "US":
        raise ValueError(f"{file}: {key!r} must be a string, got dtype {arr.dtype} shape {list(arr.shape)}")
    value = arr.item()
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _scalar(data: Mapping[str, np.ndarray], key: str, file: Path, default: float) -> float:
    if key not in data:
        return default
    arr = np.asarray(data[key])
    if arr.size != 1 or arr.dtype.kind not in "biuf":
        raise ValueError(f"{file}: {key!r} must be one number, got dtype {arr.dtype} shape {list(arr.shape)}")
    return float(arr.reshape(()))


def _read_npz(path: str | os.PathLike) -> tuple[Path, dict[str, np.ndarray]]:
    file = Path(path).expanduser()
    if file.suffix.lower() != ".npz" or not file.is_file():
        raise ValueError(f"{file}: not a .npz file")
    with np.load(file, allow_pickle=False) as npz:
        out = {}
        for key in npz.files:
            try:
                out[key] = npz[key]
            except ValueError as exc:
                raise ValueError(f"{file}: {key!r} is not a plain array ({exc})") from None
    return file, out


def is_graspxl_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a ``.npz`` with a ``hand_pose`` array (the layout above)."""
    file = Path(path).expanduser()
    if file.suffix.lower() != ".npz" or not file.is_file():
        return False
    with np.load(file, allow_pickle=False) as npz:
        return all(k in npz.files for k in HAND_KEYS)


def _object_rotations(data: Mapping[str, np.ndarray], t: int, file: Path) -> np.ndarray:
    if "object_quat_wxyz" in data:
        quat = _array(data, "object_quat_wxyz", (t, 4), file)
        if np.any(np.linalg.norm(quat, axis=1) < 1e-8):
            raise ValueError(f"{file}: 'object_quat_wxyz' has a zero quaternion")
        return quat_to_matrix(quat)
    if "object_rotvec" in data:
        return Rotation.from_rotvec(_array(data, "object_rotvec", (t, 3), file)).as_matrix()
    raise ValueError(f"{file}: needs the object's rotation, 'object_quat_wxyz' [T, 4] or 'object_rotvec' [T, 3]")


def _object_points(data: Mapping[str, np.ndarray], file: Path, object_points_for: ObjectPoints | None,
                   ) -> tuple[np.ndarray, str]:
    if "object_points" in data:
        return _array(data, "object_points", (None, 3), file), _text(data, "object_name", file, DEFAULT_OBJECT_NAME)
    if "object_name" not in data:
        raise ValueError(f"{file}: needs the object's geometry, 'object_points' [K, 3] or 'object_name'")
    name = _text(data, "object_name", file, "")
    if object_points_for is None:
        raise ValueError(f"{file}: the object is given by name ({name!r}) but no object_points_for resolver "
                         "was passed; pass one (e.g. the sim library's surface points) or store 'object_points'")
    points = np.asarray(object_points_for(name), dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"object_points_for({name!r}): expected points [K, 3], got shape {list(points.shape)}")
    return points, name


def _camera(data: Mapping[str, np.ndarray], file: Path, centre: np.ndarray) -> Camera:
    keys = ("camera_intrinsics", "camera_extrinsics", "image_size")
    present = [k for k in keys if k in data]
    if not present:
        return default_camera(centre)
    if len(present) != len(keys):
        raise ValueError(f"{file}: a camera needs all of {list(keys)}, got only {present}")
    height, width = (int(v) for v in _array(data, "image_size", (2,), file))
    return Camera(width, height, _array(data, "camera_intrinsics", (3, 3), file),
                  _array(data, "camera_extrinsics", (4, 4), file))


def read_graspxl(path: str | os.PathLike, mano: MANOModel | str | os.PathLike,
                 object_points_for: ObjectPoints | None = None) -> HOISequence:
    """The :class:`HOISequence` of a GraspXL-style ``.npz`` (keys in the module docstring).

    ``mano`` is a :class:`MANOModel` or the path of the user's MANO ``.npz`` (of the file's hand
    side). ``object_points_for`` resolves an ``object_name`` to object-frame points ``[K, 3]``.
    The sequence has one object (named by ``object_name``, else ``"object"``) whose rigid pose is
    its one-part :class:`~hoi_ros.core.Articulation`. Raises ``ValueError`` naming the key.
    """
    file, data = _read_npz(path)
    if "hand_pose" not in data:
        raise ValueError(f"{file}: not a GraspXL-style trajectory (no 'hand_pose'); keys {sorted(data)}")
    pose = np.asarray(data["hand_pose"])
    if pose.ndim != 2 or pose.shape[0] < 1:
        raise ValueError(f"{file}: 'hand_pose' has shape {list(pose.shape)}, expected [T, 45] or [T, 48]")
    t = pose.shape[0]
    pose = _array(data, "hand_pose", (t, pose.shape[1]), file)
    orient = _array(data, "global_orient", (t, 3), file) if "global_orient" in data else None
    if orient is None and pose.shape[1] != 48:
        raise ValueError(f"{file}: needs 'global_orient' [T, 3] (or a 48-wide 'hand_pose')")
    transl = _array(data, "transl", (t, 3), file) if "transl" in data else None
    betas = None
    if "betas" in data:
        betas = np.asarray(data["betas"], dtype=np.float64)
        if betas.ndim not in (1, 2) or (betas.ndim == 2 and betas.shape[0] != t):
            raise ValueError(f"{file}: 'betas' has shape {list(betas.shape)}, expected [10] or [T, 10]")
    flat = bool(_scalar(data, "flat_hand_mean", file, 0.0))
    side = _text(data, "hand_side", file, "right")
    if side not in HAND_SIDES:
        raise ValueError(f"{file}: 'hand_side' must be one of {list(HAND_SIDES)}, got {side!r}")
    model = mano if isinstance(mano, MANOModel) else MANOModel(mano, side=side)
    if model.side != side:
        raise ValueError(f"{file}: a {side} hand, but the MANO model given is the {model.side} one")
    try:
        joints = model(pose, global_orient=orient, transl=transl, betas=betas, flat_hand_mean=flat).joints
    except ValueError as exc:
        raise ValueError(f"{file}: {exc}") from None
    hand = joints.detach().cpu().numpy().astype(np.float32)

    position = _array(data, "object_position", (t, 3), file)
    rotation = _object_rotations(data, t, file)
    local, name = _object_points(data, file, object_points_for)
    points = np.einsum("tij,kj->tki", rotation, local) + position[:, None, :]
    poses = np.tile(np.eye(4), (t, 1, 1))
    poses[:, :3, :3] = rotation
    poses[:, :3, 3] = position
    art = Articulation(name, ("body",), (), np.zeros((t, 0)), poses[:, None],
                       np.zeros(local.shape[0], dtype=np.int16))
    centre = np.concatenate([hand.reshape(-1, 3), points.reshape(-1, 3)]).mean(axis=0)
    return HOISequence(
        hand_joints=hand, object_points=points.astype(np.float32), camera=_camera(data, file, centre),
        fps=_scalar(data, "fps", file, DEFAULT_FPS), prompt=_text(data, "prompt", file, ""),
        hand_sides=(side,), object_names=(name,), articulations=(art,),
        metadata={"source": "graspxl", "file": file.name, "flat_hand_mean": flat},
    )


def load_pose_file(path: str | os.PathLike, mano_model_path: str | os.PathLike | None = None,
                   object_points_for: ObjectPoints | None = None, load_video: bool = False) -> HOISequence:
    """A pose file as an :class:`HOISequence`, whichever of the two kinds it is.

    An ``HOISequence`` ``.npz`` (it has a ``header``) loads with :meth:`HOISequence.load`; a
    GraspXL-style ``.npz`` (it has ``hand_pose``) goes through MANO with the model at
    ``mano_model_path`` (:func:`read_graspxl`). Raises ``ValueError`` for anything else, and for a
    GraspXL file when no ``mano_model_path`` is configured.
    """
    file = Path(path).expanduser()
    if file.suffix.lower() != ".npz" or not file.is_file():
        raise ValueError(f"{file}: not a .npz pose file")
    with np.load(file, allow_pickle=False) as npz:
        keys = set(npz.files)
    if "header" in keys:
        return HOISequence.load(file, load_video=load_video)
    if "hand_pose" in keys:
        if mano_model_path is None:
            raise ValueError(f"{file}: a GraspXL-style trajectory needs a MANO model; set mano_model_path to the "
                             "user's MANO .npz (convert MANO_RIGHT.pkl with `python -m hoi_ros.bodies.convert`)")
        return read_graspxl(file, mano_model_path, object_points_for)
    raise ValueError(f"{file}: neither an HOISequence ('header') nor a GraspXL-style trajectory ('hand_pose'); "
                     f"keys {sorted(keys)}")


# --------------------------------------------------------------------------- GraspXL's recordings
def read_obj_vertices(path: str | os.PathLike) -> np.ndarray:
    """The ``v x y z`` vertices ``[N, 3]`` of a Wavefront ``.obj`` file."""
    rows = []
    with open(Path(path).expanduser(), encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("v "):
                rows.append([float(v) for v in line.split()[1:4]])
    if not rows:
        raise ValueError(f"{path}: no vertices")
    return np.asarray(rows, dtype=np.float64)


def graspxl_recording_arrays(recording: Mapping[str, Any], object_key: str | None = None,
                             object_points: np.ndarray | None = None, object_name: str | None = None,
                             fps: float | None = None) -> dict[str, np.ndarray]:
    """The layout above from one of GraspXL's recorded dicts.

    A recording holds ``right_hand`` (``rot [T, 3]``, ``pose [T, 45]``, ``trans [T, 3]``) and one
    entry per object (``rot [T, 3]`` axis-angle, ``trans [T, 3]``); ``object_key`` picks the
    object (default: the only one). Its poses are relative to MANO's mean hand.
    """
    if "right_hand" not in recording:
        raise ValueError(f"a GraspXL recording has 'right_hand'; got keys {sorted(recording)}")
    objects = [k for k in recording if k != "right_hand"]
    if object_key is None:
        if len(objects) != 1:
            raise ValueError(f"object_key: the recording has objects {objects}; name one")
        object_key = objects[0]
    if object_key not in objects:
        raise ValueError(f"object_key: {object_key!r} is not one of {objects}")
    hand, obj = recording["right_hand"], recording[object_key]
    out = {
        "hand_pose": np.asarray(hand["pose"], dtype=np.float64).reshape(-1, 45),
        "global_orient": np.asarray(hand["rot"], dtype=np.float64).reshape(-1, 3),
        "transl": np.asarray(hand["trans"], dtype=np.float64).reshape(-1, 3),
        "flat_hand_mean": np.asarray(False),
        "object_position": np.asarray(obj["trans"], dtype=np.float64).reshape(-1, 3),
        "object_rotvec": np.asarray(obj["rot"], dtype=np.float64).reshape(-1, 3),
    }
    if object_points is not None:
        out["object_points"] = np.asarray(object_points, dtype=np.float64)
    if object_name is not None:
        out["object_name"] = np.asarray(object_name)
    if fps is not None:
        out["fps"] = np.asarray(float(fps))
    return out


__all__ = ["DEFAULT_FPS", "default_camera", "graspxl_recording_arrays", "is_graspxl_file", "load_pose_file",
           "read_graspxl", "read_obj_vertices"]
