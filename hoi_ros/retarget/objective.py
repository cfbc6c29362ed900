"""The retargeting objective: per-frame residuals, their Jacobians, and the temporal smoothness.

Over the actuated joints ``Q [T, n]`` (robot base = palm frame, see :mod:`.human`) the cost is
``sum_t 0.5 |r_t(q_t)|^2 + 0.5 Q' S Q + 0.5 w_rest |Q - q_rest|^2`` with per-frame residuals

- keypoint positions: each mapped robot link against the human keypoint times ``scale``, weight
  ``tip_weight`` for fingertips and ``keypoint_weight`` for the others, Huber-robust (errors above
  ``huber_delta`` count linearly, as dex-retargeting's loss does, so a target the robot cannot
  reach does not dominate the others);
- bone vectors: each robot "bone" (consecutive mapped keypoints of a finger) pointing along the
  human bone, at the robot's own bone length (weight ``vector_weight``): scale-free, they fix the
  finger's posture where the fingertip alone leaves it open (three flexion joints, a 2-D target),
  the vector terms of dex-retargeting's ``vector`` optimizer applied to every phalanx;
- DexPilot-style pinch vectors (Handa et al., *DexPilot*, ICRA 2020, Eq. 1-2): for thumb-finger
  tip pairs whose human distance is below ``pinch_far`` the robot's thumb-to-finger vector is
  pulled to the human direction at length ``pinch_gap``, its weight ramping from 0 at
  ``pinch_far`` to ``pinch_weight`` at ``pinch_near``;
- self-collision between fingers: ``sqrt(w) * s * softplus((margin - d) / s)`` per capsule pair
  (distance ``d``, softness ``s``), a smooth one-sided penalty; the hinge ``max(0, margin - d)``
  it approximates switches on abruptly, which made Gauss-Newton reject many steps;

and ``S = w_acc D2'D2 + w_vel D1'D1`` (finite differences over frames), a banded matrix.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from hoi_ros.core.hand import FINGERTIPS
from hoi_ros.retarget.collision import CapsulePairs
from hoi_ros.retarget.config import RetargetConfig
from hoi_ros.retarget.kinematics import Kinematics

_SOFT_RANGE = 6.0  # collision pairs farther than margin + 6 softness widths get no Jacobian (slope e^-6)


@dataclass
class Problem:
    """The data of one solve: keypoint targets, pinch weights/vectors, smoothness diagonals."""

    targets: np.ndarray  # [T, K', 3] robot-sized targets of the keypoints with a position term
    pinch_sw: np.ndarray  # [T, P] square-root weights
    lin_target: np.ndarray  # [T, M, 3] what :attr:`Objective.lin_w` times the keypoints should give
    smooth: np.ndarray  # [3, T] diagonals of S

    def rows(self, idx: np.ndarray) -> Problem:
        """The frames ``idx`` (for residuals and Jacobians; ``smooth`` stays whole)."""
        return Problem(self.targets[idx], self.pinch_sw[idx], self.lin_target[idx], self.smooth)


@dataclass
class State:
    """What :meth:`Objective.jacobian` needs from :meth:`Objective.residuals` (arrays, frame first)."""

    pos: np.ndarray  # [T, K, 3] keypoint link positions
    axes: np.ndarray  # [T, R, 3] revolute joint axes (world)
    origins: np.ndarray  # [T, R, 3] revolute joint origins
    err: np.ndarray  # [T, K', 3] errors of the keypoints with a position term
    scale: np.ndarray  # [T, K'] Huber residual scale s(d)
    dscale: np.ndarray  # [T, K'] s'(d) / d
    coll_x: np.ndarray | None = None  # [T, C] (margin - distance) / softness of every pair
    coll_a: np.ndarray | None = None  # [T, C, 3] closest points on the capsule axes
    coll_b: np.ndarray | None = None

    _FIELDS = ("pos", "axes", "origins", "err", "scale", "dscale", "coll_x", "coll_a", "coll_b")

    def rows(self, idx: np.ndarray) -> State:
        """The frames ``idx`` (a copy)."""
        return State(*(None if getattr(self, k) is None else getattr(self, k)[idx] for k in self._FIELDS))

    def put(self, idx: np.ndarray, sub: State) -> None:
        """Overwrite the frames ``idx`` with ``sub`` (in place)."""
        for k in self._FIELDS:
            if getattr(self, k) is not None:
                getattr(self, k)[idx] = getattr(sub, k)


class Objective:
    """Residuals and Jacobians of one robot hand under one :class:`RetargetConfig`."""

    def __init__(self, kin: Kinematics, config: RetargetConfig) -> None:
        self.kin, self.config = kin, config
        desc = kin.desc
        # Keypoints moved by some joint (a keypoint on the palm itself carries no information).
        kp = [(link, idx) for link, idx in desc.keypoints.items() if kin.ancestors[kin.link_index[link]].any()]
        self.kp_links = np.array([kin.link_index[link] for link, _ in kp], dtype=np.int64)
        self.kp_human = np.array([idx for _, idx in kp], dtype=np.int64)
        weight = np.array([config.tip_weight if idx in FINGERTIPS else config.keypoint_weight for _, idx in kp])
        # Keypoints with a position term (weight > 0); all keypoints still serve the bone vectors.
        self.pos_kp = np.flatnonzero(weight > 0)
        self.kp_sw = np.sqrt(weight[self.pos_kp])[None, :, None]
        self.tip_links = desc.fingertips
        self.tip_ids = np.array([kin.link_index[t] for t in self.tip_links], dtype=np.int64)
        self.tip_human = np.array([desc.keypoints[t] for t in self.tip_links], dtype=np.int64)
        self.tip_in_kp = np.array([list(self.kp_links).index(i) for i in self.tip_ids], dtype=np.int64)
        # Bones for the vector terms: consecutive mapped keypoints along each finger (human order).
        pos_in_kp = {int(h): i for i, h in enumerate(self.kp_human)}
        bones = []
        for finger in range(5):
            chain = [pos_in_kp[h] for h in range(1 + 4 * finger, 5 + 4 * finger) if h in pos_in_kp]
            bones += list(itertools.pairwise(chain))
        self.bone_a = np.array([a for a, _ in bones], dtype=np.int64)
        self.bone_b = np.array([b for _, b in bones], dtype=np.int64)
        rest_pos = kin.forward(kin.clip(np.zeros(kin.num_joints))).pos[0, self.kp_links]
        self.bone_len = np.linalg.norm(rest_pos[self.bone_b] - rest_pos[self.bone_a], axis=-1)  # robot, fixed
        self.bone_sw = float(np.sqrt(config.vector_weight)) if len(bones) and config.vector_weight > 0 else 0.0
        thumb = [i for i, h in enumerate(self.tip_human) if h == FINGERTIPS[0]]
        pinch = [(thumb[0], i) for i in range(len(self.tip_human)) if thumb and i != thumb[0]]
        self.pinch_a = np.array([p[0] for p in pinch], dtype=np.int64)
        self.pinch_b = np.array([p[1] for p in pinch], dtype=np.int64)
        self.use_pinch = len(pinch) > 0 and config.pinch_weight > 0  # rows of weight 0 are left out
        # Pairs that can come within reach of the penalty (parallel fingers that never meet are left out).
        self.pairs = CapsulePairs.of(kin, reach=config.collision_margin + _SOFT_RANGE * config.collision_softness)
        self.all_pairs = CapsulePairs.of(kin)  # for reports
        self.use_collision = len(self.pairs) > 0 and config.collision_weight > 0
        self.coll_sw = float(np.sqrt(config.collision_weight))
        # Revolute joints moving each pair's two capsules ([C, R] 0/1), for the collision rows.
        self.pair_moves_a = kin.ancestors[self.pairs.link_a].astype(np.float64)
        self.pair_moves_b = kin.ancestors[self.pairs.link_b].astype(np.float64)
        # The keypoint, bone and pinch residuals are linear in the keypoint positions: rows of
        # ``lin_w [M, K]`` times the positions ``[K, 3]`` (each row a 3-vector), minus a target.
        npos, nbone = len(self.pos_kp), (len(self.bone_a) if self.bone_sw else 0)
        npinch = len(self.pinch_a) if self.use_pinch else 0
        w = np.zeros((npos + nbone + npinch, len(self.kp_links)))
        w[np.arange(npos), self.pos_kp] = self.kp_sw[0, :, 0]
        w[npos + np.arange(nbone), self.bone_b[:nbone]] = self.bone_sw
        w[npos + np.arange(nbone), self.bone_a[:nbone]] = -self.bone_sw
        w[npos + nbone + np.arange(npinch), self.tip_in_kp[self.pinch_a[:npinch]]] = 1.0
        w[npos + nbone + np.arange(npinch), self.tip_in_kp[self.pinch_b[:npinch]]] = -1.0
        self.lin_w, self.n_pos, self.n_bone, self.n_pinch = w, npos, nbone, npinch
        self.n_lin = 3 * len(w)  # residual rows before the collision rows
        self._groups_and_row_counts()

    def _groups_and_row_counts(self) -> None:
        """Joint groups (``groups``: lists of actuated joints, ``group_of [n]``) and, per residual row,
        the number of groups its Jacobian touches (``row_groups [m]``).

        Two actuated joints are in one group when some link moves with both (a finger's joints; a
        joint moving several fingers joins them). Keypoint and bone rows stay inside a group; pinch and
        collision rows touch two fingers. The solver's Gauss-Newton matrix keeps only the blocks
        within groups, with each row counted ``row_groups`` times (a majorant of ``J'J``, see
        :meth:`hoi_ros.retarget.solver.SequenceRetargeter._solve`).
        """
        kin = self.kin
        n = kin.num_joints
        moves = (kin.ancestors.astype(np.float64) @ (np.abs(kin.coupling) > 0)) > 0  # [L, n] joint a moves link L
        parent = list(range(n))

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for row in moves:
            joints = np.flatnonzero(row)
            for a in joints[1:]:
                parent[find(int(a))] = find(int(joints[0]))
        roots = sorted({find(a) for a in range(n)})
        self.group_of = np.array([roots.index(find(a)) for a in range(n)], dtype=np.int64)
        self.groups = [np.flatnonzero(self.group_of == g) for g in range(len(roots))]

        def count(*links: np.ndarray) -> np.ndarray:
            touched = np.zeros((len(links[0]), len(roots)), dtype=bool)
            for link in links:
                for i, lk in enumerate(link):
                    touched[i, self.group_of[moves[lk]]] = True
            return np.maximum(touched.sum(axis=1), 1)

        kp = self.kp_links
        parts = [np.repeat(count(kp[self.pos_kp]), 3)]
        if self.bone_sw:
            parts.append(np.repeat(count(kp[self.bone_a], kp[self.bone_b]), 3))
        if self.use_pinch:
            tips = kp[self.tip_in_kp]
            parts.append(np.repeat(count(tips[self.pinch_a], tips[self.pinch_b]), 3))
        if self.use_collision:
            parts.append(count(self.pairs.link_a, self.pairs.link_b))
        self.row_groups = np.concatenate(parts).astype(np.float64)

    # ------------------------------------------------------------------ data
    def problem(self, local: np.ndarray, scale: float, time_step: float = 1.0, smooth: bool = True) -> Problem:
        """Targets of palm-frame human keypoints ``local [T, 21, 3]``; ``time_step`` frames per sample;
        ``smooth=False`` leaves the smoothness diagonals zero (a single streamed frame)."""
        cfg = self.config
        t = local.shape[0]
        targets = local[:, self.kp_human[self.pos_kp]] * scale
        parts = [targets * self.kp_sw]
        if self.n_bone:
            hb = local[:, self.kp_human[self.bone_b]] - local[:, self.kp_human[self.bone_a]]
            hn = np.linalg.norm(hb, axis=-1, keepdims=True)
            parts.append(self.bone_sw * np.where(hn > 1e-9, hb / np.maximum(hn, 1e-9), 0.0) * self.bone_len[:, None])
        pinch_sw = np.zeros((t, self.n_pinch))
        if self.n_pinch:
            v = local[:, self.tip_human[self.pinch_a]] - local[:, self.tip_human[self.pinch_b]]
            d = np.linalg.norm(v, axis=-1)
            ramp = np.clip((cfg.pinch_far - d) / (cfg.pinch_far - cfg.pinch_near), 0.0, 1.0)
            pinch_sw = np.sqrt(cfg.pinch_weight * ramp)
            parts.append(v / np.maximum(d, 1e-9)[..., None] * cfg.pinch_gap)
        diags = self.smooth_matrix(t, time_step) if smooth else np.zeros((3, t))
        return Problem(targets, pinch_sw, np.concatenate(parts, axis=1), diags)

    def smooth_matrix(self, t: int, time_step: float = 1.0) -> np.ndarray:
        """Diagonals of ``S = w_acc D2'D2 + w_vel D1'D1`` as ``[3, T]`` (offsets 0, 1, 2; ``S[i, i+k]``
        stored at ``[k, i]``), with ``D1``/``D2`` the first/second finite-difference operators.

        On a grid of ``time_step`` frames the same motion has ``time_step``x / ``time_step**2``x
        larger differences and ``1/time_step`` as many terms, hence the rescaled weights."""
        diags = np.zeros((3, t))
        terms = ((self.config.vel_weight / time_step, (-1.0, 1.0)),
                 (self.config.acc_weight / time_step**3, (1.0, -2.0, 1.0)))
        for weight, coef in terms:
            rows = t - len(coef) + 1
            if rows < 1 or weight == 0:
                continue
            start = np.arange(rows)
            for a, ca in enumerate(coef):
                for b in range(a, len(coef)):
                    np.add.at(diags[b - a], start + a, weight * ca * coef[b])
        return diags

    @staticmethod
    def smooth_apply(diags: np.ndarray, q: np.ndarray) -> np.ndarray:
        """``S @ q`` for ``q [T, n]`` (``S`` acts along frames, the same for every joint)."""
        out = diags[0][:, None] * q
        out[:-1] += diags[1, :-1, None] * q[1:]
        out[1:] += diags[1, :-1, None] * q[:-1]
        out[:-2] += diags[2, :-2, None] * q[2:]
        out[2:] += diags[2, :-2, None] * q[:-2]
        return out

    # ------------------------------------------------------------------ residuals
    def residuals(self, q: np.ndarray, prob: Problem) -> tuple[np.ndarray, State]:
        """Per-frame residuals ``[T, m]`` and the state :meth:`jacobian` needs."""
        cfg = self.config
        fk = self.kin.forward(q)
        t = q.shape[0]
        pk = fk.pos[:, self.kp_links]
        err = pk[:, self.pos_kp] - prob.targets  # [T, K', 3]
        scale, dscale = _huber_scale(np.sqrt((err * err).sum(-1)), cfg.huber_delta)
        lin = np.matmul(self.lin_w, pk) - prob.lin_target  # [T, M, 3]
        lin[:, : self.n_pos] *= scale[..., None]
        if self.n_pinch:
            lin[:, self.n_pos + self.n_bone:] *= prob.pinch_sw[..., None]
        state = State(pk, fk.axes, fk.origins, err, scale, dscale)
        if not self.use_collision:
            return lin.reshape(t, -1), state
        dist, state.coll_a, state.coll_b = self.pairs.distances(fk)
        soft = cfg.collision_softness
        state.coll_x = x = (cfg.collision_margin - dist) / soft
        return np.concatenate([lin.reshape(t, -1), self.coll_sw * soft * np.logaddexp(0.0, x)], axis=1), state

    def near_pairs(self, state: State) -> np.ndarray:
        """Collision pairs within reach of the penalty (``margin + 6 softness``) in some frame of ``state``."""
        if not self.use_collision:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero((state.coll_x > -_SOFT_RANGE).any(axis=0))

    def jacobian(self, state: State, prob: Problem, near: np.ndarray | None = None) -> np.ndarray:
        """Jacobians ``[T, m', n]`` of :meth:`residuals`: the keypoint, bone and pinch rows, then the
        collision rows of the pairs ``near`` (default: all; the others' rows are zero where a pair is
        beyond ``margin + 6 softness``, slope below e^-6)."""
        kin = self.kin
        t, nk, n = state.pos.shape[0], len(self.kp_links), kin.num_joints
        jkp = kin.point_jacobian(state, self.kp_links, state.pos)  # [T, K, 3, n]
        lin = np.matmul(self.lin_w, jkp.reshape(t, nk, 3 * n)).reshape(t, -1, 3, n)
        # Keypoints, Huber: d(s(|e|) e) = s de + (s'/|e|) e (e . de); the second term only beyond delta.
        jr = lin[:, : self.n_pos]
        jr *= state.scale[..., None, None]
        ft, fk = np.nonzero(state.dscale)
        if len(ft):
            e = state.err[ft, fk]  # [F, 3]
            ej = np.einsum("fc,fcn->fn", e, jkp[ft, self.pos_kp[fk]])
            jr[ft, fk] += (state.dscale[ft, fk, None] * self.kp_sw[0, fk] * e)[..., None] * ej[:, None, :]
        if self.n_pinch:
            lin[:, self.n_pos + self.n_bone:] *= prob.pinch_sw[..., None, None]
        lin = lin.reshape(t, -1, n)
        if not self.use_collision:
            return lin
        if near is None:
            near = np.arange(len(self.pairs))
        if not len(near):
            return lin
        return np.concatenate([lin, self._collision_rows(state, near)], axis=1)

    def _collision_rows(self, state: State, near: np.ndarray) -> np.ndarray:
        """Jacobian rows ``[T, C', n]`` of the collision residuals of the pairs ``near``.

        ``d dist / dq_r = n . (a_r x (p_a - o_r)) = [a_r, a_r x o_r] . [p_a x n, -n]`` for joints
        moving capsule a, minus the same for b (``n`` the unit vector from b's closest point to a's):
        one small matrix product per side for all frames, pairs and joints.
        """
        return self.collision_rows(state.coll_x[:, near], state.coll_a[:, near], state.coll_b[:, near],
                                   state.axes, state.origins, near)

    def collision_rows(self, x: np.ndarray, pa: np.ndarray, pb: np.ndarray, ax: np.ndarray, org: np.ndarray,
                       pair_ids: np.ndarray) -> np.ndarray:
        """Collision Jacobian rows ``[T, C', n]`` of the pairs ``pair_ids`` (indices into :attr:`pairs`)
        from their ``x = (margin - d) / s [T, C']``, closest points ``[T, C', 3]`` and the joint axes and
        origins ``[T, R, 3]`` (see :meth:`_collision_rows`)."""
        return self.distance_rows(pa, pb, ax, org, pair_ids) * -self.collision_slope(x)[..., None]

    def collision_slope(self, x: np.ndarray) -> np.ndarray:
        """``-d residual / d distance`` of the collision rows at ``x = (margin - d) / s`` (zero beyond
        ``margin + 6 softness``)."""
        # residual = sqrt(w) s softplus(x), x = (margin - d) / s: d residual / d d = -sqrt(w) expit(x)
        return np.where(x > -_SOFT_RANGE, self.coll_sw * expit(x), 0.0)

    def distance_rows(self, pa: np.ndarray, pb: np.ndarray, ax: np.ndarray, org: np.ndarray,
                      pair_ids: np.ndarray) -> np.ndarray:
        """``d distance / d q`` ``[T, C', n]`` of the pairs ``pair_ids`` from their closest points."""
        near = pair_ids
        nrm = pa - pb
        nrm /= np.maximum(np.sqrt((nrm * nrm).sum(-1, keepdims=True)), 1e-9)
        screw = np.concatenate([ax, _cross(ax, org)], axis=-1)  # [T, R, 6]
        screw_t = np.swapaxes(screw, 1, 2)
        va = np.concatenate([_cross(pa, nrm), -nrm], axis=-1)  # [T, C', 6]
        vb = np.concatenate([_cross(pb, nrm), -nrm], axis=-1)
        rows = (va @ screw_t) * self.pair_moves_a[near] - (vb @ screw_t) * self.pair_moves_b[near]  # [T, C', R]
        if not self.kin._identity_coupling:
            rows = rows @ self.kin.coupling
        return rows


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a x b`` over the last axis (size 3), for small broadcast arrays (faster than ``np.cross``)."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[..., 0] = a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1]
    out[..., 1] = a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2]
    out[..., 2] = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    return out


def _huber_scale(d: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """``s(d)`` with ``0.5 (s d)^2 = huber_delta(d)`` and ``s'(d) / d`` (both 1 / 0 below ``delta``)."""
    if delta <= 0:
        return np.ones_like(d), np.zeros_like(d)
    far = d > delta
    dd = np.where(far, d, 2 * delta)  # keeps the unused branch finite
    root = np.sqrt(2 * delta * dd - delta * delta)
    scale = np.where(far, root / dd, 1.0)
    dscale = np.where(far, (delta * delta - delta * dd) / (dd**3 * root), 0.0)
    return scale, dscale


__all__ = ["Objective", "Problem", "State"]
