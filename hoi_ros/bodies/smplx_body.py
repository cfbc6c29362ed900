"""SMPL-X bodies from the user's local model file, and ArtHOI's foot-sliding loss.

The model is ``smplx.SMPLX`` built from the numeric arrays of the user's ``SMPLX_*.npz`` (read with
``allow_pickle=False``; the official files' pickled extras ``joint2num`` / ``part2num`` are never
read). ``smplx.SMPLX`` takes no ``data_struct``, so the checked arrays are written to a private
temporary ``.npz`` (plain arrays only) that it reads and that is deleted right after.

Joints per frame (see :class:`SMPLXBodyOutput`): the 22 body joints (``pelvis`` .. ``right_wrist``,
smplx's ``JOINT_NAMES[:22]``) and both hands' 21 joints in the package's order
(:mod:`hoi_ros.core.hand`: right hand first, then left). A hand's wrist and finger joints are
SMPL-X's regressed joints (``{side}_{finger}{1,2,3}``, the MANO joints) and its fingertips the
vertices smplx selects as ``{side}_{finger}`` joints (``vertex_ids["smplx"]``), reordered thumb,
index, middle, ring, little as in :mod:`hoi_ros.bodies.mano`.

Foot sliding (ArtHOI §3.2, Eq. 12): ``L_fs = Σ_t Σ_{v ∈ V_foot} ‖v(t) − v(t−1)‖²`` over the foot
vertices, weighted in the Stage II objective (Eq. 9) by ``λ_fs = 10`` (Appendix A,
:data:`LAMBDA_FS`). The paper applies it with GVHMR's foot-contact estimate; here a contact
probability per frame and foot point (``contact``) weights each displacement by the contact at both
its ends, so a foot that is lifting off or touching down is not penalised (without ``contact`` the
sum runs over every frame, Eq. 12 as written).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from smplx import SMPLX
from smplx.joint_names import JOINT_NAMES
from smplx.vertex_ids import vertex_ids as SMPLX_VERTEX_IDS

from hoi_ros.bodies.model_files import ModelFileError, check_shapes, load_model_arrays, write_model_npz
from hoi_ros.bodies.params import as_tensor, per_frame
from hoi_ros.core.hand import FINGER_NAMES, HAND_SIDES

LAMBDA_FS = 10.0  # ArtHOI Appendix A, Stage II: λ_fs
NUM_SMPLX_JOINTS = 55
NUM_BODY_JOINTS = 22
SMPLX_ARRAYS: dict[str, tuple[int | str, ...]] = {
    "v_template": ("V", 3),
    "shapedirs": ("V", 3, "S"),
    "posedirs": ("V", 3, 9 * (NUM_SMPLX_JOINTS - 1)),
    "J_regressor": (NUM_SMPLX_JOINTS, "V"),
    "weights": ("V", NUM_SMPLX_JOINTS),
    "kintree_table": (2, NUM_SMPLX_JOINTS),
    "f": ("F", 3),
    "hands_componentsl": (45, 45),
    "hands_componentsr": (45, 45),
    "hands_meanl": (45,),
    "hands_meanr": (45,),
    "lmk_faces_idx": ("L",),
    "lmk_bary_coords": ("L", 3),
}
BODY_JOINT_NAMES: tuple[str, ...] = tuple(JOINT_NAMES[:NUM_BODY_JOINTS])
# Foot keypoint vertices smplx selects (heel, big toe, small toe per foot).
FOOT_KEYPOINT_VERTICES: dict[str, tuple[int, ...]] = {
    side: tuple(SMPLX_VERTEX_IDS["smplx"][f"{s}{name}"] for name in ("Heel", "BigToe", "SmallToe"))
    for side, s in (("left", "L"), ("right", "R"))
}
_FINGER_TO_SMPLX = {"thumb": "thumb", "index": "index", "middle": "middle", "ring": "ring", "little": "pinky"}


def hand_joint_names(side: str) -> tuple[str, ...]:
    """smplx's names of one hand's 21 joints, in the package's order."""
    names = [f"{side}_wrist"]
    for finger in FINGER_NAMES:
        f = _FINGER_TO_SMPLX[finger]
        names += [f"{side}_{f}1", f"{side}_{f}2", f"{side}_{f}3", f"{side}_{f}"]  # the last: tip vertex
    return tuple(names)


# Indices into smplx's SMPL-X joint output (``JOINT_NAMES`` order) of both hands, right then left.
HAND_JOINT_INDICES: tuple[int, ...] = tuple(JOINT_NAMES.index(n) for side in HAND_SIDES for n in hand_joint_names(side))


@dataclass
class SMPLXBodyOutput:
    """A posed SMPL-X body over T frames.

    ``vertices [T, V, 3]``; ``joints [T, J, 3]`` smplx's full output (55 joints, the selected
    vertices, the face landmarks); ``body_joints [T, 22, 3]`` (:data:`BODY_JOINT_NAMES`);
    ``hand_joints [T, 42, 3]`` right then left hand, each in the package's 21-joint order.
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    body_joints: torch.Tensor
    hand_joints: torch.Tensor


class SMPLXModel:
    """SMPL-X from a local ``.npz`` (see the module docstring), axis-angle hands (no PCA).

    ``flat_hand_mean=True`` makes a zero hand pose the flat hand (smplx's default adds the mean
    hand pose). ``num_betas`` / ``num_expression_coeffs`` are capped as smplx caps them (10 each
    for a file with fewer than 400 shape directions).
    """

    def __init__(self, path: str | os.PathLike, flat_hand_mean: bool = True, num_betas: int = 10,
                 num_expression_coeffs: int = 10, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        arrays = load_model_arrays(path, SMPLX_ARRAYS, aliases={"f": "faces"})
        sizes = check_shapes(arrays, SMPLX_ARRAYS, path)
        highest = max(max(SMPLX_VERTEX_IDS["smplx"].values()), int(arrays["f"].max(initial=0)))
        if sizes["V"] <= highest:
            raise ModelFileError(f"{path}: {sizes['V']} vertices, but the selected vertices and faces go up to "
                                 f"{highest} (SMPL-X has 10475)")
        if sizes["S"] < 20:
            raise ModelFileError(f"{path}: shapedirs has {sizes['S']} directions; SMPL-X needs at least 20 "
                                 "(shape and expression)")
        if int(arrays["lmk_faces_idx"].max(initial=0)) >= sizes["F"]:
            raise ModelFileError(f"{path}: lmk_faces_idx indexes past the {sizes['F']} faces")
        self.path = os.fspath(path)
        self.flat_hand_mean = bool(flat_hand_mean)
        self.device = torch.device(device)
        self.dtype = dtype
        with tempfile.TemporaryDirectory(prefix="hoi_ros_smplx_") as tmp:
            plain = write_model_npz(arrays, Path(tmp) / "SMPLX_MODEL.npz")
            with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a note on the shape coefficients
                layer = SMPLX(str(plain), ext="npz", use_pca=False, flat_hand_mean=self.flat_hand_mean,
                              num_betas=num_betas, num_expression_coeffs=num_expression_coeffs, dtype=dtype,
                              create_betas=False, create_global_orient=False, create_body_pose=False,
                              create_left_hand_pose=False, create_right_hand_pose=False, create_transl=False,
                              create_expression=False, create_jaw_pose=False, create_leye_pose=False,
                              create_reye_pose=False)
        self.layer = layer.to(self.device).eval()
        self.num_betas = int(layer.num_betas)
        self.num_expression_coeffs = int(layer.num_expression_coeffs)
        self.num_vertices = int(sizes["V"])
        self._hands = torch.tensor(HAND_JOINT_INDICES, dtype=torch.long, device=self.device)

    @property
    def faces(self) -> np.ndarray:
        """``[F, 3]`` int64 triangle indices."""
        return np.asarray(self.layer.faces, dtype=np.int64)

    def foot_vertex_ids(self, side: str | None = None, threshold: float | None = None) -> np.ndarray:
        """Foot vertex ids (``V_foot`` of ArtHOI's Eq. 12) of one side, or both (left first).

        Without ``threshold``: smplx's foot keypoint vertices (heel, big toe, small toe). With one:
        every vertex whose skinning weight on the side's ankle and foot joints is above it.
        """
        sides = HAND_SIDES[::-1] if side is None else (side,)
        out: list[int] = []
        for s in sides:
            if s not in HAND_SIDES:
                raise ValueError(f"side: expected one of {list(HAND_SIDES)} or None, got {s!r}")
            if threshold is None:
                out += list(FOOT_KEYPOINT_VERTICES[s])
            else:
                cols = [JOINT_NAMES.index(f"{s}_ankle"), JOINT_NAMES.index(f"{s}_foot")]
                weight = self.layer.lbs_weights[:, cols].sum(dim=1)
                out += torch.nonzero(weight > threshold).flatten().tolist()
        return np.asarray(out, dtype=np.int64)

    def __call__(self, betas: Any = None, global_orient: Any = None, body_pose: Any = None,
                 left_hand_pose: Any = None, right_hand_pose: Any = None, transl: Any = None,
                 expression: Any = None, jaw_pose: Any = None, leye_pose: Any = None, reye_pose: Any = None,
                 num_frames: int | None = None) -> SMPLXBodyOutput:
        """Pose the body for T frames (numpy or torch inputs; gradients flow through tensors).

        Axis-angle ``global_orient [T, 3]``, ``body_pose [T, 63]``, ``{left,right}_hand_pose [T, 45]``,
        ``jaw_pose`` / ``leye_pose`` / ``reye_pose [T, 3]``; ``transl [T, 3]``; ``betas`` and
        ``expression`` ``[n]`` or ``[T, n]`` (zero-padded to the model's sizes). Missing ones are
        zeros; T comes from the first one given (or ``num_frames``).
        """
        given = {"global_orient": global_orient, "body_pose": body_pose, "left_hand_pose": left_hand_pose,
                 "right_hand_pose": right_hand_pose, "transl": transl, "jaw_pose": jaw_pose,
                 "leye_pose": leye_pose, "reye_pose": reye_pose}
        t = num_frames
        if t is None:
            shapes = [np.shape(v) for v in given.values() if v is not None]
            t = int(shapes[0][0]) if shapes and len(shapes[0]) == 2 else 1
        widths = {"global_orient": 3, "body_pose": 3 * (NUM_BODY_JOINTS - 1), "left_hand_pose": 45,
                  "right_hand_pose": 45, "transl": 3, "jaw_pose": 3, "leye_pose": 3, "reye_pose": 3}
        args = {k: per_frame(v, k, t, widths[k], self.dtype, self.device) for k, v in given.items()}
        for name, value, size in (("betas", betas, self.num_betas),
                                  ("expression", expression, self.num_expression_coeffs)):
            if value is not None:
                v = as_tensor(value, name, self.dtype, self.device)
                if v.shape[-1] > size:
                    raise ValueError(f"{name}: at most {size} values, got {v.shape[-1]}")
                value = torch.nn.functional.pad(v, (0, size - v.shape[-1]))
            args[name] = per_frame(value, name, t, size, self.dtype, self.device)
        out = self.layer(**args, return_verts=True)
        joints = out.joints
        return SMPLXBodyOutput(vertices=out.vertices, joints=joints, body_joints=joints[:, :NUM_BODY_JOINTS],
                               hand_joints=joints.index_select(1, self._hands))


def foot_sliding_loss(foot_points: torch.Tensor, contact: torch.Tensor | None = None) -> torch.Tensor:
    """ArtHOI's foot-sliding loss ``L_fs`` (§3.2, Eq. 12), unweighted (multiply by :data:`LAMBDA_FS`).

    ``foot_points [..., T, F, 3]``: the foot vertices over T frames (e.g.
    ``output.vertices[:, model.foot_vertex_ids()]``). ``contact [..., T, F]`` (optional, in [0, 1]):
    the foot-contact probability of each point per frame; the displacement from ``t - 1`` to ``t``
    counts with weight ``contact[t - 1] * contact[t]``. Returns the sum over frames, points (and
    leading dimensions) of the squared displacements, a scalar tensor that gradients flow through.
    """
    if foot_points.ndim < 3 or foot_points.shape[-1] != 3:
        raise ValueError(f"foot_points: expected shape [..., T, F, 3], got {list(foot_points.shape)}")
    step = foot_points[..., 1:, :, :] - foot_points[..., :-1, :, :]
    squared = step.square().sum(dim=-1)
    if contact is not None:
        contact = contact.to(squared)
        if contact.shape != foot_points.shape[:-1]:
            raise ValueError(f"contact: expected shape {list(foot_points.shape[:-1])}, got {list(contact.shape)}")
        squared = squared * (contact[..., 1:, :] * contact[..., :-1, :])
    return squared.sum()

