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

import numpy as np

from hoi_ros.retarget.description import HandDescription, rpy_to_matrix


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
        self._steps = []
        seen = {desc.root}
        for j in desc.joints:
            if j.parent not in seen:
                raise ValueError(f"{desc.name}: joint {j.name} comes before its parent link {j.parent}")
            seen.add(j.child)
            ro = rpy_to_matrix(j.rpy)
            if j.type == "revolute":
                axis = np.asarray(j.axis, float) / np.linalg.norm(j.axis)
                k = _skew(axis)
                self._steps.append((self.link_index[j.parent], self.link_index[j.child], np.asarray(j.xyz, float),
                                    ro, ro @ k, ro @ k @ k, ro @ axis, rev_index[j.name]))
            else:
                self._steps.append((self.link_index[j.parent], self.link_index[j.child], np.asarray(j.xyz, float),
                                    ro, None, None, None, -1))
        # ancestors[L, r]: revolute joint r moves link L.
        self.ancestors = np.zeros((len(self.link_names), len(rev)), dtype=bool)
        for parent, child, *_rest, r in self._steps:
            self.ancestors[child] = self.ancestors[parent]
            if r >= 0:
                self.ancestors[child, r] = True
        self._anc_act = self.ancestors.astype(np.float64)
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
        for parent, child, xyz, ro, rok, rok2, ro_axis, r in self._steps:
            rp = rot[:, parent]
            pos[:, child] = pos[:, parent] + rp @ xyz
            if r < 0:
                rot[:, child] = rp @ ro
                continue
            s, c = np.sin(qf[:, r]), np.cos(qf[:, r])
            local = ro + s[:, None, None] * rok + (1.0 - c)[:, None, None] * rok2
            rot[:, child] = rp @ local
            axes[:, r] = rp @ ro_axis
            origins[:, r] = pos[:, child]
        return FKResult(rot, pos, axes, origins)

    def link_positions(self, q: np.ndarray, links: list[str]) -> np.ndarray:
        """World positions ``[T, len(links), 3]`` of the named links."""
        fk = self.forward(q)
        return fk.pos[:, [self.link_index[n] for n in links]]

    def point_jacobian(self, fk: FKResult, link_ids: np.ndarray, points: np.ndarray,
                       frames: np.ndarray | None = None) -> np.ndarray:
        """``d points / d q`` ``[T, M, 3, n]`` for points ``[T, M, 3]`` rigidly attached to ``link_ids [M]``.

        With ``frames [M]`` the points are single ones (point ``m`` in frame ``frames[m]``, ``points
        [M, 3]``) and the result is ``[M, 3, n]``.
        """
        if frames is None:
            axes, origins, lever_pts = fk.axes[:, None], fk.origins[:, None], points[:, :, None, :]
        else:
            axes, origins, lever_pts = fk.axes[frames], fk.origins[frames], points[:, None, :]
        lever = lever_pts - origins  # [..., R, 3]
        ax = np.broadcast_to(axes, lever.shape)
        cols = np.empty(lever.shape[:-1] + (3,))
        cols[..., 0] = ax[..., 1] * lever[..., 2] - ax[..., 2] * lever[..., 1]
        cols[..., 1] = ax[..., 2] * lever[..., 0] - ax[..., 0] * lever[..., 2]
        cols[..., 2] = ax[..., 0] * lever[..., 1] - ax[..., 1] * lever[..., 0]
        cols *= self._anc_act[link_ids][..., None]
        cols = np.swapaxes(cols, -1, -2)  # [..., 3, R]
        if self._identity_coupling:
            return np.ascontiguousarray(cols)
        return cols @ self.coupling
