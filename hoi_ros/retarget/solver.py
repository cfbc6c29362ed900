"""Whole-sequence retargeting: all frames solved jointly by a bounded Levenberg-Marquardt.

The cost is :mod:`.objective`'s (keypoints, pinch, collisions, temporal smoothness, rest), over
the actuated joints of every frame at once, with the joint limits (coupled joints' included) as
hard bounds. Its Gauss-Newton matrix is block banded (frame blocks of ``n x n`` coupled to two
neighbours by the smoothness terms), which ``scipy.linalg.solveh_banded`` factors in
``O(T n^3)``; scipy's ``least_squares`` would treat it as a general sparse problem (LSMR
iterations). Step, damping and bounds are textbook: Levenberg-Marquardt with Nielsen's damping
update (Madsen, Nielsen & Tingleff, *Methods for Non-Linear Least Squares Problems*, 2004, §3.2)
and projected Newton for the bounds (Bertsekas, 1982), with the damping held per frame (see
:meth:`SequenceRetargeter._solve`).

Warm start, coarse to fine (``levels``): the every-8th-frame problem first, each of its frames
from several seed poses (the best kept), then every 2nd frame, then all, each level's smoothness
weights rescaled to its time step and its solution interpolated to the next; a caller may instead
pass a previous solution (``init``).

The robot base is the human palm frame (:func:`hoi_ros.retarget.human.palm_frame`), so the wrist
pose objective is met exactly and returned as ``wrist_pose`` for a floating hand or an arm's end
effector; the scale is calibrated from the wrist-to-fingertip chain length (:meth:`calibrate_scale`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.linalg import solveh_banded

from hoi_ros.retarget.config import RetargetConfig
from hoi_ros.retarget.description import HandDescription
from hoi_ros.retarget.handedness import detect_side, mirror_keypoints
from hoi_ros.retarget.human import chain_length, to_palm_frame, validate_keypoints
from hoi_ros.retarget.kinematics import Kinematics
from hoi_ros.retarget.objective import Objective, Problem
from hoi_ros.retarget.repair import backoff
from hoi_ros.retarget.robots import get_robot


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


def _single_thread_blas() -> Any:
    """One BLAS thread: the many small products and the banded solve are slower multi-threaded on
    the shared 2-core machine (measured: 0.34 s vs 2.2-12 s for the 621-frame real-hand sequence
    with the Allegro-like hand). The BLAS libraries are looked up once per process (threadpoolctl's
    lookup reads ``/proc/self/maps``, about 1 ms, too slow to repeat per streamed frame)."""
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl ships with the locked environment
            _BLAS_CONTROLLER = False
        else:
            _BLAS_CONTROLLER = ThreadpoolController().select(user_api="blas")
    if _BLAS_CONTROLLER is False:
        return contextlib.nullcontext()
    return _BLAS_CONTROLLER.limit(limits=1)


_BLAS_CONTROLLER: Any = None


_MALLOC_TUNED = False
_LEVEL_FRAMES = 4  # a coarse level is used when it has at least this many frames


def _tune_malloc() -> None:
    """Keep the solver's large temporaries (1-8 MB per iteration) on the heap.

    glibc serves blocks above its mmap threshold with fresh ``mmap`` pages, which page-fault on
    first touch and are unmapped on free, every iteration; its dynamic threshold adapts only
    partly (measured: 17-25% of the solve time on the real-hand sequence). This sets the
    thresholds to the values glibc's own dynamic scheme grows to at most (mmap 32 MB, trim 64 MB),
    once per process; a no-op where glibc's ``mallopt`` is unavailable.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
        libc.mallopt(m_trim_threshold, 64 * 1024 * 1024)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


class SequenceRetargeter:
    """Retargets human 21-keypoint sequences to one robot hand (model compiled once)."""

    def __init__(self, robot: HandDescription | str | None = None, config: RetargetConfig | None = None) -> None:
        _tune_malloc()
        self.config = config or RetargetConfig()
        self.desc = robot if isinstance(robot, HandDescription) else get_robot(robot or self.config.robot)
        self.kin = Kinematics(self.desc)
        self.objective = Objective(self.kin, self.config)
        self.tip_links = self.objective.tip_links
        # Initial guess and rest pose: the middle of the joint ranges (as dex-retargeting starts); the
        # zero pose (fingers straight) started many frames in a worse local minimum (measured: total
        # cost 0.53 vs 0.14 on the real hand sequence, per-frame solves).
        self.rest = 0.5 * (self.kin.lower + self.kin.upper)
        self.robot_chain = self._chain()
        self._free_pose: np.ndarray | None = None

    # ------------------------------------------------------------------ handedness
    @property
    def human_side(self) -> str:
        """The side of the keypoints the solver sees: the robot's (after :meth:`prepare_side`)."""
        return self.desc.side

    def prepare_side(self, human: np.ndarray) -> tuple[np.ndarray, bool, list[str]]:
        """Check ``[T, 21, 3]`` keypoints against ``config.hand`` and the robot's side
        (``config.handedness``, see :mod:`.handedness`); returns (keypoints of the robot's side, whether
        they were mirrored, warnings). Raises ``ValueError`` with the reason and the fix on a mismatch
        under ``handedness: check``."""
        cfg, robot_side = self.config, self.desc.side
        side, warnings = cfg.hand, []
        if cfg.handedness != "off":
            det = detect_side(human)
            if det.side is not None and det.side != side:
                if cfg.handedness == "check":
                    raise ValueError(f"hand_joints: {det.describe()}, but hand: {side}; set hand: {det.side} "
                                     f"(with a {det.side} robot hand, e.g. {_sided_name(self.desc.name, det.side)}) "
                                     "or handedness: mirror")
                warnings.append(f"hand: {det.describe()}; used as a {det.side} hand, not {side}")
                side = det.side
        if side != robot_side:
            if cfg.handedness != "mirror":
                raise ValueError(f"robot: {self.desc.name} is a {robot_side} hand and the human hand is {side}; "
                                 f"use robot {_sided_name(self.desc.name, side)} or handedness: mirror")
            warnings.append(f"hand: the {side} hand was mirrored (x -> -x) to drive the {robot_side} robot hand "
                            f"{self.desc.name}; wrist_pose is in the mirrored input frame")
            return mirror_keypoints(human), True, warnings
        return human, False, warnings

    def palm_keypoints(self, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(palm-frame keypoints ``[T, 21, 3]``, wrist poses ``[T, 4, 4]``) of ``[T, 21 or 42, 3]`` input, as
        :meth:`retarget` sees them (``config.hand``, handedness checked or mirrored)."""
        human, _, _ = self.prepare_side(validate_keypoints(keypoints, self.config.hand))
        return to_palm_frame(human, self.human_side)

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
        """Robot/human ratio of one wrist-to-fingertip chain's length (robot at rest; human: median
        over frames), or ``config.scale`` when set."""
        if self.config.scale is not None:
            return self.config.scale, []
        idx, robot_len = self.robot_chain
        human_len = float(np.median(chain_length(local[:, idx])))
        if human_len < 1e-6:
            return 1.0, ["scale: the human hand has zero size (degenerate keypoints); used scale 1.0"]
        return robot_len / human_len, []

    # ------------------------------------------------------------------ solve
    def retarget(self, keypoints: np.ndarray, fps: float = 30.0, init: np.ndarray | None = None,
                 in_palm_frame: bool = False) -> RetargetResult:
        """Retarget ``[T, 21 or 42, 3]`` human keypoints (metres, any frame) to robot joint angles.

        ``init`` (``[n]`` or ``[T, n]``) warm-starts the solve, e.g. with the previous result.
        ``in_palm_frame``: the keypoints are already in the robot's palm frame (wrist at the
        origin, see :mod:`.description`), so no palm frame is estimated from them (``wrist_pose``
        is then the identity); the robot's own keypoints, for instance.
        """
        with _single_thread_blas():
            return self._retarget(keypoints, fps, init, in_palm_frame)

    def _retarget(self, keypoints: np.ndarray, fps: float, init: np.ndarray | None,
                  in_palm_frame: bool) -> RetargetResult:
        cfg = self.config
        if isinstance(fps, bool) or not isinstance(fps, int | float | np.floating | np.integer) \
                or not np.isfinite(fps) or fps <= 0:
            raise ValueError(f"fps: must be a positive finite number, got {fps!r}")
        human = validate_keypoints(keypoints, cfg.hand)
        if in_palm_frame:
            local, wrist, side_warnings = human, np.tile(np.eye(4), (human.shape[0], 1, 1)), []
        else:
            human, _, side_warnings = self.prepare_side(human)
            local, wrist = to_palm_frame(human, self.human_side)
        scale, warnings = self.calibrate_scale(local)
        warnings = side_warnings + warnings
        t = human.shape[0]
        iterations = 0
        if init is not None:
            q = self._initial(init, t)
        else:
            # Coarse-to-fine warm start: the first level's frames (every stride-th) are solved
            # from several seeds each (the best kept), then every level jointly, with the
            # smoothness rescaled to its time step, and interpolated to the next level's frames.
            q, prev = None, None
            for stride, iters in cfg.levels:
                if t < _LEVEL_FRAMES * stride:  # too few frames for this level to pay off
                    continue
                idx = np.unique(np.r_[np.arange(0, t, stride), t - 1])
                if q is None:
                    q, it = self._multistart(local[idx], scale)
                    iterations += it
                else:
                    q = _interp(q, prev, idx)
                q, it, _ = self._solve(q, self.objective.problem(local[idx], scale, time_step=float(stride)), iters)
                iterations += it
                prev = idx
            if q is None:  # short sequence: every frame gets the seeds
                q, it = self._multistart(local, scale)
                iterations += it
            else:
                q = _interp(q, prev, np.arange(t))
        prob = self.objective.problem(local, scale)
        q, it, cost = self._solve(q, prob, cfg.max_iters)
        iterations += it
        report = self.evaluate(q, local, scale)
        if self.objective.use_collision and report[1].any():
            # Frames still penetrating beyond the tolerance (the penalty is soft and the iterations
            # capped): more iterations on those frames and their neighbours only.
            q, it, cost = self._solve(q, prob, cfg.max_iters, active=_dilate(report[1], 2))
            iterations += it
            report = self.evaluate(q, local, scale)
        if self.objective.use_collision and report[1].any():
            q = self.backoff(q, report[1])
            warnings.append(f"collision: {int(report[1].sum())} frame(s) still penetrated after the repair "
                            "iterations; moved towards the nearest collision-free frame's joints")
            report = self.evaluate(q, local, scale)
            cost = float("nan")  # the cost of the moved frames was not evaluated
        return self._result(q, wrist, scale, fps, iterations, cost, warnings, report)

    def backoff(self, q: np.ndarray, bad: np.ndarray) -> np.ndarray:
        """``q [T, n]`` with the frames ``bad [T]`` moved (:func:`hoi_ros.retarget.repair.backoff`) towards
        the joints of the nearest frame without collision (or :attr:`free_pose` if there is none) to the
        first pose no deeper than ``config.collision_tolerance``: the result has no collision frame."""
        good = np.flatnonzero(~bad)
        idx = np.flatnonzero(bad)
        if len(good):
            nearest = good[np.abs(good[None, :] - idx[:, None]).argmin(axis=1)]
            ref = q[nearest]
        else:
            ref = np.tile(self.free_pose, (len(idx), 1))
        out = q.copy()
        out[idx] = backoff(self.kin, self.objective.all_pairs, q[idx], ref, self.config.collision_tolerance)
        return out

    @property
    def free_pose(self) -> np.ndarray:
        """A collision-free pose: the middle of the joint ranges, or the nearest fraction of them that is free."""
        if self._free_pose is None:
            kin, pairs = self.kin, self.objective.all_pairs
            for frac in (0.5, 0.4, 0.3, 0.2, 0.1, 0.0, 0.6, 0.7, 0.8, 0.9, 1.0):
                q = kin.lower + frac * (kin.upper - kin.lower)
                if not len(pairs) or pairs.distances(kin.forward(q[None]))[0].min() >= 0.0:
                    self._free_pose = q
                    break
            else:
                raise ValueError(f"{self.desc.name}: no collision-free pose among the joint-range fractions")
        return self._free_pose

    def _multistart(self, local: np.ndarray, scale: float) -> tuple[np.ndarray, int]:
        """Per-frame solves (no smoothness) from each of ``config.seeds`` (fractions of every joint's
        range); returns the best joints per frame and the iterations spent."""
        cfg, kin = self.config, self.kin
        t, k = local.shape[0], len(cfg.seeds)
        prob = self.objective.problem(np.tile(local, (k, 1, 1)), scale)
        prob.smooth[:] = 0.0
        q0 = np.repeat(np.array([kin.lower + s * (kin.upper - kin.lower) for s in cfg.seeds]), t, axis=0)
        q, it, _ = self._solve(q0, prob, cfg.seed_iters)
        r, _ = self.objective.residuals(q, prob)
        d = q - self.rest
        f = (0.5 * (r * r).sum(axis=1) + 0.5 * cfg.rest_weight * (d * d).sum(axis=1)).reshape(k, t)
        return q.reshape(k, t, -1)[f.argmin(axis=0), np.arange(t)], it

    def _cost(self, f: np.ndarray, q: np.ndarray, diags: np.ndarray) -> float:
        """Total cost from the per-frame residual costs ``f [T]`` (``0.5 |r_t|^2``) and the joints."""
        d = q - self.rest
        return float(f.sum()) + 0.5 * float((q * Objective.smooth_apply(diags, q)).sum()
                                            + self.config.rest_weight * (d * d).sum())

    def _solve(self, q: np.ndarray, prob: Problem, max_iters: int,
               active: np.ndarray | None = None) -> tuple[np.ndarray, int, float]:
        """Bounded Levenberg-Marquardt on the whole sequence; returns (q, iterations, cost).

        The frames are coupled only through the (quadratic, exactly modelled) smoothness and rest
        terms, which the solver exploits twice:

        - damping per frame: after a trial step each frame's share of the cost change is its
          residual change plus its rows of the quadratic terms' change (the shares sum to the
          total); frames whose share rose keep their joints this iteration, the others move, and
          the step counts when the total cost falls (monotone). Damping follows Nielsen's rule per
          frame, so one frame's nonlinearity (a collision, a limit) does not shrink every other
          frame's step, as one global damping did;
        - active frames: only frames that moved (or were refused) in the last iteration, and their
          two neighbours on each side, are re-linearised; the others are held (like joints at a
          bound). Most frames settle within a few iterations, so later iterations cost a fraction.
        """
        cfg, kin, obj = self.config, self.kin, self.objective
        t, n = q.shape
        lay = _Layout(obj.groups, t)
        kd, vidx = lay.kd, lay.vidx
        lower_f, upper_f = np.empty(t * n), np.empty(t * n)
        lower_f[vidx], upper_f[vidx] = kin.lower, kin.upper
        diags = prob.smooth
        smooth_bands = lay.smooth_bands(diags, cfg.rest_weight)
        row_groups = obj.row_groups if (obj.row_groups > 1).any() else None
        r, state = obj.residuals(q, prob)
        f = 0.5 * (r * r).sum(axis=1)
        cost = self._cost(f, q, diags)
        lam, nu = np.full(t, 1e-2), np.full(t, 2.0)
        active = np.ones(t, dtype=bool) if active is None else active.copy()
        lam_f = np.empty(t * n)
        slow = 0  # consecutive iterations whose relative decrease was below the tolerance
        it = 0
        iterator = range(max_iters)
        if cfg.progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, desc=f"retarget {self.desc.name} ({t} frames)", unit="it")
        for it in iterator:  # noqa: B007
            act = np.flatnonzero(active)
            whole = len(act) == t
            state_a, prob_a = (state, prob) if whole else (state.rows(act), prob.rows(act))
            # Collision rows only for the pairs within reach somewhere (the others' rows are zero).
            near = obj.near_pairs(state_a)
            jac = obj.jacobian(state_a, prob_a, near)  # [A, m', n]
            if obj.use_collision:
                sel = np.r_[np.arange(obj.n_lin), obj.n_lin + near]
                r_a = r[np.ix_(act, sel)]
            else:
                sel, r_a = slice(None), (r if whole else r[act])
            jt = np.swapaxes(jac, 1, 2)
            sq = Objective.smooth_apply(diags, q) + cfg.rest_weight * (q - self.rest)
            g = sq.copy()
            g[act] += (jt @ r_a[..., None])[..., 0]
            jtj = jt @ (jac if row_groups is None else row_groups[sel, None] * jac)
            ab = smooth_bands.copy()
            ab[lay.pair_band, vidx[act][:, lay.pair_b]] += jtj[:, lay.pair_a, lay.pair_b]
            # Projected Newton: joints at a bound whose gradient points outwards, and every joint
            # of an inactive frame, are held; their rows and columns leave the system.
            gf, qf = np.empty(t * n), np.empty(t * n)
            gf[vidx], qf[vidx] = g, q
            held = ((qf <= lower_f + 1e-9) & (gf > 0)) | ((qf >= upper_f - 1e-9) & (gf < 0))
            if not whole:
                held[vidx[~active]] = True
            free = (~held).astype(np.float64)
            ab *= free[None, :] * free[lay.band_rows]
            ab[kd, held] = 1.0
            gf[held] = 0.0
            base_diag = ab[kd].copy()
            f_sel = 0.5 * (r_a * r_a).sum(axis=1)
            accepted = False
            for _ in range(10):
                lam_f[vidx] = lam[:, None]
                ab[kd] = base_diag * (1.0 + lam_f) + 1e-12
                step = solveh_banded(ab, -gf, check_finite=False, overwrite_ab=False)[vidx]
                q_new = kin.clip(q + step)
                d = q_new - q
                r_new, state_new = obj.residuals(q_new if whole else q_new[act], prob_a)
                f_new = 0.5 * (r_new * r_new).sum(axis=1)
                model = r_a + (jac @ (d if whole else d[act])[..., None])[..., 0]
                # Each frame's share of the quadratic terms' change: d_t . (S q + w (q - rest) + (S d + w d) / 2)_t.
                quad = (d * (sq + 0.5 * (Objective.smooth_apply(diags, d) + cfg.rest_weight * d))).sum(axis=1)[act]
                actual = f_new - f[act] + quad
                # Rows without a Jacobian row (far collision pairs) are constant in the model.
                predicted = 0.5 * (model * model).sum(axis=1) - f_sel + quad
                worse = actual > 0
                if worse.any():  # those frames keep their joints (and residuals) this iteration
                    d[act[worse]] = 0.0
                    r_new[worse] = r[act[worse]]
                    f_new[worse] = f[act[worse]]
                f_try = f.copy()
                f_try[act] = f_new
                cost_new = self._cost(f_try, q + d, diags)
                if cost_new < cost:
                    rho = np.where(predicted < 0, actual / np.minimum(predicted, -1e-300), 0.0)
                    shrink = np.maximum(1.0 / 3.0, 1.0 - (2.0 * np.clip(rho, 0.0, 1.0) - 1.0) ** 3)
                    lam[act] = np.clip(np.where(worse, lam[act] * nu[act], lam[act] * shrink), 1e-9, 1e8)
                    nu[act] = np.where(worse, nu[act] * 2.0, 2.0)
                    accepted = True
                    break
                lam[act] = np.minimum(lam[act] * nu[act], 1e8)
                nu[act] = nu[act] * 2.0
            if not accepted:
                break
            rel = (cost - cost_new) / max(cost, 1e-30)
            q = q + d
            f, cost = f_try, cost_new
            if whole and not worse.any():
                r, state = r_new, state_new
            else:
                moved = np.flatnonzero(~worse)
                r[act[moved]] = r_new[moved]
                state.put(act[moved], state_new.rows(moved))
            busy = np.zeros(t, dtype=bool)
            busy[act[worse]] = True
            busy |= np.abs(d).max(axis=1) > cfg.settle_step
            active = _dilate(busy, 2)
            slow = slow + 1 if rel < cfg.tolerance else 0
            if slow >= 2 or not active.any():
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

    # ------------------------------------------------------------------ report
    def evaluate(self, qpos: np.ndarray, local: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(fingertip errors ``[T, F]``, collision flags ``[T]``, min capsule distance ``[T]``) of any
        joint trajectory against palm-frame human keypoints; the benchmark scores every method with it."""
        obj = self.objective
        fk = self.kin.forward(qpos)
        err = np.linalg.norm(fk.pos[:, obj.tip_ids] - local[:, obj.tip_human] * scale, axis=-1)
        if len(obj.all_pairs):
            dist = obj.all_pairs.distances(fk)[0].min(axis=1)
        else:
            dist = np.full(qpos.shape[0], np.inf)
        return err, dist < -self.config.collision_tolerance, dist

    def _result(self, q: np.ndarray, wrist: np.ndarray, scale: float, fps: float, iterations: int, cost: float,
                warnings: list[str], report: tuple[np.ndarray, np.ndarray, np.ndarray]) -> RetargetResult:
        err, coll, dist = report
        return RetargetResult(
            robot=self.desc.name, joint_names=list(self.kin.joint_names), qpos=q,
            full_joint_names=list(self.kin.full_joint_names), full_qpos=self.kin.full(q), fps=float(fps),
            scale=float(scale), wrist_pose=wrist, fingertip_links=list(self.tip_links), fingertip_error=err,
            collision=coll, min_distance=dist, iterations=int(iterations), cost=float(cost), warnings=warnings,
        )


class _Layout:
    """Variable order and band structure of the Gauss-Newton system of ``t`` frames.

    The solver keeps only the blocks of ``J'J`` within joint groups (fingers, see
    :meth:`Objective._groups_and_row_counts`), so the system splits into one banded system per
    group; ordered group by group (frames, then the group's joints), it is one banded matrix of
    half bandwidth ``2 x`` the largest group's joint count (the acceleration term couples a frame
    with the next two) instead of ``2 n``.
    """

    def __init__(self, groups: list[np.ndarray], t: int) -> None:
        n = sum(len(g) for g in groups)
        self.kd = kd = 2 * max(len(g) for g in groups)
        self.vidx = np.empty((t, n), dtype=np.int64)  # position of (frame, joint) in the system
        self.width = np.empty(n, dtype=np.int64)  # joints in each joint's group
        pa, pb, band = [], [], []
        off = 0
        for g in groups:
            w = len(g)
            self.vidx[:, g] = off + np.arange(t)[:, None] * w + np.arange(w)[None, :]
            self.width[g] = w
            for i in range(w):
                for j in range(i, w):
                    pa.append(g[i])
                    pb.append(g[j])
                    band.append(kd + i - j)
            off += t * w
        self.pair_a, self.pair_b = np.array(pa, dtype=np.int64), np.array(pb, dtype=np.int64)
        self.pair_band = np.array(band, dtype=np.int64)
        size = t * n
        # Row of every band entry ab[k, j] (= H[j - kd + k, j]), clipped where it falls outside.
        self.band_rows = np.clip(np.arange(size)[None, :] - kd + np.arange(kd + 1)[:, None], 0, size - 1)
        self.t, self.n = t, n

    def smooth_bands(self, diags: np.ndarray, rest_weight: float) -> np.ndarray:
        """The band of the smoothness and rest terms (``diags``: :meth:`Objective.smooth_matrix`)."""
        t, kd, vidx = self.t, self.kd, self.vidx
        ab = np.zeros((kd + 1, t * self.n))
        ab[kd, vidx] = diags[0][:, None] + rest_weight
        for k in (1, 2):
            if k < t:
                ab[kd - k * self.width[None, :], vidx[k:]] = diags[k, : t - k, None]
        return ab


def _interp(q: np.ndarray, frames: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Joint values ``q [len(frames), n]`` linearly interpolated to the frames ``at``."""
    return np.stack([np.interp(at, frames, q[:, j]) for j in range(q.shape[1])], axis=1)


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` grown by ``radius`` entries on each side (1-D)."""
    out = mask.copy()
    for k in range(1, radius + 1):
        out[k:] |= mask[:-k]
        out[:-k] |= mask[k:]
    return out


def _sided_name(name: str, side: str) -> str:
    """The built-in name of robot ``name``'s ``side`` variant (``allegro`` <-> ``allegro_left``)."""
    base = name.removesuffix("_left")
    return f"{base}_left" if side == "left" else base


def retarget_sequence(keypoints: np.ndarray, robot: str | HandDescription = "allegro", fps: float = 30.0,
                      config: RetargetConfig | None = None) -> RetargetResult:
    """One-call retargeting (builds a :class:`SequenceRetargeter`)."""
    return SequenceRetargeter(robot, config).retarget(keypoints, fps)


__all__ = ["RetargetConfig", "RetargetResult", "SequenceRetargeter", "retarget_sequence"]
