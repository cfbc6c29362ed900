"""MANO hands from the user's local model file, with joints in the package's 21-joint order.

The model is ``smplx.MANO`` built from the arrays of a plain ``.npz`` (``data_struct=``; see
:mod:`hoi_ros.bodies.model_files` for the one-time conversion of the official ``MANO_RIGHT.pkl``),
in axis-angle (no PCA): ``hand_pose [T, 45]`` are the 15 finger joints' rotations, relative to
MANO's mean hand unless ``flat_hand_mean=True`` (smplx's convention; GraspXL's viewer uses the
mean).

Joint order. MANO regresses 16 joints (``J_regressor`` rows), in the order smplx names them for the
hands of SMPL-X (whose hand joints are MANO's, ``smplx.joint_names.JOINT_NAMES``): wrist, then
``index1-3, middle1-3, pinky1-3, ring1-3, thumb1-3`` (1 = the joint nearest the palm). The five
fingertips are not regressed: they are mesh vertices, smplx's ``vertex_ids["mano"]`` (thumb 744,
index 320, middle 443, ring 554, pinky 671: the ids smplx's ``MANO`` puts in its
``vertex_joint_selector``; its 0.1.28 ``forward`` leaves them out, so they are appended here, in
that order, as joints 16-20). The package's order
(:mod:`hoi_ros.core.hand`, MANO/OpenPose) runs finger by finger from the thumb, palm outwards, tip
last: ``wrist, thumb cmc/mcp/ip/tip, index mcp/pip/dip/tip, middle ..., ring ..., little ...``. So
:data:`MANO_TO_PACKAGE` is derived from those names, giving
``(0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)``; a model file whose
kinematic tree is not MANO's (:data:`MANO_PARENTS`) is refused, since the names would not hold.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from smplx import MANO
from smplx.joint_names import JOINT_NAMES
from smplx.utils import Struct
from smplx.vertex_ids import vertex_ids as SMPLX_VERTEX_IDS

from hoi_ros.bodies.model_files import ModelFileError, check_shapes, load_model_arrays
from hoi_ros.bodies.params import as_tensor, per_frame
from hoi_ros.core.hand import FINGER_NAMES, HAND_JOINT_NAMES, HAND_SIDES

NUM_MANO_JOINTS = 16
NUM_HAND_POSE = 45  # 15 finger joints x axis-angle
MANO_ARRAYS: dict[str, tuple[int | str, ...]] = {
    "v_template": ("V", 3),
    "shapedirs": ("V", 3, "S"),
    "posedirs": ("V", 3, 9 * (NUM_MANO_JOINTS - 1)),
    "J_regressor": (NUM_MANO_JOINTS, "V"),
    "weights": ("V", NUM_MANO_JOINTS),
    "kintree_table": (2, NUM_MANO_JOINTS),
    "f": ("F", 3),
    "hands_components": (NUM_HAND_POSE, NUM_HAND_POSE),
    "hands_mean": (NUM_HAND_POSE,),
}
# Parent of each of MANO's 16 joints (-1: the wrist is the root): three joints per finger chain.
MANO_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
# smplx's fingertip vertices, in its order (thumb, index, middle, ring, pinky).
FINGERTIP_VERTICES: dict[str, int] = dict(SMPLX_VERTEX_IDS["mano"])

_FINGER_TO_SMPLX = {"thumb": "thumb", "index": "index", "middle": "middle", "ring": "ring", "little": "pinky"}


def _mano_joint_names() -> tuple[str, ...]:
    """MANO's 16 regressed joints (smplx's SMPL-X hand names, side removed) + the 5 tips."""
    first, last = JOINT_NAMES.index("right_index1"), JOINT_NAMES.index("right_thumb3")
    fingers = [name.removeprefix("right_") for name in JOINT_NAMES[first:last + 1]]
    return ("wrist", *fingers, *(f"{tip}_tip" for tip in FINGERTIP_VERTICES))


MANO_JOINT_NAMES: tuple[str, ...] = _mano_joint_names()


def _package_to_mano_name(name: str) -> str:
    if name == "wrist":
        return "wrist"
    finger, _ = name.split("_", 1)
    k = HAND_JOINT_NAMES.index(name) - 1 - 4 * FINGER_NAMES.index(finger)  # 0..3, palm outwards
    return f"{_FINGER_TO_SMPLX[finger]}_tip" if k == 3 else f"{_FINGER_TO_SMPLX[finger]}{k + 1}"


# MANO_TO_PACKAGE[i]: index among MANO's 21 joints (16 regressed + 5 tips) of the package's joint i.
MANO_TO_PACKAGE: tuple[int, ...] = tuple(MANO_JOINT_NAMES.index(_package_to_mano_name(n)) for n in HAND_JOINT_NAMES)


@dataclass
class MANOOutput:
    """A posed MANO hand: ``vertices [T, V, 3]`` and ``joints [T, 21, 3]`` in the package's order."""

    vertices: torch.Tensor
    joints: torch.Tensor


class MANOModel:
    """One MANO hand (``side`` right or left) from a local ``.npz`` (see the module docstring).

    ``flat_hand_mean`` is the default of :meth:`__call__`'s: False (smplx's default) takes hand
    poses relative to MANO's mean hand (``hands_mean``), True relative to the flat hand.

    ``path`` is the user's converted ``MANO_RIGHT.npz`` / ``MANO_LEFT.npz``; ``faces`` is accepted
    for the ``f`` array. Joints come out in the package's order (:data:`MANO_TO_PACKAGE`).
    """

    def __init__(self, path: str | os.PathLike, side: str = "right", flat_hand_mean: bool = False,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> None:
        if side not in HAND_SIDES:
            raise ValueError(f"side: expected one of {list(HAND_SIDES)}, got {side!r}")
        arrays = load_model_arrays(path, MANO_ARRAYS, aliases={"f": "faces"})
        sizes = check_shapes(arrays, MANO_ARRAYS, path)
        parents = np.asarray(arrays["kintree_table"][0], dtype=np.int64)
        if tuple(int(p) for p in parents[1:]) != MANO_PARENTS[1:]:
            raise ModelFileError(f"{path}: kintree_table's parents {parents.tolist()} are not MANO's "
                                 f"{list(MANO_PARENTS)}; the joint order would not hold")
        if sizes["V"] <= max(FINGERTIP_VERTICES.values()):
            raise ModelFileError(f"{path}: {sizes['V']} vertices, but the fingertip vertices go up to "
                                 f"{max(FINGERTIP_VERTICES.values())} (MANO has 778)")
        self.path = os.fspath(path)
        self.side = side
        self.flat_hand_mean = bool(flat_hand_mean)
        self.device = torch.device(device)
        self.dtype = dtype
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a note on the 10 shape coefficients
            # Built flat: the mean hand is added per call (see __call__), so one model serves both.
            layer = MANO(self.path, is_rhand=side == "right", data_struct=Struct(**arrays), use_pca=False,
                         num_pca_comps=NUM_HAND_POSE, flat_hand_mean=True, dtype=dtype,
                         create_betas=False, create_global_orient=False, create_hand_pose=False,
                         create_transl=False)
        self.layer = layer.to(self.device).eval()
        self.num_betas = int(layer.num_betas)
        self.num_vertices = int(sizes["V"])
        self.hands_mean = torch.as_tensor(np.asarray(arrays["hands_mean"], dtype=np.float64)).to(self.device, dtype)
        self._tips = torch.tensor(list(FINGERTIP_VERTICES.values()), dtype=torch.long, device=self.device)
        self._order = torch.tensor(MANO_TO_PACKAGE, dtype=torch.long, device=self.device)

    @property
    def faces(self) -> np.ndarray:
        """``[F, 3]`` int64 triangle indices."""
        return np.asarray(self.layer.faces, dtype=np.int64)

    def __call__(self, hand_pose: Any, global_orient: Any = None, transl: Any = None,
                 betas: Any = None, flat_hand_mean: bool | None = None) -> MANOOutput:
        """Pose the hand for T frames (numpy or torch inputs; gradients flow through tensors).

        ``hand_pose [T, 45]``, or ``[T, 48]`` with the global orientation first (then
        ``global_orient`` must be None); ``global_orient [T, 3]`` axis-angle about the wrist joint;
        ``transl [T, 3]`` added to every vertex and joint; ``betas [num_betas]`` or ``[T, num_betas]``
        (shorter vectors are zero-padded). Missing ones are zeros. ``flat_hand_mean`` (default: the
        model's) says whether ``hand_pose`` is relative to the flat hand (True) or MANO's mean hand.
        """
        pose = as_tensor(hand_pose, "hand_pose", self.dtype, self.device)
        if pose.ndim != 2 or pose.shape[1] not in (NUM_HAND_POSE, NUM_HAND_POSE + 3):
            raise ValueError(f"hand_pose: expected shape [T, 45] or [T, 48], got {list(pose.shape)}")
        t = pose.shape[0]
        if pose.shape[1] == NUM_HAND_POSE + 3:
            if global_orient is not None:
                raise ValueError("global_orient: given twice (hand_pose has 48 values per frame, the first 3 are it)")
            global_orient, pose = pose[:, :3], pose[:, 3:]
        flat = self.flat_hand_mean if flat_hand_mean is None else bool(flat_hand_mean)
        if not flat:
            pose = pose + self.hands_mean
        orient = per_frame(global_orient, "global_orient", t, 3, self.dtype, self.device)
        shift = per_frame(transl, "transl", t, 3, self.dtype, self.device)
        if betas is not None:
            b = as_tensor(betas, "betas", self.dtype, self.device)
            if b.shape[-1] > self.num_betas:
                raise ValueError(f"betas: at most {self.num_betas} values, got {b.shape[-1]}")
            betas = torch.nn.functional.pad(b, (0, self.num_betas - b.shape[-1]))
        shape = per_frame(betas, "betas", t, self.num_betas, self.dtype, self.device)
        out = self.layer(betas=shape, global_orient=orient, hand_pose=pose, transl=shift)
        vertices = out.vertices
        joints = torch.cat([out.joints, vertices.index_select(1, self._tips)], dim=1)
        return MANOOutput(vertices=vertices, joints=joints.index_select(1, self._order))


def mano_joints(model: MANOModel | str | os.PathLike, pose: Any, global_orient: Any = None, trans: Any = None,
                betas: Any = None) -> Any:
    """Hand joints ``[T, 21, 3]`` in the package's order (see :meth:`MANOModel.__call__` for the inputs).

    ``model`` is a :class:`MANOModel` or the path of a MANO ``.npz``. A torch ``pose`` gives a
    tensor (gradients flow); anything else gives a float32 numpy array.
    """
    mano = model if isinstance(model, MANOModel) else MANOModel(model)
    joints = mano(pose, global_orient=global_orient, transl=trans, betas=betas).joints
    if isinstance(pose, torch.Tensor):
        return joints
    return joints.detach().cpu().numpy().astype(np.float32)

