"""Whole-sequence retargeting: all frames solved jointly by a bounded Levenberg-Marquardt.

Objective over the actuated joints ``Q [T, n]`` (all terms squared, robot base = palm frame):

- keypoint positions: ``w_tip`` for fingertips, ``w_kp`` for the other mapped keypoints, each
  robot keypoint against the human one in the palm frame times the scale ``s``;
- DexPilot-style pinch vectors (Handa et al., *DexPilot*, ICRA 2020, Eq. 1-2): for thumb-finger
  tip pairs whose human distance is below ``pinch_far`` the robot's thumb-to-finger vector is
  pulled to the human direction at length ``pinch_gap``, with a weight ramping from 0 at
  ``pinch_far`` to ``w_pinch`` at ``pinch_near``;
- self-collision between fingers: a one-sided penalty on capsule pairs closer than ``margin``;
- temporal smoothness: ``w_acc ||Q[t+1] - 2 Q[t] + Q[t-1]||^2 + w_vel ||Q[t+1] - Q[t]||^2``;
- a tiny pull ``w_rest`` towards the rest pose, which keeps the problem well posed (degenerate
  input, unobservable joints);
- joint limits (including those of coupled joints) as hard bounds: every step is projected.

Why not scipy's ``least_squares``: the Gauss-Newton matrix of the whole sequence is block
banded (frame blocks of ``n x n`` coupled to two neighbours by the smoothness terms), which
``scipy.linalg.solveh_banded`` factors in ``O(T n^3)``; ``least_squares`` would treat it as a
general sparse problem (LSMR iterations), which we measured to be far slower at 621 frames. The
step, damping and projection are the textbook LM (Nocedal & Wright, *Numerical Optimization*, §10.3).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.linalg import solveh_banded

from hoi_ros.core.hand import FINGERTIPS
from hoi_ros.retarget.collision import CapsulePairs
from hoi_ros.retarget.description import HandDescription
from hoi_ros.retarget.human import chain_length, to_palm_frame, validate_keypoints
from hoi_ros.retarget.kinematics import FKResult, Kinematics
from hoi_ros.retarget.robots import get_robot


@dataclass
class RetargetConfig:
    """Retargeting parameters (``config/retarget.yaml``, section ``retarget``)."""

    robot: str = "allegro"
    hand: str = "right"
    scale: float | None = None  # robot/human size ratio; None = calibrate from the sequence
    tip_weight: float = 1.0
    keypoint_weight: float = 0.1
    pinch_weight: float = 2.0
    pinch_near: float = 0.015  # metres, human
    pinch_far: float = 0.035
    pinch_gap: float = 0.005  # metres, robot
    collision_weight: float = 10.0
    collision_margin: float = 0.001
    acc_weight: float = 2e-4
    vel_weight: float = 1e-5
    rest_weight: float = 1e-7
    max_iters: int = 30
    coarse_stride: int = 4  # warm start: solve every k-th frame first (1 = off)
    coarse_iters: int = 20
    tolerance: float = 1e-5  # stop when the relative cost decrease falls below this
    collision_tolerance: float = 5e-4  # metres of penetration that count as a collision in the report
    progress: bool = False

    def __post_init__(self) -> None:
        if self.scale is not None:
            if not isinstance(self.scale, int | float) or not np.isfinite(self.scale) or self.scale <= 0:
                raise ValueError(f"scale: must be a positive number or null (calibrate), got {self.scale!r}")
            self.scale = float(self.scale)
        for f in fields(self):
            if f.name.endswith(("_weight", "_near", "_far", "_gap", "_margin", "tolerance")):
                v = getattr(self, f.name)
                if not isinstance(v, int | float) or not np.isfinite(v) or v < 0:
                    raise ValueError(f"{f.name}: must be a non-negative number, got {v!r}")
                setattr(self, f.name, float(v))
        if self.pinch_far <= self.pinch_near:
            raise ValueError(f"pinch_far: must exceed pinch_near ({self.pinch_near}), got {self.pinch_far}")
        for name in ("max_iters", "coarse_stride", "coarse_iters"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: must be a positive integer, got {v!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetargetConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"retarget config: unknown field(s) {sorted(unknown)}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path, section: str = "retarget") -> RetargetConfig:
        data = yaml.safe_load(Path(path).read_text()) or {}
        return cls.from_dict(data.get(section, data) if isinstance(data, dict) else {})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RetargetResult:
    """Robot joint trajectory of a sequence plus per-frame quality reports."""

    robot: str
    joint_names: list[str]  # actuated
    qpos: np.ndarray  # [T, n] actuated joints, radians
    full_joint_names: list[str]  # every revolute joint (coupled ones included), for JointState
    full_qpos: np.ndarray  # [T, R]
    fps: float
    scale: float
    wrist_pose: np.ndarray  # [T, 4, 4] palm frame -> input frame (for a floating hand / arm)
    fingertip_links: list[str]
    fingertip_error: np.ndarray  # [T, F] metres, robot tip vs scaled human tip (palm frame)
    collision: np.ndarray  # [T] bool, some finger capsules penetrate by more than the tolerance
    min_distance: np.ndarray  # [T] metres, smallest finger-finger capsule distance (negative = penetration)
    iterations: int
    cost: float
    warnings: list[str] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.qpos.shape[0])

    @property
    def timestamps(self) -> np.ndarray:
        return np.arange(self.num_frames, dtype=np.float64) / self.fps


@dataclass
class _Problem:
    """The data of one solve: keypoint targets, pinch weights/vectors, smoothness diagonals."""

    targets: np.ndarray  # [T, K, 3]
    pinch_sw: np.ndarray  # [T, P, 1] square-root weights
    pinch_v: np.ndarray  # [T, P, 3]
    smooth: np.ndarray  # [3, T]


def _single_thread_blas() -> Any:
    """One BLAS thread: the banded solve is memory-bound and multi-threaded OpenBLAS made it 10-100x
    slower on the shared 2-core machine (measured: 3 ms vs 60-1600 ms for 621 frames x 16 joints)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with the locked environment
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


class SequenceRetargeter:
    """Retargets human 21-keypoint sequences to one robot hand (model compiled once)."""

    def __init__(self, robot: HandDescription | str | None = None, config: RetargetConfig | None = None) -> None:
        self.config = config or RetargetConfig()
        self.desc = robot if isinstance(robot, HandDescription) else get_robot(robot or self.config.robot)
        self.kin = Kinematics(self.desc)
        kin, desc = self.kin, self.desc
        kp = [(link, idx) for link, idx in desc.keypoints.items() if kin.ancestors[kin.link_index[link]].any()]
        self.kp_links = np.array([kin.link_index[link] for link, _ in kp], dtype=np.int64)
        self.kp_human = np.array([idx for _, idx in kp], dtype=np.int64)
        self.kp_weight = np.array([self.config.tip_weight if idx in FINGERTIPS else self.config.keypoint_weight
                                   for _, idx in kp])
        self.tip_links = desc.fingertips
        self.tip_ids = np.array([kin.link_index[t] for t in self.tip_links], dtype=np.int64)
        self.tip_human = np.array([desc.keypoints[t] for t in self.tip_links], dtype=np.int64)
        thumb = [i for i, h in enumerate(self.tip_human) if h == FINGERTIPS[0]]
        self.pinch_pairs = [(thumb[0], i) for i in range(len(self.tip_human)) if thumb and i != thumb[0]]
        self.pairs = CapsulePairs.of(kin)
        self._kp_sw = np.sqrt(self.kp_weight)[None, :, None]
        self._tip_in_kp = np.array([list(self.kp_links).index(i) for i in self.tip_ids], dtype=np.int64)
        self._pa = np.array([p[0] for p in self.pinch_pairs], dtype=np.int64)
        self._pb = np.array([p[1] for p in self.pinch_pairs], dtype=np.int64)
        self._coll_sw = float(np.sqrt(self.config.collision_weight))
        self.rest = kin.clip(np.zeros(kin.num_joints))
        self.robot_chain = self._chain()

    # ------------------------------------------------------------------ calibration
    def _chain(self) -> tuple[np.ndarray, float]:
        """Human indices of the scale chain and its robot length at the rest pose."""
        mapped = {idx: link for link, idx in self.desc.keypoints.items()}
        for finger in (2, 1, 3, 4, 0):  # middle first
            idx = [0] + [i for i in range(1 + 4 * finger, 5 + 4 * finger) if i in mapped]
            if 0 in mapped and 4 * (finger + 1) in mapped:
                pos = self.kin.link_positions(self.rest, [mapped[i] for i in idx])[0]
                return np.array(idx), float(chain_length(pos))
        raise ValueError(f"scale: robot {self.desc.name} maps no wrist-to-fingertip chain; set scale explicitly")

    def calibrate_scale(self, local: np.ndarray) -> tuple[float, list[str]]:
        """Robot/human ratio of the wrist-to-fingertip chain length (median over frames)."""
        if self.config.scale is not None:
            return self.config.scale, []
        idx, robot_len = self.robot_chain
        human_len = float(np.median(chain_length(local[:, idx])))
        if human_len < 1e-6:
            return 1.0, ["scale: the human hand has zero size (degenerate keypoints); used scale 1.0"]
        return robot_len / human_len, []

    # ------------------------------------------------------------------ objective
    def _eval(self, q: np.ndarray, prob: _Problem) -> tuple[np.ndarray, tuple]:
        """Per-frame residuals ``[T, m]`` and the state :meth:`_jacobian` needs."""
        cfg, kin = self.config, self.kin
        fk = kin.forward(q)
        t = q.shape[0]
        pts = fk.pos[:, self.kp_links]
        res = [((pts - prob.targets) * self._kp_sw).reshape(t, -1)]
        if self.pinch_pairs:
            tips = pts[:, self._tip_in_kp]
            res.append((prob.pinch_sw * (tips[:, self._pa] - tips[:, self._pb] - prob.pinch_v)).reshape(t, -1))
        coll = None
        if len(self.pairs) and cfg.collision_weight > 0:
            dist, ca, cb = self.pairs.distances(fk)
            active = dist < cfg.collision_margin
            res.append(np.where(active, self._coll_sw * (dist - cfg.collision_margin), 0.0))
            coll = (active, ca, cb)
        return np.concatenate(res, axis=1), (fk, pts, coll)

    def _jacobian(self, state: tuple, prob: _Problem) -> np.ndarray:
        """Jacobians ``[T, m, n]`` of :meth:`_eval`'s residuals (rows in the same order)."""
        fk, pts, coll = state
        kin = self.kin
        t, n = pts.shape[0], kin.num_joints
        jkp = kin.point_jacobian(fk, self.kp_links, pts)  # [T, K, 3, n]
        jacs = [(jkp * self._kp_sw[..., None]).reshape(t, -1, n)]
        if self.pinch_pairs:
            jt = jkp[:, self._tip_in_kp]
            jacs.append((prob.pinch_sw[..., None] * (jt[:, self._pa] - jt[:, self._pb])).reshape(t, -1, n))
        if coll is not None:
            active, ca, cb = coll
            jc = np.zeros((t, len(self.pairs), n))
            ft, fc = np.nonzero(active)
            if len(ft):
                pa, pb = ca[ft, fc], cb[ft, fc]
                normal = (pa - pb) / np.maximum(np.linalg.norm(pa - pb, axis=-1, keepdims=True), 1e-9)
                ja = kin.point_jacobian(fk, self.pairs.link_a[fc], pa, frames=ft)
                jb = kin.point_jacobian(fk, self.pairs.link_b[fc], pb, frames=ft)
                jc[ft, fc] = self._coll_sw * np.einsum("ck,ckn->cn", normal, ja - jb)
            jacs.append(jc)
        return np.concatenate(jacs, axis=1)

    def _smooth_matrix(self, t: int, time_step: float = 1.0) -> np.ndarray:
        """Diagonals of ``S = w_acc D2'D2 + w_vel D1'D1`` as ``[3, T]`` (offsets 0, 1, 2; ``S[i, i+k]``
        stored at ``[k, i]``), with ``D1``/``D2`` the first/second finite-difference operators."""
        diags = np.zeros((3, t))
        # Penalties per frame of velocity and acceleration: on a grid of ``time_step`` frames the
        # same motion has ``time_step``x / ``time_step**2``x larger differences and 1/time_step as
        # many terms, hence the rescaling.
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

    def _smooth_apply(self, diags: np.ndarray, q: np.ndarray) -> np.ndarray:
        out = diags[0][:, None] * q
        out[:-1] += diags[1, :-1, None] * q[1:]
        out[1:] += diags[1, :-1, None] * q[:-1]
        out[:-2] += diags[2, :-2, None] * q[2:]
        out[2:] += diags[2, :-2, None] * q[:-2]
        return out

    def _cost(self, r: np.ndarray, q: np.ndarray, diags: np.ndarray) -> float:
        d = q - self.rest
        return 0.5 * float((r * r).sum() + (q * self._smooth_apply(diags, q)).sum()
                           + self.config.rest_weight * (d * d).sum())

    # ------------------------------------------------------------------ solve
    def retarget(self, keypoints: np.ndarray, fps: float = 30.0, init: np.ndarray | None = None) -> RetargetResult:
        """Retarget ``[T, 21 or 42, 3]`` human keypoints (metres, any frame) to robot joint angles.

        ``init`` (``[n]`` or ``[T, n]``) warm-starts the solve, e.g. with the previous result.
        """
        with _single_thread_blas():
            return self._retarget(keypoints, fps, init)

    def _retarget(self, keypoints: np.ndarray, fps: float, init: np.ndarray | None) -> RetargetResult:
        cfg = self.config
        if not np.isfinite(fps) or fps <= 0:
            raise ValueError(f"fps: must be a positive finite number, got {fps}")
        human = validate_keypoints(keypoints, cfg.hand)
        local, wrist = to_palm_frame(human)
        scale, warnings = self.calibrate_scale(local)
        t = human.shape[0]
        q = self._initial(init, t)
        iterations = 0
        stride = cfg.coarse_stride
        if init is None and stride > 1 and t >= 4 * stride:
            # Warm start: solve every stride-th frame first (its smoothness weights rescaled to
            # the coarser time step), then interpolate to all frames and refine.
            idx = np.unique(np.r_[np.arange(0, t, stride), t - 1])
            coarse = self._problem(local[idx], scale, time_step=float(stride))
            qc, it, _ = self._solve(q[idx], coarse, cfg.coarse_iters)
            iterations += it
            q = np.stack([np.interp(np.arange(t), idx, qc[:, j]) for j in range(qc.shape[1])], axis=1)
        q, it, cost = self._solve(q, self._problem(local, scale), cfg.max_iters)
        return self._result(q, local, wrist, scale, fps, iterations + it, cost, warnings)

    def _problem(self, local: np.ndarray, scale: float, time_step: float = 1.0) -> _Problem:
        cfg = self.config
        t = local.shape[0]
        pinch_w = np.zeros((t, len(self.pinch_pairs)))
        pinch_v = np.zeros((t, len(self.pinch_pairs), 3))
        for k, (a, b) in enumerate(self.pinch_pairs):
            v = local[:, self.tip_human[a]] - local[:, self.tip_human[b]]
            d = np.linalg.norm(v, axis=-1)
            ramp = np.clip((cfg.pinch_far - d) / (cfg.pinch_far - cfg.pinch_near), 0.0, 1.0)
            pinch_w[:, k] = cfg.pinch_weight * ramp
            pinch_v[:, k] = v / np.maximum(d, 1e-9)[:, None] * cfg.pinch_gap
        return _Problem(local[:, self.kp_human] * scale, np.sqrt(pinch_w)[..., None], pinch_v,
                        self._smooth_matrix(t, time_step))

    def _solve(self, q: np.ndarray, prob: _Problem, max_iters: int) -> tuple[np.ndarray, int, float]:
        """Bounded LM on the whole sequence; returns (q, iterations, cost)."""
        cfg, kin = self.config, self.kin
        t, n = q.shape
        u = 2 * n
        iu, ju = np.triu_indices(n)
        rows_blk = u + iu - ju
        cols_blk = np.arange(t)[:, None] * n + ju[None, :]
        lower_f, upper_f = np.tile(kin.lower, t), np.tile(kin.upper, t)
        # Row of every band entry ab[k, j] (= H[j - u + k, j]), clipped where it falls outside.
        band_rows = np.clip(np.arange(t * n)[None, :] - u + np.arange(u + 1)[:, None], 0, t * n - 1)
        diags = prob.smooth
        r, state = self._eval(q, prob)
        cost = self._cost(r, q, diags)
        lam = 1e-3
        it = 0
        iterator = range(max_iters)
        if cfg.progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, desc=f"retarget {self.desc.name} ({t} frames)", unit="it")
        for it in iterator:  # noqa: B007
            jac = self._jacobian(state, prob)
            jt = np.swapaxes(jac, 1, 2)
            h = jt @ jac  # [T, n, n]
            g = (jt @ r[..., None])[..., 0] + self._smooth_apply(diags, q) + cfg.rest_weight * (q - self.rest)
            ab = np.zeros((u + 1, t * n))
            ab[rows_blk[None, :], cols_blk] = h[:, iu, ju]
            for k in range(3):
                if k * n <= u and k < t:
                    ab[u - k * n, k * n:] += np.repeat(diags[k, : t - k], n)
            ab[u] += cfg.rest_weight
            # Projected Newton (Bertsekas 1982): joints at a bound whose gradient points outwards
            # are held there; their rows and columns leave the system.
            gf, qf = g.reshape(-1), q.reshape(-1)
            held = ((qf <= lower_f + 1e-9) & (gf > 0)) | ((qf >= upper_f - 1e-9) & (gf < 0))
            if held.any():
                free = (~held).astype(np.float64)
                ab *= free[None, :] * free[band_rows]
                ab[u, held] = 1.0
                gf = np.where(held, 0.0, gf)
            base_diag = ab[u].copy()
            improved = False
            for _ in range(8):
                ab[u] = base_diag * (1.0 + lam) + 1e-12
                step = solveh_banded(ab, -gf, check_finite=False, overwrite_ab=False).reshape(t, n)
                q_new = kin.clip(q + step)
                r_new, state_new = self._eval(q_new, prob)
                cost_new = self._cost(r_new, q_new, diags)
                if cost_new < cost:
                    improved = True
                    break
                lam *= 8.0
            if not improved:
                break
            rel = (cost - cost_new) / max(cost, 1e-30)
            q, r, state, cost = q_new, r_new, state_new, cost_new
            lam = max(lam / 4.0, 1e-9)
            if rel < cfg.tolerance:
                break
        return q, it + 1, cost

    def _initial(self, init: np.ndarray | None, t: int) -> np.ndarray:
        n = self.kin.num_joints
        if init is None:
            return np.tile(self.rest, (t, 1))
        init = np.asarray(init, np.float64)
        if init.shape == (n,):
            init = np.tile(init, (t, 1))
        if init.shape != (t, n) or not np.all(np.isfinite(init)):
            raise ValueError(f"init: expected finite [{n}] or [{t}, {n}] joint values, got shape {init.shape}")
        return self.kin.clip(init)

    def evaluate(self, qpos: np.ndarray, local: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(fingertip errors ``[T, F]``, collision flags ``[T]``, min capsule distance ``[T]``) of any
        joint trajectory against palm-frame human keypoints; the benchmark scores every method with it."""
        fk = self.kin.forward(qpos)
        err = np.linalg.norm(fk.pos[:, self.tip_ids] - local[:, self.tip_human] * scale, axis=-1)
        if len(self.pairs):
            dist = self.pairs.distances(fk)[0].min(axis=1)
        else:
            dist = np.full(qpos.shape[0], np.inf)
        return err, dist < -self.config.collision_tolerance, dist

    def _result(self, q: np.ndarray, local: np.ndarray, wrist: np.ndarray, scale: float, fps: float,
                iterations: int, cost: float, warnings: list[str]) -> RetargetResult:
        err, coll, dist = self.evaluate(q, local, scale)
        return RetargetResult(
            robot=self.desc.name, joint_names=list(self.kin.joint_names), qpos=q,
            full_joint_names=list(self.kin.full_joint_names), full_qpos=self.kin.full(q), fps=float(fps),
            scale=float(scale), wrist_pose=wrist, fingertip_links=list(self.tip_links), fingertip_error=err,
            collision=coll, min_distance=dist, iterations=int(iterations), cost=float(cost), warnings=warnings,
        )


def retarget_sequence(keypoints: np.ndarray, robot: str | HandDescription = "allegro", fps: float = 30.0,
                      config: RetargetConfig | None = None) -> RetargetResult:
    """One-call retargeting (builds a :class:`SequenceRetargeter`)."""
    return SequenceRetargeter(robot, config).retarget(keypoints, fps)


__all__ = ["RetargetConfig", "RetargetResult", "SequenceRetargeter", "retarget_sequence"]
