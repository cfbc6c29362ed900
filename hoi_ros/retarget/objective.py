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
    pinch_sw: np.ndarray  # [T, P, 1] square-root weights
    pinch_v: np.ndarray  # [T, P, 3]
    smooth: np.ndarray  # [3, T] diagonals of S
    bone_v: np.ndarray  # [T, B, 3] robot bone vectors pointing like the human bones

    def rows(self, idx: np.ndarray) -> Problem:
        """The frames ``idx`` (for residuals and Jacobians; ``smooth`` stays whole)."""
        return Problem(self.targets[idx], self.pinch_sw[idx], self.pinch_v[idx], self.smooth, self.bone_v[idx])


@dataclass
class State:
    """What :meth:`Objective.jacobian` needs from :meth:`Objective.residuals` (arrays, frame first)."""

    pos: np.ndarray  # [T, K, 3] keypoint link positions
    axes: np.ndarray  # [T, R, 3] revolute joint axes (world)
    origins: np.ndarray  # [T, R, 3] revolute joint origins
    err: np.ndarray  # [T, K', 3] errors of the keypoints with a position term
    scale: np.ndarray  # [T, K'] Huber residual scale s(d)
    dscale: np.ndarray  # [T, K'] s'(d) / d
    coll_active: np.ndarray | None = None  # [T, C] pairs within reach of the penalty
    coll_a: np.ndarray | None = None  # [T, C, 3] closest points on the capsule axes
    coll_b: np.ndarray | None = None
    coll_slope: np.ndarray | None = None  # [T, C] d residual / d (-distance)

    _FIELDS = ("pos", "axes", "origins", "err", "scale", "dscale", "coll_active", "coll_a", "coll_b", "coll_slope")

    def take(self, keep: np.ndarray, other: State) -> State:
        """Frame-wise choice: this state where ``keep [T]``, else ``other``."""

        def pick(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
            if a is None or b is None:
                return None
            return np.where(keep.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)

        return State(*(pick(getattr(self, k), getattr(other, k)) for k in self._FIELDS))

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
        # Pairs that can come within reach of the penalty (parallel fingers that never meet are left out).
        self.pairs = CapsulePairs.of(kin, reach=config.collision_margin + _SOFT_RANGE * config.collision_softness)
        self.all_pairs = CapsulePairs.of(kin)  # for reports
        self.use_collision = len(self.pairs) > 0 and config.collision_weight > 0
        # Revolute joints moving each pair's two links, padded with the index R (a zero column).
        nr = kin.ancestors.shape[1]

        def movers(links: np.ndarray) -> np.ndarray:
            lists = [np.flatnonzero(kin.ancestors[link]) for link in links]
            width = max([len(x) for x in lists] + [1])
            padded = [np.r_[x, [nr] * (width - len(x))] for x in lists]
            return np.array(padded, dtype=np.int64).reshape(len(lists), width)

        self.pair_joints_a = movers(self.pairs.link_a)
        self.pair_joints_b = movers(self.pairs.link_b)
        self.coll_sw = float(np.sqrt(config.collision_weight))

    def _collision_rows(self, state: State, ft: np.ndarray, fc: np.ndarray) -> np.ndarray:
        """Jacobian rows ``[P, n]`` of the collision residuals of pairs ``fc`` in frames ``ft``.

        ``d dist / dq_r = n . (a_r x (p_a - o_r))`` for joints moving capsule a, minus the same
        for b (``n`` the unit vector from b's closest point to a's); only those joints are touched.
        """
        kin = self.kin
        pa, pb = state.coll_a[ft, fc], state.coll_b[ft, fc]
        normal = (pa - pb) / np.maximum(np.linalg.norm(pa - pb, axis=-1, keepdims=True), 1e-9)
        axes, origins = _pad_zero(state.axes), _pad_zero(state.origins)
        nr = axes.shape[1] - 1
        rows = np.zeros((len(ft), nr + 1))
        p = np.arange(len(ft))[:, None]
        for joints, point, sign in ((self.pair_joints_a[fc], pa, 1.0), (self.pair_joints_b[fc], pb, -1.0)):
            ax, lever = axes[ft[:, None], joints], point[:, None, :] - origins[ft[:, None], joints]  # [P, J, 3]
            # (a x l) . n = l . (n x a)
            nrm = normal[:, None, :]
            nxa = (nrm[..., 1] * ax[..., 2] - nrm[..., 2] * ax[..., 1],
                   nrm[..., 2] * ax[..., 0] - nrm[..., 0] * ax[..., 2],
                   nrm[..., 0] * ax[..., 1] - nrm[..., 1] * ax[..., 0])
            rows[p, joints] = sign * (lever[..., 0] * nxa[0] + lever[..., 1] * nxa[1] + lever[..., 2] * nxa[2])
        rows = rows[:, :nr]
        if not kin._identity_coupling:
            rows = rows @ kin.coupling
        # residual = sqrt(w) s softplus((margin - d) / s): d residual / d d = -slope
        return -state.coll_slope[ft, fc, None] * rows

    # ------------------------------------------------------------------ data
    def problem(self, local: np.ndarray, scale: float, time_step: float = 1.0) -> Problem:
        """Targets of palm-frame human keypoints ``local [T, 21, 3]``; ``time_step`` frames per sample."""
        cfg = self.config
        t = local.shape[0]
        npinch = len(self.pinch_a)
        pinch_w = np.zeros((t, npinch))
        pinch_v = np.zeros((t, npinch, 3))
        for k in range(npinch):
            v = local[:, self.tip_human[self.pinch_a[k]]] - local[:, self.tip_human[self.pinch_b[k]]]
            d = np.linalg.norm(v, axis=-1)
            ramp = np.clip((cfg.pinch_far - d) / (cfg.pinch_far - cfg.pinch_near), 0.0, 1.0)
            pinch_w[:, k] = cfg.pinch_weight * ramp
            pinch_v[:, k] = v / np.maximum(d, 1e-9)[:, None] * cfg.pinch_gap
        hb = local[:, self.kp_human[self.bone_b]] - local[:, self.kp_human[self.bone_a]]
        hn = np.linalg.norm(hb, axis=-1, keepdims=True)
        bone_v = np.where(hn > 1e-9, hb / np.maximum(hn, 1e-9), 0.0) * self.bone_len[:, None]
        return Problem(local[:, self.kp_human[self.pos_kp]] * scale, np.sqrt(pinch_w)[..., None], pinch_v,
                       self.smooth_matrix(t, time_step), bone_v)

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
        res = [(err * (scale[..., None] * self.kp_sw)).reshape(t, -1)]
        if self.bone_sw:
            res.append((self.bone_sw * (pk[:, self.bone_b] - pk[:, self.bone_a] - prob.bone_v)).reshape(t, -1))
        if len(self.pinch_a):
            tips = pk[:, self.tip_in_kp]
            res.append((prob.pinch_sw * (tips[:, self.pinch_a] - tips[:, self.pinch_b] - prob.pinch_v)).reshape(t, -1))
        state = State(pk, fk.axes, fk.origins, err, scale, dscale)
        if self.use_collision:
            dist, ca, cb = self.pairs.distances(fk)
            soft = cfg.collision_softness
            x = (cfg.collision_margin - dist) / soft
            res.append(self.coll_sw * soft * np.logaddexp(0.0, x))
            state.coll_active, state.coll_a, state.coll_b = x > -_SOFT_RANGE, ca, cb
            state.coll_slope = self.coll_sw * expit(x)
        return np.concatenate(res, axis=1), state

    def jacobian(self, state: State, prob: Problem) -> np.ndarray:
        """Jacobians ``[T, m, n]`` of :meth:`residuals` (rows in the same order)."""
        kin = self.kin
        t, nk, n = state.pos.shape[0], len(self.pos_kp), kin.num_joints
        jkp = kin.point_jacobian(state, self.kp_links, state.pos)  # [T, K, 3, n]
        nb, npinch = (len(self.bone_a) if self.bone_sw else 0), len(self.pinch_a)
        ncoll = len(self.pairs) if self.use_collision else 0
        jac = np.empty((t, 3 * (nk + nb + npinch) + ncoll, n))
        # Keypoints, Huber: d(s(|e|) e) = s de + (s'/|e|) e (e . de); the second term only beyond delta.
        jr = jac[:, : 3 * nk].reshape(t, nk, 3, n)
        jpos = jkp[:, self.pos_kp]
        np.multiply(jpos, (state.scale[..., None] * self.kp_sw)[..., None], out=jr)
        ft, fk = np.nonzero(state.dscale)
        if len(ft):
            e = state.err[ft, fk]  # [F, 3]
            ej = np.einsum("fc,fcn->fn", e, jpos[ft, fk])
            jr[ft, fk] += (state.dscale[ft, fk, None] * self.kp_sw[0, fk] * e)[..., None] * ej[:, None, :]
        row = 3 * nk
        if nb:
            jac[:, row: row + 3 * nb] = (self.bone_sw * (jkp[:, self.bone_b] - jkp[:, self.bone_a])).reshape(t, -1, n)
            row += 3 * nb
        if npinch:
            jt = jkp[:, self.tip_in_kp]
            jac[:, row: row + 3 * npinch] = (prob.pinch_sw[..., None] * (jt[:, self.pinch_a] - jt[:, self.pinch_b])
                                             ).reshape(t, -1, n)
            row += 3 * npinch
        if ncoll:
            jc = jac[:, row:]
            jc[:] = 0.0
            ft, fc = np.nonzero(state.coll_active)
            if len(ft):
                jc[ft, fc] = self._collision_rows(state, ft, fc)
        return jac


def _pad_zero(a: np.ndarray) -> np.ndarray:
    """``a [T, R, 3]`` with a zero entry appended along R (the padding index of joint lists)."""
    return np.concatenate([a, np.zeros(a.shape[:1] + (1,) + a.shape[2:])], axis=1)


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
