"""Batched forward kinematics and point Jacobians of a :class:`HandDescription` (numpy, float64).

All frames of a sequence go through at once: ``T`` configurations cost one Python loop over the
joints with ``[T, 3, 3]`` array operations each. Jacobians are the geometric ones of a revolute
chain (column ``j`` of a point ``p`` is ``a_j x (p - o_j)`` when joint ``j`` moves the point),
mapped through the mimic coupling ``q_full = A q + b`` to the actuated joints ``q``.

Written here rather than taken from a library: pinocchio is a benchmark-only dependency, MuJoCo's
``mj_jac`` works one configuration at a time, and the solver needs all frames' Jacobians per
iteration (:mod:`hoi_ros.retarget.solver`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hoi_ros.core.geometry import rpy_to_matrix
from hoi_ros.retarget.description import HandDescription


def _skew(a: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])


@dataclass
class FKResult:
    """World (robot base) poses of every link and the axes/origins of the revolute joints."""

    rot: np.ndarray  # [T, L, 3, 3]
    pos: np.ndarray  # [T, L, 3]
    axes: np.ndarray  # [T, R, 3] revolute joint axes
    origins: np.ndarray  # [T, R, 3] revolute joint origins


class Kinematics:
    """Compiled kinematics of one hand; ``q`` always means the actuated joints in ``joint_names`` order."""

    def __init__(self, desc: HandDescription) -> None:
        self.desc = desc
        self.link_names = desc.links
        self.link_index = {n: i for i, n in enumerate(self.link_names)}
        rev = desc.revolute_joints
        act = desc.actuated_joints
        self.joint_names = [j.name for j in act]
        self.full_joint_names = [j.name for j in rev]
        act_idx = {j.name: i for i, j in enumerate(act)}
        self.coupling = np.zeros((len(rev), len(act)))
        self.coupling_offset = np.zeros(len(rev))
        lower = np.array([j.lower for j in act], dtype=np.float64)
        upper = np.array([j.upper for j in act], dtype=np.float64)
        for r, j in enumerate(rev):
            if j.mimic is None:
                self.coupling[r, act_idx[j.name]] = 1.0
                continue
            src, mul, off = j.mimic
            a = act_idx[src]
            self.coupling[r, a] = mul
            self.coupling_offset[r] = off
            if abs(mul) > 1e-12:  # keep the coupled joint inside its own limits too
                lo, hi = sorted(((j.lower - off) / mul, (j.upper - off) / mul))
                lower[a], upper[a] = max(lower[a], lo), min(upper[a], hi)
        if np.any(lower > upper):
            raise ValueError(f"{desc.name}: mimic joint limits leave no feasible range for an actuated joint")
        self.lower, self.upper = lower, upper
        rev_index = {j.name: r for r, j in enumerate(rev)}
        seen = {desc.root}
        # ancestors[L, r]: revolute joint r moves link L.
        self.ancestors = np.zeros((len(self.link_names), len(rev)), dtype=bool)
        for j in desc.joints:
            if j.parent not in seen:
                raise ValueError(f"{desc.name}: joint {j.name} comes before its parent link {j.parent}")
            seen.add(j.child)
            child = self.link_index[j.child]
            self.ancestors[child] = self.ancestors[self.link_index[j.parent]]
            if j.type == "revolute":
                self.ancestors[child, rev_index[j.name]] = True
        # Batched forward kinematics (see :meth:`forward`): per joint its constant rotation terms and
        # offset, the revolute index its angle comes from (R, a zero, for fixed joints), and the joints
        # grouped by depth below the root.
        nj, nr = len(desc.joints), len(rev)
        self._rot0 = np.zeros((nj, 3, 3))
        self._rot1 = np.zeros((nj, 3, 3))
        self._rot2 = np.zeros((nj, 3, 3))
        self._joint_rev = np.full(nj, nr, dtype=np.int64)
        self._rev_child = np.zeros(nr, dtype=np.int64)
        self._rev_axis = np.zeros((nr, 3))
        depth = {desc.root: 0}
        for i, j in enumerate(desc.joints):
            ro = rpy_to_matrix(j.rpy)
            self._rot0[i] = ro
            depth[j.child] = depth[j.parent] + 1
            if j.type == "revolute":
                axis = np.asarray(j.axis, float) / np.linalg.norm(j.axis)
                k = _skew(axis)
                self._rot1[i], self._rot2[i] = ro @ k, ro @ k @ k
                r = rev_index[j.name]
                self._joint_rev[i], self._rev_child[r], self._rev_axis[r] = r, self.link_index[j.child], axis
        self._root = self.link_index[desc.root]
        self._tf0, self._tf1, self._tf2 = (np.zeros((nj, 4, 4)) for _ in range(3))
        self._tf0[:, :3, :3], self._tf1[:, :3, :3], self._tf2[:, :3, :3] = self._rot0, self._rot1, self._rot2
        self._tf0[:, :3, 3] = np.array([j.xyz for j in desc.joints], dtype=np.float64).reshape(nj, 3)
        self._tf0[:, 3, 3] = 1.0
        varying = (self._tf1 != 0).reshape(nj, 16) | (self._tf2 != 0).reshape(nj, 16)
        self._var_joint, self._var_entry = np.nonzero(varying)
        self._var_flat = 16 * self._var_joint + self._var_entry
        self._var_sin = self._tf1.reshape(nj, 16)[self._var_joint, self._var_entry]
        self._var_cos = self._tf2.reshape(nj, 16)[self._var_joint, self._var_entry]
        self._var_joint = self._joint_rev[self._var_joint]  # the revolute index of each varying entry
        coord = [np.flatnonzero(np.abs(a) > 1e-12) for a in self._rev_axis]
        self._axis_coord = self._axis_sign = None
        if all(len(c) == 1 for c in coord):
            self._axis_coord = np.array([int(c[0]) for c in coord], dtype=np.int64)
            self._axis_sign = self._rev_axis[np.arange(nr), self._axis_coord]
        self._levels = []
        for d in sorted({depth[j.child] for j in desc.joints}):
            idx = [i for i, j in enumerate(desc.joints) if depth[j.child] == d]
            self._levels.append((np.array([self.link_index[desc.joints[i].parent] for i in idx], dtype=np.int64),
                                 np.array([self.link_index[desc.joints[i].child] for i in idx], dtype=np.int64),
                                 np.array(idx, dtype=np.int64), d == 1))
        self._tf0_flat, self._eye4 = self._tf0.reshape(-1).copy(), np.eye(4)
        self._moved_by: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}  # point_jacobian's (point, joint) pairs
        self._identity_coupling = self.coupling.shape[0] == self.coupling.shape[1] and bool(
            np.allclose(self.coupling, np.eye(len(act))) and not self.coupling_offset.any())

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def full(self, q: np.ndarray) -> np.ndarray:
        """Every revolute joint (``full_joint_names``) from the actuated ``q [..., n]``."""
        return np.asarray(q, np.float64) @ self.coupling.T + self.coupling_offset

    def clip(self, q: np.ndarray) -> np.ndarray:
        return np.clip(q, self.lower, self.upper)

    def forward(self, q: np.ndarray) -> FKResult:
        """Poses of all links for ``q [T, n]`` (or ``[n]``, treated as one frame).

        One batched step per tree depth (every joint whose child is ``d`` joints below the root at
        once), not one per joint: each joint's local rotation is ``A0 + sin(q) A1 + (1 - cos(q)) A2``
        (Rodrigues, precomputed; fixed joints have ``A1 = A2 = 0``), so a whole sequence costs a few
        dozen array operations whatever the hand.
        """
        q = np.atleast_2d(np.asarray(q, np.float64))
        if q.shape[-1] != self.num_joints:
            raise ValueError(f"q: expected {self.num_joints} joint values, got shape {q.shape}")
        t = q.shape[0]
        if t == 1:
            return self._forward_one(q[0])
        qf = q if self._identity_coupling else self.full(q)
        # Local transforms [T, J, 4, 4]: rotation A0 + sin A1 + (1 - cos) A2, the joint offset, [0 0 0 1];
        # only the entries that A1 or A2 touch vary.
        local = np.empty((t, 16 * len(self._tf0)))
        local[:] = self._tf0.reshape(-1)
        j = self._var_joint
        local[:, self._var_flat] += np.sin(qf)[:, j] * self._var_sin + (1.0 - np.cos(qf))[:, j] * self._var_cos
        local = local.reshape(t, -1, 4, 4)
        tf = np.empty((t, len(self.link_names), 4, 4))
        tf[:, self._root] = np.eye(4)
        for parents, children, joints, at_root in self._levels:
            # The root's pose is the identity: its children's poses are their local transforms.
            tf[:, children] = local[:, joints] if at_root else tf[:, parents] @ local[:, joints]
        rot, pos = tf[..., :3, :3], tf[..., :3, 3]
        if self._axis_coord is not None:  # coordinate axes: a column of the child's rotation
            axes = np.swapaxes(rot[:, self._rev_child, :, self._axis_coord], 0, 1) * self._axis_sign[:, None]
        else:
            axes = np.einsum("trij,rj->tri", rot[:, self._rev_child], self._rev_axis)
        return FKResult(rot, pos, axes, pos[:, self._rev_child])

    def _forward_one(self, q: np.ndarray) -> FKResult:
        """:meth:`forward` of a single pose (the streaming solver's case): the same products without
        the frame axis, which saves about a third of the array-call overhead."""
        qf = q if self._identity_coupling else self.full(q)
        local = self._tf0_flat.copy()
        j = self._var_joint
        local[self._var_flat] += np.sin(qf)[j] * self._var_sin + (1.0 - np.cos(qf))[j] * self._var_cos
        local = local.reshape(-1, 4, 4)
        tf = np.empty((len(self.link_names), 4, 4))
        tf[self._root] = self._eye4
        for parents, children, joints, at_root in self._levels:
            tf[children] = local[joints] if at_root else tf[parents] @ local[joints]
        tf = tf[None]
        rot, pos = tf[..., :3, :3], tf[..., :3, 3]
        if self._axis_coord is not None:
            axes = (rot[0, self._rev_child, :, self._axis_coord] * self._axis_sign[:, None])[None]
        else:
            axes = np.einsum("trij,rj->tri", rot[:, self._rev_child], self._rev_axis)
        return FKResult(rot, pos, axes, pos[:, self._rev_child])

    def link_positions(self, q: np.ndarray, links: list[str]) -> np.ndarray:
        """World positions ``[T, len(links), 3]`` of the named links."""
        fk = self.forward(q)
        return fk.pos[:, [self.link_index[n] for n in links]]

    def point_jacobian(self, fk: FKResult | Any, link_ids: np.ndarray, points: np.ndarray,
                       frames: np.ndarray | None = None) -> np.ndarray:
        """``d points / d q`` ``[T, M, 3, n]`` for points ``[T, M, 3]`` rigidly attached to ``link_ids [M]``.

        ``fk`` is a :class:`FKResult` or anything with its ``axes`` and ``origins`` arrays.

        With ``frames [M]`` the points are single ones (point ``m`` in frame ``frames[m]``, ``points
        [M, 3]``) and the result is ``[M, 3, n]``. Only the (point, joint) pairs where the joint moves
        the point's link are computed (a finger's points depend on that finger's joints only).
        """
        link_ids = np.asarray(link_ids, dtype=np.int64)
        key = link_ids.tobytes()
        if key not in self._moved_by:
            self._moved_by[key] = np.nonzero(self.ancestors[link_ids])
        m_idx, r_idx = self._moved_by[key]
        nr = self.ancestors.shape[1]
        if frames is None and points.shape[0] == 1:  # one pose (the streaming solver): no frame axis
            frames = np.zeros(len(link_ids), dtype=np.int64)
            points = points[0]
            single = True
        else:
            single = False
        if frames is None:
            t = points.shape[0]
            ax, org, pt = fk.axes[:, r_idx], fk.origins[:, r_idx], points[:, m_idx]  # [T, P, 3]
            out = np.zeros((t, len(link_ids), 3, nr))
        else:
            f = np.asarray(frames, dtype=np.int64)[m_idx]
            ax, org, pt = fk.axes[f, r_idx], fk.origins[f, r_idx], points[m_idx]  # [P, 3]
            out = np.zeros((len(link_ids), 3, nr))
        lever = pt - org
        cols = np.stack([ax[..., 1] * lever[..., 2] - ax[..., 2] * lever[..., 1],
                         ax[..., 2] * lever[..., 0] - ax[..., 0] * lever[..., 2],
                         ax[..., 0] * lever[..., 1] - ax[..., 1] * lever[..., 0]], axis=-1)
        if frames is None:
            out[:, m_idx, :, r_idx] = np.swapaxes(cols, 0, 1)  # advanced indices first: [P, T, 3]
        else:
            out[m_idx, :, r_idx] = cols
        if single:
            out = out[None]
        if self._identity_coupling:
            return out
        return out @ self.coupling
