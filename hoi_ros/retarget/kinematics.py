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

from hoi_ros.retarget.description import HandDescription, rpy_to_matrix


def _skew(a: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])


@dataclass
class _Step:
    """One joint of the chain, as :meth:`Kinematics.forward` applies it."""

    parent: int
    child: int
    offset: list[tuple[int, float]]  # non-zero components of the joint origin (parent frame)
    ro: np.ndarray | None  # origin rotation, None for the identity
    rev: int = -1  # revolute index, -1 for fixed joints
    coord: int = -1  # 0/1/2 when the axis is +-x/y/z
    sign: float = 1.0
    general: tuple[np.ndarray, ...] | None = None  # Rodrigues terms for any other axis


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
        self._steps = []
        seen = {desc.root}
        for j in desc.joints:
            if j.parent not in seen:
                raise ValueError(f"{desc.name}: joint {j.name} comes before its parent link {j.parent}")
            seen.add(j.child)
            ro = rpy_to_matrix(j.rpy)
            xyz = np.asarray(j.xyz, float)
            step = _Step(self.link_index[j.parent], self.link_index[j.child],
                         [(k, float(xyz[k])) for k in range(3) if xyz[k] != 0.0],
                         None if np.allclose(ro, np.eye(3), atol=1e-15) else ro)
            if j.type == "revolute":
                axis = np.asarray(j.axis, float) / np.linalg.norm(j.axis)
                step.rev = rev_index[j.name]
                coord = np.flatnonzero(np.abs(axis) > 1e-12)
                if len(coord) == 1:  # a coordinate axis: rotate two columns (the common case)
                    step.coord, step.sign = int(coord[0]), float(np.sign(axis[coord[0]]))
                else:  # Rodrigues: R = ro (I + sin K + (1 - cos) K^2)
                    k = _skew(axis)
                    step.general = (ro, ro @ k, ro @ k @ k, ro @ axis)
            self._steps.append(step)
        # ancestors[L, r]: revolute joint r moves link L.
        self.ancestors = np.zeros((len(self.link_names), len(rev)), dtype=bool)
        for st in self._steps:
            self.ancestors[st.child] = self.ancestors[st.parent]
            if st.rev >= 0:
                self.ancestors[st.child, st.rev] = True
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
        """Poses of all links for ``q [T, n]`` (or ``[n]``, treated as one frame)."""
        q = np.atleast_2d(np.asarray(q, np.float64))
        if q.shape[-1] != self.num_joints:
            raise ValueError(f"q: expected {self.num_joints} joint values, got shape {q.shape}")
        qf = self.full(q)
        t = q.shape[0]
        nl, nr = len(self.link_names), qf.shape[1]
        rot = np.empty((t, nl, 3, 3))
        pos = np.empty((t, nl, 3))
        axes = np.empty((t, nr, 3))
        origins = np.empty((t, nr, 3))
        rot[:, 0] = np.eye(3)
        pos[:, 0] = 0.0
        sin, cos = np.sin(qf), np.cos(qf)
        for st in self._steps:
            rp = rot[:, st.parent]
            p = pos[:, st.parent].copy()
            for k, v in st.offset:
                p += v * rp[:, :, k]
            pos[:, st.child] = p
            out = rot[:, st.child]
            if st.rev < 0:
                out[:] = rp if st.ro is None else rp @ st.ro
                continue
            r = st.rev
            origins[:, r] = p
            if st.general is not None:
                ro, rok, rok2, ro_axis = st.general
                s, c = sin[:, r, None, None], cos[:, r, None, None]
                out[:] = rp @ (ro + s * rok + (1.0 - c) * rok2)
                axes[:, r] = rp @ ro_axis
                continue
            m = rp if st.ro is None else rp @ st.ro
            k = st.coord
            i, j = (k + 1) % 3, (k + 2) % 3
            s, c = st.sign * sin[:, r, None], cos[:, r, None]
            mi, mj = m[:, :, i], m[:, :, j]
            out[:, :, k] = m[:, :, k]
            out[:, :, i] = c * mi + s * mj
            out[:, :, j] = c * mj - s * mi
            axes[:, r] = st.sign * m[:, :, k]
        return FKResult(rot, pos, axes, origins)

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
        m_idx, r_idx = np.nonzero(self.ancestors[link_ids])
        nr = self.ancestors.shape[1]
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
        if self._identity_coupling:
            return out
        return out @ self.coupling
