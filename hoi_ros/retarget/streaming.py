"""Frame-by-frame (online) retargeting: one small bounded Levenberg-Marquardt solve per incoming frame.

For teleoperation the frames arrive one at a time and the answer is due before the next one, so
the whole-sequence solve of :mod:`.solver` does not apply. :class:`StreamingRetargeter` keeps state:

- the previous two solutions: the new frame's cost is the whole-sequence objective's frame terms
  (fingertips, bones, pinch, finger collisions, rest; :mod:`.objective`) plus the causal part of its
  smoothness, ``0.5 w_vel |q - q_1|^2 + 0.5 w_acc |q - 2 q_1 + q_2|^2`` (the newest rows of the
  sequence's ``D1'D1`` and ``D2'D2``), and the solve starts from ``q_1``. ``config/retarget/streaming.yaml``
  uses the velocity term only (a causal acceleration term pulls towards the linear extrapolation,
  which lags and overshoots: more error *and* more jitter on the real trajectory);
- the scale: ``config.scale``, or calibrated like the whole-sequence solve (robot chain / median
  human chain) over the first ``calibration_frames`` frames (the running median until then), then
  fixed; :meth:`StreamingRetargeter.calibrate` fixes it from a clip beforehand;
- the collision model: the finger-pair distances and their joint gradients at the previous
  solution (the pairs within the penalty's reach plus ``SLACK``). Within a
  frame the distances are linearised there (``d(q) = d_1 + G (q - q_1)``, exact softplus on top), so
  a trial point costs forward kinematics and the keypoint rows only; the exact distances are
  computed once per frame, at the solution, where they serve the report, the check below and the
  next frame's model.

Each frame is one dense ``n x n`` Gauss-Newton system (exact ``J'J``) with Levenberg-Marquardt
damping (Nielsen's update, Madsen, Nielsen & Tingleff 2004, §3.2), solved by Cholesky, and
projected Newton at the joint limits; the damping carries over between frames. A frame that still
penetrates beyond ``collision_tolerance`` is re-linearised where it ended and iterated on (twice at
most) and, failing that, moved along the straight path in joint space towards the previous
(collision-free) solution to the first collision-free point (:func:`hoi_ros.retarget.repair.backoff`),
so no streamed frame penetrates. The first frame settles the handedness
(:meth:`SequenceRetargeter.prepare_side`) and starts from the best of ``config.seeds``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.linalg.lapack import dpotrf as _potrf
from scipy.linalg.lapack import dpotrs as _potrs

from hoi_ros.retarget.config import RetargetConfig
from hoi_ros.retarget.description import HandDescription
from hoi_ros.retarget.handedness import mirror_keypoints
from hoi_ros.retarget.human import chain_length, to_palm_frame, validate_keypoints
from hoi_ros.retarget.kinematics import FKResult
from hoi_ros.retarget.objective import _SOFT_RANGE, Problem, _huber_scale
from hoi_ros.retarget.repair import backoff
from hoi_ros.retarget.solver import RetargetResult, SequenceRetargeter

SLACK = 0.005  # metres: pairs this much beyond the penalty's reach are kept in a frame's collision model


@dataclass
class _Contact:
    """Finger-pair distances at one pose and their joint gradients: a frame's collision model."""

    q: np.ndarray  # [n] the pose
    fk: FKResult
    near: np.ndarray  # [C'] pair indices (into Objective.pairs) within reach + SLACK
    dist: np.ndarray  # [C'] exact surface distances at q
    grad: np.ndarray  # [C', n] d dist / d q at q (zeros without the collision term)
    gap: float  # the smallest distance of the other pairs (inf if none)

    @property
    def min_distance(self) -> float:
        return min(float(self.dist.min()), self.gap) if len(self.dist) else self.gap


@dataclass
class StreamFrame:
    """The result of one streamed frame."""

    qpos: np.ndarray  # [n] actuated joints, radians
    full_qpos: np.ndarray  # [R] every revolute joint
    wrist_pose: np.ndarray  # [4, 4] palm frame -> input frame
    fingertip_error: np.ndarray  # [F] metres
    min_distance: float  # smallest finger-finger capsule distance (negative = penetration)
    collision: bool
    scale: float
    iterations: int
    warnings: list[str] = field(default_factory=list)


class StreamingRetargeter:
    """Per-frame retargeting with state (see the module docstring).

    ``robot``/``config`` as :class:`SequenceRetargeter`; ``max_iters`` Gauss-Newton iterations per
    frame at most (a frame stops earlier when its joints move less than ``step_tol`` radians or its
    cost falls by less than ``config.tolerance`` relatively). 3 bounds the latency: on the real
    trajectory with the Allegro-like hand, 6 gave 6.21 instead of 6.26 mm fingertip error without the
    collision term (7.87 instead of 8.05 mm with it) for a p95 latency about 0.3 ms higher; 2 gives
    6.39 and 8.27 mm.
    """

    def __init__(self, robot: HandDescription | str | None = None, config: RetargetConfig | None = None,
                 calibration_frames: int = 30, max_iters: int = 3, step_tol: float = 2e-3) -> None:
        if calibration_frames < 1 or max_iters < 1:
            raise ValueError("calibration_frames and max_iters must be positive")
        self.seq = SequenceRetargeter(robot, config)
        self.config, self.kin, self.objective = self.seq.config, self.seq.kin, self.seq.objective
        self.desc = self.seq.desc
        self.joint_names = list(self.kin.joint_names)
        self.full_joint_names = list(self.kin.full_joint_names)
        self.tip_links = list(self.seq.tip_links)
        self.calibration_frames, self.max_iters, self.step_tol = int(calibration_frames), int(max_iters), step_tol
        obj = self.objective
        self._reach = self.config.collision_margin + _SOFT_RANGE * self.config.collision_softness
        self._ones, self._zeros = np.ones((1, len(obj.pos_kp))), np.zeros((1, len(obj.pos_kp)))
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the previous frames (and an automatically calibrated scale)."""
        self._q1: np.ndarray | None = None
        self._q2: np.ndarray | None = None
        self._chains: list[float] = []
        self._scale: float | None = self.config.scale
        self._lam = 1e-3
        self._mirror: bool | None = None
        self._contact_prev: _Contact | None = None  # the collision model at the previous solution
        self.frames = 0

    @property
    def scale(self) -> float | None:
        """The scale in use (``None`` before the first frame when it is calibrated)."""
        return self._scale

    @property
    def calibrated(self) -> bool:
        """Whether the scale is fixed (given, or its calibration window is complete)."""
        return self.config.scale is not None or len(self._chains) >= self.calibration_frames

    def calibrate(self, keypoints: np.ndarray) -> float:
        """Fix the scale from a clip of ``[T, 21, 3]`` keypoints now (instead of the first frames)."""
        human, _, _ = self.seq.prepare_side(validate_keypoints(keypoints, self.config.hand))
        local = self._local(human)[0]
        scale, _ = self.seq.calibrate_scale(local)
        self._scale = scale
        self._chains = [0.0] * self.calibration_frames  # the window counts as complete
        return scale

    def _local(self, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return to_palm_frame(keypoints, self.seq.human_side)  # the robot's side (mirrored if need be)

    def _update_scale(self, local: np.ndarray) -> None:
        if self.calibrated:
            return
        idx, robot_len = self.seq.robot_chain
        self._chains.append(float(chain_length(local[0, idx])))
        human = float(np.median(self._chains))
        self._scale = robot_len / human if human > 1e-6 else 1.0

    # ------------------------------------------------------------------ per frame
    def step(self, keypoints: np.ndarray, in_palm_frame: bool = False) -> StreamFrame:
        """Retarget one frame of ``[21, 3]`` (or ``[42, 3]``: right hand, then left) keypoints.

        ``in_palm_frame``: the keypoints are already in the robot's palm frame (as for
        :meth:`SequenceRetargeter.retarget`); no handedness check, ``wrist_pose`` the identity.

        No BLAS thread limit here (the whole-sequence solve sets one): every product of a frame is far
        below OpenBLAS's threading threshold (``m n k`` < 262144 for gemm; here at most about 2.5e4),
        and setting and restoring the limit cost about 60 microseconds per call (measured p50 0.71 ->
        0.65 ms, Allegro-like hand, real trajectory)."""
        return self._step(keypoints, in_palm_frame)

    def _step(self, keypoints: np.ndarray, in_palm_frame: bool = False) -> StreamFrame:
        kp = np.asarray(keypoints, np.float64)
        if kp.ndim != 2 or kp.shape[-1] != 3 or kp.shape[0] not in (21, 42):
            raise ValueError(f"keypoints: expected [21 or 42, 3], got shape {kp.shape}")
        if kp.shape[0] == 42:
            kp = kp[21:] if self.config.hand == "left" else kp[:21]
        if not np.isfinite(kp).all():
            raise ValueError("keypoints: the frame contains NaN or Inf")
        warnings: list[str] = []
        if in_palm_frame:
            local, wrist = kp[None], np.eye(4)[None]
        else:
            if self._mirror is None:  # the first frame settles the handedness (SequenceRetargeter.prepare_side)
                human, self._mirror, warnings = self.seq.prepare_side(kp[None])
            else:
                human = mirror_keypoints(kp[None]) if self._mirror else kp[None]
            local, wrist = self._local(human)
        self._update_scale(local)
        scale = float(self._scale)  # type: ignore[arg-type]
        prob = self.objective.problem(local, scale, smooth=False)
        q0 = self._q1 if self._q1 is not None else self._first_guess(prob)
        contact = self._contact_prev if self._q1 is not None else self._contact(q0)
        q, iters, data = self._solve(prob, q0, contact)
        contact = self._contact(q, data[0])
        tol = self.config.collision_tolerance
        if self.objective.use_collision and contact.min_distance < -tol:
            # Still penetrating: re-linearise the distances where the frame ended and iterate on.
            for _ in range(2):
                q, more, data = self._solve(prob, q, contact, fk=contact.fk)
                iters += more
                contact = self._contact(q, data[0])
                if contact.min_distance >= -tol:
                    break
            if contact.min_distance < -tol:
                free = self._q1 if self._q1 is not None else self.seq.free_pose
                q = backoff(self.kin, self.objective.all_pairs, q[None], free[None], tol)[0]
                contact = self._contact(q)
        self._q2, self._q1, self._contact_prev = self._q1, q, contact
        self.frames += 1
        tips = contact.fk.pos[0, self.objective.tip_ids]
        err = np.linalg.norm(tips - local[0, self.objective.tip_human] * scale, axis=-1)
        dist = contact.min_distance
        return StreamFrame(q, self.kin.full(q), wrist[0], err, dist, dist < -tol, scale, iters, warnings)

    # ------------------------------------------------------------------ the collision model
    def _contact(self, q: np.ndarray, fk: FKResult | None = None) -> _Contact:
        """Exact finger-pair distances at ``q`` and, with the collision term on, the joint gradients of
        the pairs within the penalty's reach plus ``SLACK``: the collision model of the next solve."""
        fk = self.kin.forward(q[None]) if fk is None else fk
        n, pairs = self.kin.num_joints, self.objective.pairs
        if not len(pairs):
            return _Contact(q, fk, np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros((0, n)), float("inf"))
        dist, ca, cb = pairs.distances(fk)
        dist = dist[0]
        near = np.flatnonzero(dist <= self._reach + SLACK)
        far = float(np.delete(dist, near).min()) if len(near) < len(dist) else float("inf")
        if self.objective.use_collision and len(near):
            grad = self.objective.distance_rows(ca[:, near], cb[:, near], fk.axes, fk.origins, near)[0]
        else:
            grad = np.zeros((len(near), n))
        return _Contact(q, fk, near, dist[near], grad, far)

    # ------------------------------------------------------------------ the solve
    def _evaluate(self, q: np.ndarray, prob: Problem, contact: _Contact,
                  fk: FKResult | None = None) -> tuple[float, np.ndarray, tuple]:
        """(residual cost ``0.5 |r|^2``, residuals ``[m]``, what :meth:`_jacobian` needs) at ``q [n]``;
        the collision rows from ``contact``'s distances linearised at its pose."""
        obj, cfg = self.objective, self.config
        fk = self.kin.forward(q[None]) if fk is None else fk
        pk = fk.pos[:, obj.kp_links]
        err = pk[:, obj.pos_kp] - prob.targets
        dist = np.sqrt((err * err).sum(-1))
        if cfg.huber_delta > 0 and dist.max() > cfg.huber_delta:
            hscale, dscale = _huber_scale(dist, cfg.huber_delta)
        else:  # every keypoint within the quadratic zone (the usual case): scale 1, no curvature term
            hscale, dscale = self._ones, self._zeros
        lin = np.matmul(obj.lin_w, pk) - prob.lin_target
        lin[:, : obj.n_pos] *= hscale[..., None]
        if obj.n_pinch:
            lin[:, obj.n_pos + obj.n_bone:] *= prob.pinch_sw[..., None]
        r = lin.reshape(-1)
        x = None
        if obj.use_collision and len(contact.near):
            dist = contact.dist + contact.grad @ (q - contact.q)
            x = (cfg.collision_margin - dist) / cfg.collision_softness
            r = np.concatenate([r, obj.coll_sw * cfg.collision_softness * np.logaddexp(0.0, x)])
        return 0.5 * float(r @ r), r, (fk, pk, err, hscale, dscale, x)

    def _jacobian(self, prob: Problem, data: tuple, contact: _Contact) -> np.ndarray:
        """Jacobian ``[m, n]`` of :meth:`_evaluate`'s residuals."""
        obj, kin = self.objective, self.kin
        fk, pk, err, hscale, dscale, x = data
        n, nk = kin.num_joints, len(obj.kp_links)
        jkp = kin.point_jacobian(fk, obj.kp_links, pk)  # [1, K, 3, n]
        lin = np.matmul(obj.lin_w, jkp.reshape(1, nk, 3 * n)).reshape(1, -1, 3, n)
        jr = lin[:, : obj.n_pos]
        jr *= hscale[..., None, None]
        ft, fk_idx = np.nonzero(dscale)
        if len(ft):
            e = err[ft, fk_idx]
            ej = np.einsum("fc,fcn->fn", e, jkp[ft, obj.pos_kp[fk_idx]])
            jr[ft, fk_idx] += (dscale[ft, fk_idx, None] * obj.kp_sw[0, fk_idx] * e)[..., None] * ej[:, None, :]
        if obj.n_pinch:
            lin[:, obj.n_pos + obj.n_bone:] *= prob.pinch_sw[..., None, None]
        jac = lin.reshape(-1, n)
        if x is None:
            return jac
        return np.concatenate([jac, contact.grad * -obj.collision_slope(x)[:, None]], axis=0)

    def _quadratic(self, q: np.ndarray) -> tuple[float, np.ndarray, float]:
        """(cost, gradient, Hessian diagonal) of the causal smoothness and rest terms at ``q``."""
        cfg = self.config
        d = q - self.seq.rest
        cost, grad, hess = 0.5 * cfg.rest_weight * float(d @ d), cfg.rest_weight * d, cfg.rest_weight
        if self._q1 is not None and cfg.vel_weight:
            v = q - self._q1
            cost += 0.5 * cfg.vel_weight * float(v @ v)
            grad = grad + cfg.vel_weight * v
            hess += cfg.vel_weight
        if self._q2 is not None and cfg.acc_weight:
            a = q - 2.0 * self._q1 + self._q2  # type: ignore[operator]
            cost += 0.5 * cfg.acc_weight * float(a @ a)
            grad = grad + cfg.acc_weight * a
            hess += cfg.acc_weight
        return cost, grad, hess

    def _solve(self, prob: Problem, q: np.ndarray, contact: _Contact, iters: int | None = None,
               fk: FKResult | None = None) -> tuple[np.ndarray, int, tuple]:
        """Bounded Levenberg-Marquardt on one frame from ``q`` (``fk``: its kinematics, if known);
        returns (q, iterations, :meth:`_evaluate`'s data at q)."""
        kin, cfg = self.kin, self.config
        if fk is None and contact.q is q:
            fk = contact.fk
        iters = iters or self.max_iters
        f, r, data = self._evaluate(q, prob, contact, fk)
        qc, qg, qh = self._quadratic(q)
        cost = f + qc
        lam, nu = self._lam, 2.0
        n = kin.num_joints
        lower, upper = kin.lower + 1e-9, kin.upper - 1e-9
        it = 0
        for it in range(1, iters + 1):  # noqa: B007
            jac = self._jacobian(prob, data, contact)
            jt = jac.T
            g = jt @ r + qg
            h = jt @ jac
            hd = h.reshape(-1)[:: n + 1]  # a view of the diagonal
            hd += qh
            held = ((q <= lower) & (g > 0)) | ((q >= upper) & (g < 0))
            if held.any():
                h[held, :] = 0.0
                h[:, held] = 0.0
                hd[held] = 1.0
                g = np.where(held, 0.0, g)
            diag = hd.copy()
            accepted = False
            for _ in range(8):
                hd[:] = diag * (1.0 + lam) + 1e-12
                chol, info = _potrf(h, lower=False, clean=False, overwrite_a=False)
                if info:  # not positive definite (cannot happen with lam > 0 unless rounding): damp more
                    lam, nu = min(lam * nu, 1e8), nu * 2.0
                    continue
                q_new = np.minimum(np.maximum(q - _potrs(chol, g, lower=False)[0], kin.lower), kin.upper)
                f_new, r_new, data_new = self._evaluate(q_new, prob, contact)
                qc_new, qg_new, qh = self._quadratic(q_new)
                cost_new = f_new + qc_new
                if cost_new < cost:
                    d = q_new - q
                    jd = jac @ d
                    predicted = -float(g @ d) - 0.5 * float(jd @ jd) - 0.5 * qh * float(d @ d)
                    rho = (cost - cost_new) / max(predicted, 1e-300)
                    lam = max(lam * max(1.0 / 3.0, 1.0 - (2.0 * min(max(rho, 0.0), 1.0) - 1.0) ** 3), 1e-9)
                    nu = 2.0
                    accepted = True
                    break
                lam, nu = min(lam * nu, 1e8), nu * 2.0
            if not accepted:
                break
            rel = (cost - cost_new) / max(cost, 1e-30)
            moved = float(np.abs(q_new - q).max())
            q, r, data, cost, qg = q_new, r_new, data_new, cost_new, qg_new
            if moved < self.step_tol or rel < cfg.tolerance:
                break
        self._lam = min(max(lam, 1e-6), 1.0)
        return q, it, data

    def _first_guess(self, prob: Problem) -> np.ndarray:
        """The first frame's start: the best of the seed poses (``config.seeds``) after
        ``config.seed_iters`` iterations each, the collision model re-linearised halfway."""
        kin, best, best_f = self.kin, None, np.inf
        half = max(1, self.config.seed_iters // 2)
        for s in self.config.seeds:
            q = kin.lower + s * (kin.upper - kin.lower)
            for _ in range(2):
                contact = self._contact(q)
                q, _, _ = self._solve(prob, q, contact, iters=half)
            f = self._evaluate(q, prob, self._contact(q))[0]
            if f < best_f:
                best, best_f = q, f
        return best  # type: ignore[return-value]

    # ------------------------------------------------------------------ whole clips
    def run(self, keypoints: np.ndarray, fps: float = 30.0, in_palm_frame: bool = False) -> RetargetResult:
        """Stream every frame of ``[T, 21 or 42, 3]`` keypoints (state kept) into one result."""
        frames = [self.step(frame, in_palm_frame) for frame in np.asarray(keypoints)]
        q = np.array([f.qpos for f in frames])
        warnings = sorted({w for f in frames for w in f.warnings})
        return RetargetResult(
            robot=self.desc.name, joint_names=self.joint_names, qpos=q, full_joint_names=self.full_joint_names,
            full_qpos=self.kin.full(q), fps=float(fps), scale=float(frames[-1].scale),
            wrist_pose=np.array([f.wrist_pose for f in frames]), fingertip_links=self.tip_links,
            fingertip_error=np.array([f.fingertip_error for f in frames]),
            collision=np.array([f.collision for f in frames]), min_distance=np.array([f.min_distance for f in frames]),
            iterations=int(sum(f.iterations for f in frames)), cost=float("nan"), warnings=warnings)


__all__ = ["StreamFrame", "StreamingRetargeter"]
